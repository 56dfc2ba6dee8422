/**
 * envoy.filters.http.fault (HTTPFault): delays (flag DI) and aborts (flag FI, body
 * "fault filter abort", or a grpc-status for gRPC requests), each with its percentage, limited to
 * requests matching `headers`, `upstream_cluster` and `downstream_nodes`. A route's
 * typed_per_filter_config replaces the filter's config for that route, as Envoy does — this is how
 * Istio's VirtualService fault injection arrives.
 */
import { Fields } from '../../../config/fields.js';
import { compileHeaderMatcher, type RoutePredicate } from '../../../router/route-matchers.js';
import { registerHttpFilter } from '../registry.js';

const FAULT = 'envoy.extensions.filters.http.fault.v3.HTTPFault';

interface FaultConfig {
  delayMs?: number;
  delayChance: number;
  abortStatus?: number;
  abortGrpc?: number;
  abortChance: number;
  headers: RoutePredicate[];
  upstreamCluster: string;
  downstreamNodes: string[];
}

/** envoy.type.v3.FractionalPercent → probability in [0, 1]. */
function readPercent(f: Fields | undefined): number {
  if (!f) return 1;
  const n = f.num('numerator');
  const d = f.enumOf('denominator', ['HUNDRED', 'TEN_THOUSAND', 'MILLION'] as const, 'HUNDRED');
  f.done();
  return n / (d === 'HUNDRED' ? 100 : d === 'TEN_THOUSAND' ? 10_000 : 1_000_000);
}

export function compileFault(f: Fields): FaultConfig {
  const c: FaultConfig = { delayChance: 0, abortChance: 0, headers: [], upstreamCluster: f.str('upstream_cluster'), downstreamNodes: f.strList('downstream_nodes') };
  const d = f.opt('delay');
  if (d) {
    c.delayMs = d.durationMs('fixed_delay', 0);
    d.unsupported('header_delay', 'header-controlled faults are not supported by spar proxy yet');
    c.delayChance = readPercent(d.opt('percentage'));
    d.done();
  }
  const a = f.opt('abort');
  if (a) {
    if (a.has('http_status')) c.abortStatus = a.num('http_status');
    if (a.has('grpc_status')) c.abortGrpc = a.num('grpc_status');
    a.unsupported('header_abort', 'header-controlled faults are not supported by spar proxy yet');
    c.abortChance = readPercent(a.opt('percentage'));
    a.done();
  }
  c.headers = f.list('headers').map(compileHeaderMatcher);
  f.num('max_active_faults');
  f.unsupported('response_rate_limit', 'response rate limiting faults are not supported by spar proxy yet');
  f.unsupported('delay_percent_runtime');
  f.unsupported('abort_percent_runtime');
  f.unsupported('delay_duration_runtime');
  f.unsupported('abort_http_status_runtime');
  f.unsupported('max_active_faults_runtime');
  f.unsupported('response_rate_limit_percent_runtime');
  f.unsupported('abort_grpc_status_runtime');
  f.bool('disable_downstream_cluster_stats');
  f.unsupported('filter_metadata');
  f.done();
  return c;
}

function applies(c: FaultConfig, h: Record<string, string | string[] | undefined>, path: string, cluster: string): boolean {
  if (c.upstreamCluster && c.upstreamCluster !== cluster) return false;
  if (c.downstreamNodes.length && !c.downstreamNodes.includes(String(h['x-envoy-downstream-service-node'] ?? ''))) return false;
  for (const m of c.headers) if (!m({ headers: h, path, query: '' })) return false;
  return true;
}

registerHttpFilter(FAULT, (cfg) => {
  const base = compileFault(cfg);
  const empty = base.delayMs === undefined && base.abortStatus === undefined && base.abortGrpc === undefined;
  return {
    onRequestHeaders(h, si, reply, perRoute, cluster) {
      const c = (perRoute as FaultConfig | undefined) ?? (empty ? undefined : base);
      if (!c || !applies(c, h, String(h[':path'] ?? ''), cluster)) return true;
      const abort = () => {
        if ((c.abortStatus !== undefined || c.abortGrpc !== undefined) && Math.random() < c.abortChance) {
          // A grpc_status abort answers HTTP 200 (with that grpc-status for gRPC clients), as Envoy.
          if (c.abortGrpc !== undefined) reply(200, 'fault filter abort', 'FI', c.abortGrpc);
          else reply(c.abortStatus ?? 503, 'fault filter abort', 'FI');
          return false;
        }
        return true;
      };
      if (c.delayMs !== undefined && Math.random() < c.delayChance) {
        si.setFlag('DI');
        return new Promise<boolean>((resolve) => setTimeout(() => resolve(abort()), c.delayMs));
      }
      return abort();
    },
  };
}, { [FAULT]: compileFault });
