/**
 * Rules shared by several kinds: `exportTo` visibility lists, policy `targetRef(s)` (what a policy
 * may attach to, and that it is either a selector or target references, never both), and the
 * metadata checks istiod applies to every kind (the `istio.io/dry-run` annotation, annotations
 * reserved for istiod itself).
 */
import type { ConfigResource } from '../../config/resource.js';
import { isDNS1123Label } from './hosts.js';
import { at, has, isObj, list, str, type Report } from './report.js';

/**
 * `exportTo: [".", "*", "<namespace>"]` (and `~` for ServiceEntry: visible to no one). A
 * DestinationRule with a workload selector may only be exported to its own namespace.
 */
export function validateExportTo(rep: Report, path: string, namespace: string, exportTo: unknown, isServiceEntry: boolean, isDRWithSelector: boolean): void {
  const values = list<unknown>(exportTo).map(str);
  if (values.length === 0) return;
  const seen = new Set<string>();
  const firstSpelling = new Map<string, string>();
  values.forEach((e, i) => {
    const key = e === '.' ? namespace : e;
    const p = at(path, i);
    if (seen.has(key)) {
      // Istio words it by the order of the two; either order means the same mistake.
      const viaDot = e !== firstSpelling.get(key) && (e === '.' || firstSpelling.get(key) === '.');
      rep.error(p, viaDot ? `duplicate entries in exportTo: . and current namespace ${namespace}` : `duplicate entries in exportTo for entry ${e}`);
      return;
    }
    firstSpelling.set(key, e);
    if (isServiceEntry && e === '~') {
      seen.add(key);
      return;
    }
    if (key === '*' || key === namespace || isDNS1123Label(key)) seen.add(key);
    else if (key === '~') rep.error(p, 'exportTo ~ (none) is not allowed for Istio configuration objects');
    else rep.error(p, 'only .,*, or a valid DNS 1123 label is allowed as exportTo entry');
  });
  if (isDRWithSelector && seen.size > 0) {
    if (seen.has(namespace)) {
      if (seen.size > 1) rep.error(path, 'destination rule with workload selector cannot have multiple entries in exportTo');
    } else {
      rep.error(path, 'destination rule with workload selector cannot have exportTo beyond current namespace');
    }
  }
  if (seen.has('*') && values.length > 1) rep.error(path, 'cannot have both public (*) and non-public exportTo values for a resource');
  if (seen.has('~') && values.length > 1) rep.error(path, 'cannot export service entry to no one (~) and someone');
}

const ALLOWED_TARGET_REFS: [group: string, kind: string][] = [
  ['core', 'Service'],
  ['networking.istio.io', 'ServiceEntry'],
  ['gateway.networking.k8s.io', 'Gateway'],
  ['gateway.networking.k8s.io', 'GatewayClass'],
];
const ALLOWED_TEXT = '[/v1/Service networking.istio.io/v1/ServiceEntry gateway.networking.k8s.io/v1/Gateway gateway.networking.k8s.io/v1/GatewayClass]';

/** One `targetRef`: named, same namespace, and a kind a policy can attach to. */
export function validateTargetRef(rep: Report, path: string, ref: unknown): void {
  if (!isObj(ref)) return;
  if (str(ref.name) === '') rep.error(at(path, 'name'), 'targetRef name must be set');
  if (str(ref.namespace) !== '') rep.error(at(path, 'namespace'), 'targetRef namespace must not be set; cross namespace referencing is not supported');
  const group = str(ref.group) || 'core';
  const kind = str(ref.kind);
  if (!ALLOWED_TARGET_REFS.some(([g, k]) => g === group && k === kind)) {
    rep.error(at(path, 'kind'), `targetRef must be to one of ${ALLOWED_TEXT} but was ${str(ref.group)}/${kind}`);
  }
}

/** `selector`, `targetRef` and `targetRefs` are alternatives: at most one may be set. */
export function validatePolicyTargets(rep: Report, spec: Record<string, unknown>): void {
  let set = 0;
  if (has(spec.selector)) set++;
  if (has(spec.targetRef)) set++;
  if (list(spec.targetRefs).length > 0) set++;
  if (set > 1) rep.error('spec', 'only one of targetRefs or workloadSelector can be set');
  if (has(spec.targetRef)) validateTargetRef(rep, 'spec.targetRef', spec.targetRef);
  list(spec.targetRefs).forEach((r, i) => validateTargetRef(rep, at('spec.targetRefs', i), r));
}

const DRY_RUN = 'istio.io/dry-run';
const ALWAYS_REJECT = 'internal.istio.io/webhook-always-reject';
const INTERNAL_PARENT_NAMESPACE = 'internal.istio.io/parent-namespace';
const INTERNAL_PARENT_NAMES = 'internal.istio.io/parents';

/** Istio's validateMetadata, run before every kind's own rules. */
export function validateMetadata(rep: Report, r: ConfigResource): void {
  const ann = isObj(r.metadata.annotations) ? r.metadata.annotations : {};
  const p = (k: string) => at('metadata.annotations', k);
  if (Object.hasOwn(ann, DRY_RUN)) {
    if (r.kind !== 'AuthorizationPolicy') {
      rep.error(p(DRY_RUN), `${r.namespace}/${r.name} has unsupported annotation ${DRY_RUN}, please remove the annotation`);
    } else {
      const action = str(r.spec.action) || 'ALLOW';
      const val = String(ann[DRY_RUN]);
      if (action === 'ALLOW' || action === 'DENY') {
        if (!isGoBool(val)) rep.error(p(DRY_RUN), `${r.namespace}/${r.name} has annotation ${DRY_RUN} with invalid value (${val}): strconv.ParseBool: parsing "${val}": invalid syntax`);
      } else {
        rep.error(p(DRY_RUN), `the annotation ${DRY_RUN} currently only supports action ALLOW/DENY, found action ${action} in ${r.namespace}/${r.name}`);
      }
    }
  }
  if (Object.hasOwn(ann, ALWAYS_REJECT)) rep.error(p(ALWAYS_REJECT), `"${ALWAYS_REJECT}" annotation found, rejecting`);
  for (const k of [INTERNAL_PARENT_NAMESPACE, INTERNAL_PARENT_NAMES]) {
    if (Object.hasOwn(ann, k)) rep.error(p(k), `"${k}" annotation found, this may not be set by users`);
  }
}

/** Go's strconv.ParseBool. */
function isGoBool(v: string): boolean {
  return ['1', 't', 'T', 'TRUE', 'true', 'True', '0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v);
}
