/**
 * EDS: ClusterLoadAssignments for `outbound|port|subset|host` clusters (Istio: xds/endpoints).
 * Endpoints are those serving the cluster's service port, filtered by the subset's labels, grouped
 * by locality (weight = number of endpoints, as Istio does). Each carries Istio's metadata:
 * `envoy.transport_socket_match: {tlsMode}` (picks mTLS or plaintext in the cluster's
 * transport_socket_matches) and `istio.workload`. With locality load balancing on and outlier
 * detection configured, localities get priorities by nearness to the proxy (Istio's failover).
 */
import type { Proxy } from '../../model/proxy.js';
import type { PushContext } from '../../model/push-context.js';
import { parseClusterName } from '../../model/naming.js';
import { selectorMatches, type Endpoint, type Locality } from '../../model/service.js';
import type { EnvoyJson } from '../codec.js';
import { TypeUrl } from '../resource-types.js';
import { outboundClusters, type OutboundCluster } from './scope.js';
import { effectivePolicy } from './traffic-policy.js';

export function generateEndpoints(proxy: Proxy, push: PushContext, names?: string[]): EnvoyJson[] {
  const wanted = names?.length ? new Set(names) : undefined;
  const out: EnvoyJson[] = [];
  const all = outboundClusters(proxy, push).filter((oc) => oc.service.resolution === 'ClientSideLB');
  for (const oc of all) {
    if (wanted && !wanted.has(oc.name)) continue;
    out.push(cachedLoadAssignment(proxy, push, oc));
  }
  if (wanted) {
    // A name the proxy asked for that is not (or no longer) in its scope: answer empty, so Envoy
    // does not wait on it (Istio does the same for removed clusters).
    const have = new Set(out.map((c) => c.cluster_name));
    for (const n of wanted) if (!have.has(n) && parseClusterName(n)) out.push({ '@type': TypeUrl.ClusterLoadAssignment, cluster_name: n, endpoints: [] });
  }
  return out;
}

const localityKey = (l: Locality | undefined) => (l ? `${l.region ?? ''}/${l.zone ?? ''}/${l.subZone ?? ''}` : '');

/**
 * ClusterLoadAssignments, cached per push context (Istio's XdsCache keys EDS by cluster name, the
 * service, its DestinationRule and the proxy's locality). One depends on the proxy only through
 * its locality (failover priorities, `distribute` weights) and the DestinationRule it sees; the
 * rest is the push context's. Every proxy of a push in the same locality shares one object: built
 * and encoded once. An endpoint change builds a new push context, so nothing goes stale. The
 * objects are shared: never modify a returned assignment.
 */
const claCache = new WeakMap<PushContext, Map<string, { oc: OutboundCluster; cla: EnvoyJson }>>();

function cachedLoadAssignment(proxy: Proxy, push: PushContext, oc: OutboundCluster): EnvoyJson {
  let byKey = claCache.get(push);
  if (!byKey) {
    byKey = new Map();
    claCache.set(push, byKey);
  }
  const key = `${proxy.locality ? localityKey(proxy.locality) : '-'}\0${oc.name}`;
  const hit = byKey.get(key);
  if (hit && hit.oc.service === oc.service && hit.oc.port === oc.port && hit.oc.subset === oc.subset && hit.oc.dr === oc.dr) return hit.cla;
  const cla: EnvoyJson = { '@type': TypeUrl.ClusterLoadAssignment, cluster_name: oc.name, endpoints: localityLbEndpoints(proxy, push, oc) };
  byKey.set(key, { oc, cla });
  return cla;
}

/** The LocalityLbEndpoints of one outbound cluster. */
export function localityLbEndpoints(proxy: Proxy, push: PushContext, oc: OutboundCluster): EnvoyJson[] {
  const labels = oc.subset?.labels;
  const eps = push.endpoints(oc.service).filter((e) => e.servicePort === oc.port.port && (!labels || selectorMatches(labels, e.labels)));
  const groups = new Map<string, Endpoint[]>();
  for (const e of eps) {
    const k = localityKey(e.locality);
    const g = groups.get(k);
    if (g) g.push(e);
    else groups.set(k, [e]);
  }
  const out: EnvoyJson[] = [];
  for (const [, list] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const loc = list[0].locality;
    const g: Record<string, unknown> = {};
    if (loc) g.locality = compactLocality(loc);
    g.lb_endpoints = list.map((e) => lbEndpoint(e, oc, push));
    g.load_balancing_weight = Math.max(1, list.reduce((n, e) => n + (e.weight ?? 1), 0));
    out.push(g as EnvoyJson);
  }
  return applyLocalityLb(proxy, push, oc, out, [...groups.keys()].sort().map((k) => groups.get(k)![0].locality));
}

/**
 * Istio's locality load balancing (loadbalancer.go): `distribute` re-weights localities for a
 * proxy in a matching `from` locality (dropping those no `to` names); otherwise, with outlier
 * detection on, localities get failover priorities by nearness (region, zone, subzone), `failover`
 * rules pushing regions other than the named target one step further, priorities renumbered to
 * be contiguous as Envoy requires.
 */
function applyLocalityLb(proxy: Proxy, push: PushContext, oc: OutboundCluster, groups: EnvoyJson[], localities: (Locality | undefined)[]): EnvoyJson[] {
  const policy = effectivePolicy(oc.dr?.spec.trafficPolicy, oc.subset?.trafficPolicy, oc.port.port);
  const setting = policy.loadBalancer?.localityLbSetting ?? push.mesh.localityLbSetting;
  const me = proxy.locality;
  if (!setting || setting.enabled === false || !me || groups.length === 0) return groups;
  if (setting.distribute?.length) {
    const rule = setting.distribute.find((d) => localityMatches(me, d.from));
    if (!rule) return groups;
    const unmatched = new Set(groups.map((_, i) => i));
    for (const [pattern, weight] of Object.entries(rule.to ?? {})) {
      const hits = [...unmatched].filter((i) => localityMatches(localities[i], pattern));
      const total = hits.reduce((n, i) => n + Number(groups[i].load_balancing_weight ?? 1), 0);
      for (const i of hits) {
        unmatched.delete(i);
        const w = Math.ceil((Number(groups[i].load_balancing_weight ?? 1) * weight) / total);
        if (w > 0) (groups[i] as Record<string, unknown>).load_balancing_weight = w;
      }
    }
    return groups.filter((_, i) => !unmatched.has(i));
  }
  if (!policy.outlierDetection) return groups;
  const prios = localities.map((l) => {
    let p = priorityOf(me, l);
    if (p === 3) {
      const f = setting.failover?.find((x) => x.from === me.region);
      if (f && l?.region !== f.to) p = 4;
    }
    return p;
  });
  const order = [...new Set(prios)].sort((a, b) => a - b);
  groups.forEach((g, i) => {
    const p = order.indexOf(prios[i]);
    if (p > 0) (g as Record<string, unknown>).priority = p;
  });
  return groups;
}

/** `region/zone/subzone` patterns with `*` for any part (Istio's LocalityMatch). */
function localityMatches(l: Locality | undefined, pattern: string | undefined): boolean {
  if (!pattern || pattern === '*') return true;
  const parts = pattern.split('/');
  const have = [l?.region ?? '', l?.zone ?? '', l?.subZone ?? ''];
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] === '*') return true;
    if (parts[i] !== have[i]) return false;
  }
  return true;
}

function compactLocality(l: Locality): EnvoyJson {
  const o: Record<string, string> = {};
  if (l.region) o.region = l.region;
  if (l.zone) o.zone = l.zone;
  if (l.subZone) o.sub_zone = l.subZone;
  return o;
}

function lbEndpoint(e: Endpoint, oc: OutboundCluster, push: PushContext): EnvoyJson {
  const app = e.labels.app ?? e.labels['app.kubernetes.io/name'] ?? '';
  const version = e.labels.version ?? e.labels['app.kubernetes.io/version'] ?? '';
  const cluster = push.mesh.dnsDomain === 'cluster.local' ? 'Kubernetes' : push.mesh.dnsDomain;
  const out: Record<string, unknown> = {
    endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } },
    health_status: e.healthy ? 'HEALTHY' : 'UNHEALTHY',
    metadata: {
      filter_metadata: {
        'envoy.transport_socket_match': { tlsMode: e.tlsMode },
        istio: { workload: `${e.workloadName};${e.namespace};${app};${version};${cluster}` },
      },
    },
    load_balancing_weight: e.weight ?? 1,
  };
  if (oc.service.meshExternal || e.tlsMode === 'disabled') {
    // Plaintext endpoints carry no tlsMode match key value other than "disabled".
    (out.metadata as { filter_metadata: Record<string, unknown> }).filter_metadata['envoy.transport_socket_match'] = { tlsMode: 'disabled' };
  }
  if (out.load_balancing_weight === 0) delete out.load_balancing_weight;
  return out as EnvoyJson;
}

/** 0 same region/zone/subzone, 1 same zone, 2 same region, 3 elsewhere. */
function priorityOf(p: Locality, e: Locality | undefined): number {
  if (!e || e.region !== p.region) return 3;
  if (e.zone !== p.zone) return 2;
  if (e.subZone !== p.subZone) return 1;
  return 0;
}
