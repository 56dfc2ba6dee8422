/**
 * envoy.filters.http.fault (HTTPFault): delays (flag DI) and aborts (flag FI, body
 * "fault filter abort", or a grpc-status for gRPC requests), each with its percentage, limited to
 * requests matching `headers`, `upstream_cluster` and `downstream_nodes`. A route's
 * typed_per_filter_config replaces the filter's config for that route, as Envoy does — this is how
 * Istio's VirtualService fault injection arrives.
 */
import { Fields } from '../../../config/fields.js';
import { compileHeaderMatcher, type RoutePredicate } from '../../../router/route-matchers.js';
import { registerHttpFilter, type FilterReply } from '../registry.js';
import type { Headers } from '../../../http/headers.js';

const FAULT = 'envoy.extensions.filters.http.fault.v3.HTTPFault';

interface FaultConfig {
  delayMs?: number;
  /** header_delay: the delay comes from x-envoy-fault-delay-request. */
  delayFromHeader: boolean;
  delayChance: number;
  /** The configured percentage's denominator (header percentages use it). */
  delayDenominator: number;
  abortStatus?: number;
  abortGrpc?: number;
  /** header_abort: the status comes from x-envoy-fault-abort-request / -grpc-request. */
  abortFromHeader: boolean;
  abortChance: number;
  abortDenominator: number;
  maxActive: number;
  headers: RoutePredicate[];
  upstreamCluster: string;
  downstreamNodes: string[];
}

const DENOMINATORS = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 } as const;

/** envoy.type.v3.FractionalPercent → [probability in [0, 1], denominator]. */
function readPercent(f: Fields | undefined): [number, number] {
  if (!f) return [1, 100];
  const n = f.num('numerator');
  const d = DENOMINATORS[f.enumOf('denominator', ['HUNDRED', 'TEN_THOUSAND', 'MILLION'] as const, 'HUNDRED')];
  f.done();
  return [Math.min(n, d) / d, d];
}

export function compileFault(f: Fields): FaultConfig {
  const c: FaultConfig = {
    delayChance: 0, delayDenominator: 100, delayFromHeader: false, abortChance: 0, abortDenominator: 100, abortFromHeader: false, maxActive: Infinity,
    headers: [], upstreamCluster: f.str('upstream_cluster'), downstreamNodes: f.strList('downstream_nodes'),
  };
  const d = f.opt('delay');
  if (d) {
    if (d.has('header_delay')) {
      d.obj_('header_delay').done();
      c.delayFromHeader = true;
    } else c.delayMs = d.durationMs('fixed_delay', 0);
    [c.delayChance, c.delayDenominator] = readPercent(d.opt('percentage'));
    d.done();
  }
  const a = f.opt('abort');
  if (a) {
    if (a.has('http_status')) c.abortStatus = a.num('http_status');
    if (a.has('grpc_status')) c.abortGrpc = a.num('grpc_status');
    if (a.has('header_abort')) {
      a.obj_('header_abort').done();
      c.abortFromHeader = true;
    }
    [c.abortChance, c.abortDenominator] = readPercent(a.opt('percentage'));
    a.done();
  }
  c.headers = f.list('headers').map(compileHeaderMatcher);
  if (f.has('max_active_faults')) c.maxActive = f.num('max_active_faults');
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

/**
 * The chance a header-controlled fault fires: the percentage header's value over the configured
 * denominator, capped by the configured percentage (Envoy's rule); no header = the configured one.
 */
function headerChance(h: Headers, name: string, configured: number, denominator: number): number {
  const v = h[name];
  if (v === undefined) return configured;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) return configured;
  return Math.min(configured, n / denominator);
}

/** A positive integer header, or undefined (absent, empty, not a number). */
function intHeader(h: Headers, name: string): number | undefined {
  const v = h[name];
  if (typeof v !== 'string' || !/^\d{1,10}$/.test(v)) return undefined;
  return Number(v);
}

/** Aborts the request when the abort fires: sends the reply and returns false; otherwise true. */
function maybeAbort(status: number | undefined, grpc: number | undefined, chance: number, reply: FilterReply): boolean {
  if ((status === undefined && grpc === undefined) || chance <= 0 || (chance < 1 && Math.random() >= chance)) return true;
  // A grpc_status abort answers HTTP 200 (with that grpc-status for gRPC clients), as Envoy.
  if (grpc !== undefined) reply(200, 'fault filter abort', 'FI', grpc);
  else reply(status ?? 503, 'fault filter abort', 'FI');
  return false;
}

registerHttpFilter(FAULT, (cfg) => {
  const base = compileFault(cfg);
  const empty = base.delayMs === undefined && !base.delayFromHeader && base.abortStatus === undefined && base.abortGrpc === undefined && !base.abortFromHeader;
  let active = 0;
  return {
    onRequestHeaders(h, si, reply, perRoute, cluster) {
      const c = (perRoute as FaultConfig | undefined) ?? (empty ? undefined : base);
      if (!c || !applies(c, h, String(h[':path'] ?? ''), cluster)) return true;
      if (active >= c.maxActive) return true; // faults_overflow: the request goes on unharmed
      let delayMs = c.delayMs;
      let delayChance = c.delayChance;
      if (c.delayFromHeader) {
        delayMs = intHeader(h, 'x-envoy-fault-delay-request');
        delayChance = headerChance(h, 'x-envoy-fault-delay-request-percentage', c.delayChance, c.delayDenominator);
      }
      let abortStatus = c.abortStatus;
      let abortGrpc = c.abortGrpc;
      let abortChance = c.abortChance;
      if (c.abortFromHeader) {
        const st = intHeader(h, 'x-envoy-fault-abort-request');
        abortStatus = st !== undefined && st >= 200 && st < 600 ? st : undefined;
        abortGrpc = intHeader(h, 'x-envoy-fault-abort-grpc-request');
        abortChance = headerChance(h, 'x-envoy-fault-abort-request-percentage', c.abortChance, c.abortDenominator);
      }
      if (delayMs !== undefined && delayChance > 0 && (delayChance >= 1 || Math.random() < delayChance)) {
        si.setFlag('DI');
        active++;
        return new Promise<boolean>((resolve) => setTimeout(() => {
          active--;
          resolve(maybeAbort(abortStatus, abortGrpc, abortChance, reply));
        }, delayMs));
      }
      return maybeAbort(abortStatus, abortGrpc, abortChance, reply);
    },
  };
}, { [FAULT]: compileFault });
