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
    out.push({ '@type': TypeUrl.ClusterLoadAssignment, cluster_name: oc.name, endpoints: localityLbEndpoints(proxy, push, oc) });
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
  const failover = localityFailover(proxy, push, oc);
  const out: EnvoyJson[] = [];
  for (const [, list] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const loc = list[0].locality;
    const g: Record<string, unknown> = {};
    if (loc) g.locality = compactLocality(loc);
    g.lb_endpoints = list.map((e) => lbEndpoint(e, oc, push));
    g.load_balancing_weight = Math.max(1, list.reduce((n, e) => n + (e.weight ?? 1), 0));
    if (failover && proxy.locality) {
      const p = priorityOf(proxy.locality, loc);
      if (p > 0) g.priority = p;
    }
    out.push(g as EnvoyJson);
  }
  return out;
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

/** Locality failover applies when enabled (mesh or DestinationRule) and outlier detection is set. */
function localityFailover(proxy: Proxy, push: PushContext, oc: OutboundCluster): boolean {
  const policy = effectivePolicy(oc.dr?.spec.trafficPolicy, oc.subset?.trafficPolicy, oc.port.port);
  const setting = policy.loadBalancer?.localityLbSetting ?? push.mesh.localityLbSetting;
  if (!setting || setting.enabled === false || !policy.outlierDetection) return false;
  return !!proxy.locality;
}

/** 0 same region/zone/subzone, 1 same zone, 2 same region, 3 elsewhere. */
function priorityOf(p: Locality, e: Locality | undefined): number {
  if (!e || e.region !== p.region) return 3;
  if (e.zone !== p.zone) return 2;
  if (e.subZone !== p.subZone) return 1;
  return 0;
}
