/**
 * `spar.filters.http.istio_stats`: Istio's standard HTTP metrics, which upstream Envoy lacks
 * (Istio ships them as a Wasm/native extension). Spar's pilot adds this filter with
 * `is_optional: true` and a `google.protobuf.Struct` typed config, so real Envoy skips it.
 *
 * Config (Struct): `{ reporter?: "source" | "destination" }` — default from the listener's
 * traffic_direction (OUTBOUND → source, INBOUND → destination).
 *
 * Metrics, with Istio's names, labels and buckets: istio_requests_total,
 * istio_request_duration_milliseconds, istio_request_bytes, istio_response_bytes. Labels come from
 * the node's metadata (this workload) and the Istio cluster name (`outbound|9080|v1|reviews.default.svc.cluster.local`)
 * for the other side; without a metadata exchange peer workloads are "unknown", as in Istio.
 * Series are cached per (cluster, code, flags, grpc status), so a request costs a map lookup.
 */
import type { Counter, Histogram, LabelledFamily, StatsStore } from '../../../stats/stats.js';
import { Histogram as Hist } from '../../../stats/stats.js';
import type { StreamInfo } from '../../../stream-info.js';
import { registerHttpFilterByName, type FilterContext } from '../registry.js';

export const ISTIO_STATS_FILTER = 'spar.filters.http.istio_stats';

const DURATION_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
const BYTES_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000];

interface Series {
  requests: Counter;
  duration: Histogram;
  reqBytes: Histogram;
  respBytes: Histogram;
}

function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/** `outbound|9080|v1|reviews.default.svc.cluster.local` → service, name, namespace, subset. */
function parseClusterName(name: string): { service: string; serviceName: string; namespace: string; subset: string } {
  const parts = name.split('|');
  if (parts.length === 4) {
    const host = parts[3];
    const [svc, ns] = host.split('.');
    return { service: host, serviceName: svc, namespace: ns ?? 'unknown', subset: parts[2] };
  }
  return { service: name || 'unknown', serviceName: name || 'unknown', namespace: 'unknown', subset: '' };
}

function family<T extends Counter | Histogram>(store: StatsStore, name: string, type: 'counter' | 'histogram'): LabelledFamily<T> {
  return store.family<T>(name, '', type);
}

export function istioStats(cfg: Record<string, unknown>, ctx: FilterContext) {
  const reporter = typeof cfg.reporter === 'string' ? cfg.reporter : ctx.direction === 'INBOUND' ? 'destination' : 'source';
  const md = ctx.nodeMetadata as { NAME?: string; WORKLOAD_NAME?: string; NAMESPACE?: string; LABELS?: Record<string, string>; CLUSTER_ID?: string; MESH_ID?: string };
  const labels = md.LABELS ?? {};
  const self = {
    workload: md.WORKLOAD_NAME ?? labels['service.istio.io/canonical-name'] ?? labels.app ?? 'unknown',
    namespace: md.NAMESPACE ?? 'unknown',
    app: labels.app ?? labels['service.istio.io/canonical-name'] ?? 'unknown',
    version: labels.version ?? labels['service.istio.io/canonical-revision'] ?? 'unknown',
    cluster: md.CLUSTER_ID ?? 'unknown',
  };
  const fams = {
    requests: family<Counter>(ctx.stats, 'istio_requests_total', 'counter'),
    duration: family<Histogram>(ctx.stats, 'istio_request_duration_milliseconds', 'histogram'),
    reqBytes: family<Histogram>(ctx.stats, 'istio_request_bytes', 'histogram'),
    respBytes: family<Histogram>(ctx.stats, 'istio_response_bytes', 'histogram'),
  };
  const byCluster = new Map<string, string>();
  const clusterLabels = (cluster: string): string => {
    let s = byCluster.get(cluster);
    if (s) return s;
    const d = parseClusterName(cluster);
    const src = reporter === 'source'
      ? { workload: self.workload, namespace: self.namespace, app: self.app, version: self.version, cluster: self.cluster }
      : { workload: 'unknown', namespace: 'unknown', app: 'unknown', version: 'unknown', cluster: 'unknown' };
    const dst = reporter === 'destination'
      ? { workload: self.workload, namespace: self.namespace, app: self.app, version: self.version, cluster: self.cluster }
      : { workload: 'unknown', namespace: d.namespace, app: 'unknown', version: d.subset || 'unknown', cluster: 'unknown' };
    s = [
      `reporter="${reporter}"`,
      `source_workload="${label(src.workload)}"`, `source_workload_namespace="${label(src.namespace)}"`, 'source_principal="unknown"',
      `source_app="${label(src.app)}"`, `source_version="${label(src.version)}"`, `source_cluster="${label(src.cluster)}"`,
      `destination_workload="${label(dst.workload)}"`, `destination_workload_namespace="${label(dst.namespace)}"`, 'destination_principal="unknown"',
      `destination_app="${label(dst.app)}"`, `destination_version="${label(dst.version)}"`,
      `destination_service="${label(d.service)}"`, `destination_service_name="${label(d.serviceName)}"`, `destination_service_namespace="${label(d.namespace)}"`,
      `destination_cluster="${label(dst.cluster)}"`,
    ].join(',');
    byCluster.set(cluster, s);
    return s;
  };
  const series = new Map<string, Series>();
  return {
    onDone(si: StreamInfo): void {
      const h = si.requestHeaders ?? {};
      const grpc = String(h['content-type'] ?? '').startsWith('application/grpc');
      const grpcStatus = grpc ? String(si.responseHeaders?.['grpc-status'] ?? si.responseTrailers?.['grpc-status'] ?? '') : '';
      const flags = si.flagString();
      const key = `${si.upstreamCluster}|${si.responseCode}|${flags}|${grpcStatus}|${grpc}`;
      let s = series.get(key);
      if (!s) {
        const l = `${clusterLabels(si.upstreamCluster)},request_protocol="${grpc ? 'grpc' : 'http'}",response_code="${si.responseCode}",grpc_response_status="${grpcStatus}",response_flags="${flags}",connection_security_policy="${reporter === 'destination' ? 'none' : 'unknown'}"`;
        const get = <T extends Counter | Histogram>(f: LabelledFamily<T>, make: () => T): T => {
          let e = f.series.get(l);
          if (!e) f.series.set(l, (e = { labels: l, metric: make() }));
          return e.metric;
        };
        s = {
          requests: get(fams.requests, () => ({ value: 0 })),
          duration: get(fams.duration, () => new Hist(DURATION_BUCKETS)),
          reqBytes: get(fams.reqBytes, () => new Hist(BYTES_BUCKETS)),
          respBytes: get(fams.respBytes, () => new Hist(BYTES_BUCKETS)),
        };
        series.set(key, s);
      }
      s.requests.value++;
      s.duration.record(si.durationMs());
      s.reqBytes.record(si.bytesReceived);
      s.respBytes.record(si.bytesSent);
    },
  };
}

registerHttpFilterByName(ISTIO_STATS_FILTER, 'google.protobuf.Struct', (cfg, ctx) => {
  // An Any holding a Struct is `{"@type": ".../google.protobuf.Struct", "value": {...}}` in JSON.
  cfg.ignore('value');
  cfg.done();
  const obj = (cfg.obj.value && typeof cfg.obj.value === 'object' ? cfg.obj.value : {}) as Record<string, unknown>;
  for (const k of Object.keys(obj)) if (k !== 'reporter') cfg.error(`value.${k}`, `unknown ${ISTIO_STATS_FILTER} option (supported: reporter)`);
  if (obj.reporter !== undefined && obj.reporter !== 'source' && obj.reporter !== 'destination') cfg.error('value.reporter', 'must be "source" or "destination"');
  return istioStats(obj, ctx);
});
