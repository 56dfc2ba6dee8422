/**
 * What controllers and deprecations say about resources (Istio's analyzers/conditions and
 * analyzers/deprecation): negative status conditions written by istiod or a Gateway API
 * controller (IST0171), and deprecated fields and removed kinds (IST0002).
 */
import type { ConfigResource } from '../../config/resource.js';
import { register } from '../analyzer.js';
import { MSG, message } from '../messages.js';
import { arr, obj, str } from '../values.js';

/** Condition types that are bad news when False, per kind (HTTPRoute/GRPCRoute read their parents' conditions). */
const NEGATIVE: Record<string, string[]> = {
  Service: ['istio.io/WaypointBound'],
  ServiceEntry: ['istio.io/WaypointBound'],
  WorkloadEntry: ['istio.io/WaypointBound'],
  AuthorizationPolicy: ['ZtunnelAccepted', 'WaypointAccepted'],
  KubernetesGateway: ['Accepted', 'Programmed', 'ResolvedRefs'],
  HTTPRoute: ['Accepted', 'Programmed', 'ResolvedRefs'],
  GRPCRoute: ['Accepted', 'Programmed', 'ResolvedRefs'],
};

function conditions(kind: string, r: ConfigResource): Record<string, unknown>[] {
  const status = obj(r.raw.status);
  if (kind === 'HTTPRoute' || kind === 'GRPCRoute') return arr(status.parents).flatMap((p) => arr(obj(p).conditions)).map(obj);
  return arr(status.conditions).map(obj);
}

register({
  name: 'conditions.ConditionAnalyzer',
  description: 'Checks for negative status conditions on resources',
  inputs: Object.keys(NEGATIVE),
  emits: [MSG.NegativeConditionStatus],
  analyze({ snapshot, report }) {
    for (const [kind, types] of Object.entries(NEGATIVE)) {
      for (const r of snapshot.of(kind)) {
        for (const c of conditions(kind, r)) {
          const [type, reason, msg] = [str(c.type), str(c.reason), str(c.message)];
          const negative = types.includes(type) && str(c.status) === 'False';
          const partial = kind === 'AuthorizationPolicy' && type === 'WaypointAccepted' && reason === 'PartiallyInvalid';
          if (negative) report(message(MSG.NegativeConditionStatus, r, [type, reason, msg], ['status']));
          if (partial) report(message(MSG.NegativeConditionStatus, r, [type, reason, msg], ['status']));
        }
      }
    }
  },
});

const REMOVED_RBAC = new Set(['ClusterRbacConfig', 'RbacConfig', 'ServiceRole', 'ServiceRoleBinding']);

register({
  name: 'deprecation.DeprecationAnalyzer',
  description: 'Checks for deprecated Istio types and fields',
  inputs: ['VirtualService', 'Sidecar', 'CustomResourceDefinition'],
  emits: [MSG.Deprecated],
  analyze({ snapshot, report }) {
    for (const vs of snapshot.of('VirtualService')) {
      arr(vs.spec.http).forEach((h, i) => {
        const delay = obj(obj(obj(h).fault).delay);
        if (typeof delay.percent === 'number' && delay.percent > 0) {
          report(message(MSG.Deprecated, vs, ['HTTPRoute.fault.delay.percent is deprecated; use HTTPRoute.fault.delay.percentage'], ['spec', 'http', i, 'fault', 'delay', 'percent']));
        }
      });
    }
    for (const sc of snapshot.of('Sidecar')) {
      if (obj(sc.spec.outboundTrafficPolicy).egressProxy != null) {
        report(message(MSG.Deprecated, sc, ['OutboundTrafficPolicy.EgressProxy ignored'], ['spec', 'outboundTrafficPolicy', 'egressProxy']));
      }
    }
    for (const crd of snapshot.of('CustomResourceDefinition')) {
      const group = str(crd.spec.group);
      const kind = str(obj(crd.spec.names).kind);
      if (group === 'rbac.istio.io' && REMOVED_RBAC.has(kind)) report(message(MSG.Deprecated, crd, [`Custom resource type ${group} ${kind} is removed`]));
    }
  },
});
