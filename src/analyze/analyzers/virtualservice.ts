/**
 * VirtualService analyzers (Istio's pkg/config/analysis/analyzers/virtualservice): destination
 * hosts and ports (IST0101, IST0112), subsets against DestinationRules (IST0101), gateways and
 * their hosts (IST0101, IST0132), and hosts claimed twice on the mesh gateway (IST0109).
 */
import { register } from '../analyzer.js';
import { EXPORT_ALL, EXPORT_LOCAL, hostMatches, namesForNamespace, scopedFqdn, serviceNameOfHost, splitScoped } from '../hosts.js';
import { MSG, fullName, message } from '../messages.js';
import type { ConfigResource } from '../../config/resource.js';
import { arr, num, obj, str, strings } from '../values.js';

/** One destination of a route or mirror, with the path of its `host` field. */
interface RouteDestination {
  host: string;
  subset: string;
  port: number | undefined;
  hostPath: (string | number)[];
  mirror: boolean;
}

/** Route destinations (tcp, tls, then http, as Istio lists them) and then http mirrors. */
export function destinationsOf(vs: ConfigResource): { routes: RouteDestination[]; mirrors: RouteDestination[] } {
  const routes: RouteDestination[] = [];
  for (const rule of ['tcp', 'tls', 'http'] as const) {
    arr(vs.spec[rule]).forEach((r, i) => {
      arr(obj(r).route).forEach((rd, j) => {
        const d = obj(obj(rd).destination);
        routes.push({ host: str(d.host), subset: str(d.subset), port: portOf(d), hostPath: ['spec', rule, i, 'route', j, 'destination', 'host'], mirror: false });
      });
    });
  }
  const mirrors: RouteDestination[] = [];
  arr(vs.spec.http).forEach((r, i) => {
    const m = obj(r).mirror;
    if (m && typeof m === 'object') {
      const d = obj(m);
      mirrors.push({ host: str(d.host), subset: str(d.subset), port: portOf(d), hostPath: ['spec', 'http', i, 'mirror', 'host'], mirror: true });
    }
    arr(obj(r).mirrors).forEach((mp, j) => {
      const d = obj(obj(mp).destination);
      mirrors.push({ host: str(d.host), subset: str(d.subset), port: portOf(d), hostPath: ['spec', 'http', i, 'mirrors', j, 'destination', 'host'], mirror: true });
    });
  });
  return { routes, mirrors };
}

function portOf(d: Record<string, unknown>): number | undefined {
  const p = d.port;
  return p && typeof p === 'object' ? num(obj(p).number) : undefined;
}

register({
  name: 'virtualservice.DestinationHostAnalyzer',
  description: 'Checks the destination hosts associated with each virtual service',
  inputs: ['ServiceEntry', 'VirtualService', 'Service'],
  emits: [MSG.ReferencedResourceNotFound, MSG.VirtualServiceDestinationPortSelectorRequired, MSG.IngressRouteRulesNotAffected],
  needs: { services: true },
  analyze({ snapshot, report }) {
    // Mesh VirtualServices that split their own host by subset: a gateway route to that host skips them.
    const subsetRoutes = new Map<string, string[]>();
    for (const vs of snapshot.of('VirtualService')) {
      const hosts = strings(vs.spec.hosts);
      for (const h of arr(vs.spec.http)) {
        for (const rd of arr(obj(h).route)) {
          const d = obj(obj(rd).destination);
          if (str(d.subset) !== '' && hosts.includes(str(d.host))) {
            const id = fullName(vs);
            if (!subsetRoutes.has(id)) subsetRoutes.set(id, []);
            subsetRoutes.get(id)!.push(str(d.host));
          }
        }
      }
    }
    for (const vs of snapshot.of('VirtualService')) {
      if (strings(vs.spec.gateways).length > 0) {
        arr(vs.spec.http).forEach((h, i) => {
          arr(obj(h).route).forEach((rd, j) => {
            const d = obj(obj(rd).destination);
            if (str(d.subset) !== '') return;
            for (const [other, hosts] of subsetRoutes) {
              for (const host of hosts) {
                if (host === str(d.host)) {
                  report(message(MSG.IngressRouteRulesNotAffected, vs, [other, fullName(vs)], ['spec', 'http', i, 'route', j, 'destination', 'host']));
                }
              }
            }
          });
        });
      }
      const exportTo = strings(vs.spec.exportTo);
      const { routes, mirrors } = destinationsOf(vs);
      for (const d of [...routes, ...mirrors]) {
        const svc = snapshot.destinationHost(vs.namespace, exportTo, d.host);
        if (!svc) {
          report(message(MSG.ReferencedResourceNotFound, vs, [d.mirror ? 'mirror host' : 'host', d.host], d.hostPath));
          continue;
        }
        if (d.port === undefined) {
          if (svc.ports.length > 1) {
            report(message(MSG.VirtualServiceDestinationPortSelectorRequired, vs, [d.host, svc.ports.map((p) => p.number)], d.hostPath));
          }
        } else if (!svc.ports.some((p) => p.number === d.port)) {
          report(message(MSG.ReferencedResourceNotFound, vs, ['host:port', `${d.host}:${d.port}`], d.hostPath));
        }
      }
    }
  },
});

register({
  name: 'virtualservice.DestinationRuleAnalyzer',
  description: 'Checks the destination rules associated with each virtual service',
  inputs: ['VirtualService', 'DestinationRule'],
  emits: [MSG.ReferencedResourceNotFound],
  analyze({ snapshot, report }) {
    const known = new Set<string>();
    for (const dr of snapshot.of('DestinationRule')) {
      const h = serviceNameOfHost(dr.namespace, str(dr.spec.host));
      for (const ss of arr(dr.spec.subsets)) known.add(`${h.namespace}/${h.name}+${str(obj(ss).name)}`);
    }
    for (const vs of snapshot.of('VirtualService')) {
      const { routes, mirrors } = destinationsOf(vs);
      for (const d of [...routes, ...mirrors]) {
        if (d.subset === '') continue;
        const h = serviceNameOfHost(vs.namespace, d.host);
        if (known.has(`${h.namespace}/${h.name}+${d.subset}`)) continue;
        const what = d.mirror ? 'mirror+subset in destinationrule' : 'host+subset in destinationrule';
        report(message(MSG.ReferencedResourceNotFound, vs, [what, `${d.host}+${d.subset}`], d.hostPath));
      }
    }
  },
});

/** `name` or `ns/name` as a gateway reference from `ns`. */
function gatewayRef(vsNs: string, ref: string): { namespace: string; name: string } {
  const i = ref.indexOf('/');
  return i >= 0 ? { namespace: ref.slice(0, i), name: ref.slice(i + 1) } : { namespace: vsNs, name: ref };
}

register({
  name: 'virtualservice.GatewayAnalyzer',
  description: 'Checks the gateways associated with each virtual service',
  inputs: ['Gateway', 'KubernetesGateway', 'VirtualService'],
  emits: [MSG.ReferencedResourceNotFound, MSG.VirtualServiceHostNotFoundInGateway, MSG.ReferencedInternalGateway],
  analyze({ snapshot, report }) {
    for (const vs of snapshot.of('VirtualService')) {
      const vsHosts = strings(vs.spec.hosts);
      strings(vs.spec.gateways).forEach((ref, i) => {
        if (ref === 'mesh') return;
        const path = ['spec', 'gateways', i];
        // Gateways Istio generates from Gateway API ones are internal names, not a contract.
        if (ref.slice(ref.indexOf('/') + 1).includes('~istio-autogenerated-k8s-gateway~')) {
          report(message(MSG.ReferencedInternalGateway, vs, [fullName(vs), ref], path));
          return;
        }
        const gw = gatewayRef(vs.namespace, ref);
        const istioGw = snapshot.find('Gateway', gw.namespace, gw.name);
        const kubeGw = istioGw ? undefined : snapshot.find('KubernetesGateway', gw.namespace, gw.name);
        if (!istioGw && !kubeGw) report(message(MSG.ReferencedResourceNotFound, vs, ['gateway', ref], path));
        const ok = kubeGw ? hostInKubernetesGateway(kubeGw, vsHosts) : hostInGateway(istioGw, vsHosts, vs.namespace);
        if (!ok) {
          report(message(MSG.VirtualServiceHostNotFoundInGateway, vs, [vsHosts, fullName(vs), fullName(gw)], path));
        }
      });
    }
  },
});

function hostInGateway(gw: ConfigResource | undefined, vsHosts: string[], vsNs: string): boolean {
  if (!gw) return false;
  const hosts: string[] = [];
  for (const s of arr(gw.spec.servers)) {
    let sh = strings(obj(s).hosts).map((h) => {
      const i = h.indexOf('/');
      if (i < 0) return h;
      const ns = h.slice(0, i);
      if (ns === '.') return `${gw.namespace}/${h.slice(i + 1)}`;
      if (ns === '*') return h.slice(i + 1);
      return h;
    });
    if (strings(obj(s).hosts).some((h) => h === '*/*')) sh = ['*'];
    hosts.push(...sh);
  }
  for (const gh of namesForNamespace(hosts, vsNs)) for (const vh of vsHosts) if (hostMatches(gh, vh)) return true;
  return false;
}

function hostInKubernetesGateway(gw: ConfigResource, vsHosts: string[]): boolean {
  const hosts: string[] = [];
  for (const l of arr(gw.spec.listeners)) {
    const h = str(obj(l).hostname);
    if (h === '') return true;
    hosts.push(h);
  }
  for (const gh of hosts) for (const vh of vsHosts) if (hostMatches(gh, vh)) return true;
  return false;
}

register({
  name: 'virtualservice.ConflictingMeshGatewayHostsAnalyzer',
  description: 'Checks if multiple virtual services associated with the mesh gateway have conflicting hosts',
  inputs: ['VirtualService'],
  emits: [MSG.ConflictingMeshGatewayVirtualServiceHosts],
  analyze({ snapshot, report }) {
    const byHost = new Map<string, ConfigResource[]>();
    for (const vs of snapshot.of('VirtualService')) {
      const gws = strings(vs.spec.gateways);
      if (gws.length > 0 && !gws.includes('mesh')) continue;
      const exportTo = strings(vs.spec.exportTo);
      const scopes = exportTo.length === 0 || exportTo.includes(EXPORT_ALL)
        ? [EXPORT_ALL]
        : [...new Set(exportTo.map((e) => (e === EXPORT_LOCAL ? vs.namespace : e)))];
      for (const scope of scopes) {
        for (const h of strings(vs.spec.hosts)) {
          const key = scopedFqdn(scope, vs.namespace, h);
          if (!byHost.has(key)) byHost.set(key, []);
          byHost.get(key)!.push(vs);
        }
      }
    }
    const reported = new Set<string>();
    for (const [key, list0] of byHost) {
      const { scope, fqdn } = splitScoped(key);
      let list = list0;
      if (scope !== EXPORT_ALL) {
        // A namespace-scoped host also meets every host exported to all namespaces that it matches.
        for (const [k2, l2] of byHost) {
          const o = splitScoped(k2);
          if (o.scope === EXPORT_ALL && hostMatches(fqdn, o.fqdn)) list = [...list, ...l2];
        }
      }
      if (list.length < 2) continue;
      const names = list.map((r) => fullName(r)).sort().join(',');
      for (const vs of list) {
        const id = fullName(vs);
        if (reported.has(id)) continue;
        reported.add(id);
        report(message(MSG.ConflictingMeshGatewayVirtualServiceHosts, vs, [names, key], ['metadata', 'name']));
      }
    }
  },
});
