/**
 * envoy.filters.http.ratelimit (RateLimit): global rate limiting through a rate limit service
 * (envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit over gRPC to an `envoy_grpc` cluster),
 * as Envoy documents it. The route's rate_limits (or the virtual host's, per vh_rate_limits) of the
 * filter's `stage` become descriptors; a request with none is not sent to the service. Answers:
 *   OK          — the request goes on, with the service's request_headers_to_add; its
 *                 response_headers_to_add go on the response.
 *   OVER_LIMIT  — rate_limited_status (429), empty body (or the service's raw_body), flag RL,
 *                 details request_rate_limited, x-envoy-ratelimited: true (unless
 *                 disable_x_envoy_ratelimited_header).
 *   error or no answer within `timeout` (20 ms by default) — the request goes on, unless
 *                 failure_mode_deny: then status_on_error (500), flag RLSE, details rate_limiter_error.
 * x-ratelimit-limit / -remaining / -reset (enable_x_ratelimit_headers: DRAFT_VERSION_03) come from
 * the descriptor statuses. Stats: cluster.<route cluster>.ratelimit.[<stat_prefix>.]{ok, over_limit,
 * error, failure_mode_allowed}.
 */
import { credentials, Client, Metadata, type ServiceError } from '@grpc/grpc-js';
import type { Fields } from '../../../config/fields.js';
import type { Headers } from '../../../http/headers.js';
import { getHeader } from '../../../http/headers.js';
import type { HttpStream } from '../../../http/stream.js';
import type { Descriptor, VhRateLimits } from '../../../router/rate-limit-policy.js';
import type { Counter, StatsStore } from '../../../stats/stats.js';
import type { StreamInfo } from '../../../stream-info.js';
import { decodeMessage, encodeMessage, messageType, type EnvoyJson } from '../../../../xds/codec.js';
import { registerHttpFilter, type FilterReply } from '../registry.js';
import { readHttpStatus, readVhRateLimits, readXRateLimitHeaders, routeDescriptors } from '../common/ratelimit.js';

const RATE_LIMIT = 'envoy.extensions.filters.http.ratelimit.v3.RateLimit';
const RATE_LIMIT_PER_ROUTE = 'envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute';
const SHOULD_RATE_LIMIT = '/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit';
const REQUEST_TYPE = 'envoy.service.ratelimit.v3.RateLimitRequest';
const RESPONSE_TYPE = 'envoy.service.ratelimit.v3.RateLimitResponse';

interface RateLimitConfig {
  domain: string;
  stage: number;
  requestType: 'both' | 'internal' | 'external';
  timeoutMs: number;
  failureModeDeny: boolean;
  resourceExhausted: boolean;
  xHeaders: boolean;
  xEnvoyRateLimited: boolean;
  rateLimitedStatus: number;
  errorStatus: number;
  statPrefix: string;
  cluster: string;
  authority: string;
}

interface PerRoute {
  vhMode: VhRateLimits;
  domain?: string;
}

/** The filter's counters of one route cluster, each made when first counted (as Envoy does). */
class Stats {
  private readonly made = new Map<string, Counter>();
  constructor(private readonly store: StatsStore, private readonly prefix: string) {}
  inc(name: 'ok' | 'over_limit' | 'error' | 'failure_mode_allowed'): void {
    let c = this.made.get(name);
    if (!c) {
      c = this.store.counter(this.prefix + name);
      this.made.set(name, c);
    }
    c.value++;
  }
}

interface RlsStatus {
  code?: string;
  current_limit?: { requests_per_unit?: number; unit?: string; name?: string };
  limit_remaining?: number;
  duration_until_reset?: string;
}
interface RlsResponse {
  overall_code?: string;
  statuses?: RlsStatus[];
  response_headers_to_add?: { key: string; value: string }[];
  request_headers_to_add?: { key: string; value: string }[];
  raw_body?: string;
}

const UNIT_SECONDS: Record<string, number> = { SECOND: 1, MINUTE: 60, HOUR: 3600, DAY: 86_400, WEEK: 604_800, MONTH: 2_592_000, YEAR: 31_536_000 };

function compileRateLimit(f: Fields): RateLimitConfig {
  const domain = f.str('domain');
  if (!domain) f.error('domain', 'must not be empty');
  const rls = f.obj_('rate_limit_service');
  if (rls.enumOf('transport_api_version', ['V3'] as const, 'V3') !== 'V3') rls.error('transport_api_version', 'must be V3');
  const gs = rls.obj_('grpc_service');
  const eg = gs.obj_('envoy_grpc');
  const cluster = eg.str('cluster_name');
  if (!cluster) eg.error('cluster_name', 'the rate limit service cluster is required');
  const authority = eg.str('authority') || cluster;
  eg.unsupported('retry_policy', 'not supported by spar proxy yet');
  eg.done();
  gs.unsupported('google_grpc', 'google_grpc is not supported by spar proxy (use envoy_grpc)');
  gs.unsupported('initial_metadata', 'not supported by spar proxy yet');
  gs.ignore('timeout');
  gs.done();
  rls.done();
  const rs = f.opt('rate_limited_status');
  let rateLimitedStatus = rs ? readHttpStatus(rs, 429) : 429;
  if (rateLimitedStatus < 400) rateLimitedStatus = 429;
  const es = f.opt('status_on_error');
  const c: RateLimitConfig = {
    domain,
    stage: f.num('stage', 0),
    requestType: f.enumOf('request_type', ['both', 'internal', 'external'] as const, 'both'),
    timeoutMs: f.durationMs('timeout', 20),
    failureModeDeny: f.bool('failure_mode_deny'),
    resourceExhausted: f.bool('rate_limited_as_resource_exhausted'),
    xHeaders: readXRateLimitHeaders(f),
    xEnvoyRateLimited: !f.bool('disable_x_envoy_ratelimited_header'),
    rateLimitedStatus,
    errorStatus: es ? readHttpStatus(es, 500) : 500,
    statPrefix: f.str('stat_prefix'),
    cluster,
    authority,
  };
  f.unsupported('response_headers_to_add', 'not supported by spar proxy yet');
  f.unsupported('filter_enabled', 'not supported by spar proxy yet');
  f.unsupported('filter_enforced', 'not supported by spar proxy yet');
  f.unsupported('failure_mode_deny_percent', 'not supported by spar proxy yet');
  f.unsupported('rate_limits', 'the filter\'s own rate_limits are not supported by spar proxy yet (use the route\'s)');
  f.done();
  return c;
}

function compilePerRoute(f: Fields): PerRoute {
  const p: PerRoute = { vhMode: readVhRateLimits(f) };
  if (f.has('domain')) p.domain = f.str('domain');
  f.enumOf('override_option', ['DEFAULT'] as const, 'DEFAULT');
  f.unsupported('rate_limits', 'per-route rate_limits in the filter config are not supported by spar proxy yet');
  f.done();
  return p;
}

/** One gRPC channel per rate limit service host (shared by every filter that calls it). */
const clients = new Map<string, Client>();
function clientFor(address: string, authority: string): Client {
  const key = `${address}|${authority}`;
  let c = clients.get(key);
  if (!c) {
    c = new Client(address, credentials.createInsecure(), { 'grpc.default_authority': authority });
    clients.set(key, c);
  }
  return c;
}

const ident = (b: Uint8Array) => Buffer.from(b);

/** Calls ShouldRateLimit; resolves undefined on any failure (no host, error, deadline). */
function shouldRateLimit(s: HttpStream, c: RateLimitConfig, domain: string, descriptors: Descriptor[]): Promise<RlsResponse | undefined> {
  const cluster = s.env.clusters.get(c.cluster);
  const host = cluster?.warm ? cluster.lb.choose() : undefined;
  if (!host) return Promise.resolve(undefined);
  const req = encodeMessage(REQUEST_TYPE, { domain, descriptors: descriptors.map((d) => ({ entries: d })) } as unknown as EnvoyJson);
  return new Promise((resolve) => {
    clientFor(host.address, c.authority).makeUnaryRequest(SHOULD_RATE_LIMIT, ident, (b: Buffer) => b, req, new Metadata(), { deadline: Date.now() + c.timeoutMs }, (err: ServiceError | null, res?: Buffer) => {
      if (err || !res) return resolve(undefined);
      try {
        resolve(decodeMessage(RESPONSE_TYPE, res) as unknown as RlsResponse);
      } catch {
        resolve(undefined);
      }
    });
  });
}

/** x-ratelimit-* from the descriptor statuses: the one with the fewest requests left decides. */
function xRateLimitHeaders(statuses: RlsStatus[] | undefined, out: Headers): void {
  let min: RlsStatus | undefined;
  const policies: string[] = [];
  for (const st of statuses ?? []) {
    const l = st.current_limit;
    if (!l) continue;
    const window = UNIT_SECONDS[l.unit ?? ''] ?? 0;
    policies.push(`${l.requests_per_unit ?? 0};w=${window}${l.name ? `;name="${l.name}"` : ''}`);
    if (!min || (st.limit_remaining ?? 0) < (min.limit_remaining ?? 0)) min = st;
  }
  if (!min) return;
  out['x-ratelimit-limit'] = `${min.current_limit!.requests_per_unit ?? 0}, ${policies.join(', ')}`;
  out['x-ratelimit-remaining'] = String(min.limit_remaining ?? 0);
  out['x-ratelimit-reset'] = String(Math.round(parseFloat(min.duration_until_reset ?? '0')));
}

/** Headers to add to a request's response, by request (set when the service answered). */
const pending = new WeakMap<StreamInfo, Headers>();

registerHttpFilter(RATE_LIMIT, (cfg, ctx) => {
  const c = compileRateLimit(cfg);
  // Decode the service's message types now, not on the first request (whose deadline may be 20 ms).
  messageType(REQUEST_TYPE);
  messageType(RESPONSE_TYPE);
  const statsByCluster = new Map<string, Stats>();
  const statsFor = (store: StatsStore, cluster: string): Stats => {
    let st = statsByCluster.get(cluster);
    if (!st) {
      st = new Stats(store, `cluster.${cluster}.ratelimit.${c.statPrefix ? `${c.statPrefix}.` : ''}`);
      statsByCluster.set(cluster, st);
    }
    return st;
  };
  const decide = async (h: Headers, si: StreamInfo, reply: FilterReply, pr: PerRoute | undefined, cluster: string, s: HttpStream, descriptors: Descriptor[]): Promise<boolean> => {
    const res = await shouldRateLimit(s, c, pr?.domain ?? c.domain, descriptors);
    const st = statsFor(ctx.stats, cluster);
    if (!res || res.overall_code === undefined || res.overall_code === 'UNKNOWN') {
      st.inc('error');
      if (c.failureModeDeny) {
        reply(c.errorStatus, '', 'RLSE', undefined, { details: 'rate_limiter_error' });
        return false;
      }
      st.inc('failure_mode_allowed');
      return true;
    }
    const add: Headers = {};
    for (const x of res.response_headers_to_add ?? []) add[x.key.toLowerCase()] = x.value;
    if (c.xHeaders) xRateLimitHeaders(res.statuses, add);
    if (res.overall_code === 'OVER_LIMIT') {
      st.inc('over_limit');
      if (c.xEnvoyRateLimited) add['x-envoy-ratelimited'] = 'true';
      if (Object.keys(add).length) pending.set(si, add);
      const body = res.raw_body ? Buffer.from(res.raw_body, 'base64').toString('utf8') : '';
      reply(c.rateLimitedStatus, body, 'RL', c.resourceExhausted ? 8 : undefined, { details: 'request_rate_limited' });
      return false;
    }
    st.inc('ok');
    for (const x of res.request_headers_to_add ?? []) h[x.key.toLowerCase()] = x.value;
    if (Object.keys(add).length) pending.set(si, add);
    return true;
  };
  return {
    onRequestHeaders(h, si, reply, perRoute, cluster, s) {
      if (c.requestType !== 'both') {
        const internal = getHeader(h, 'x-envoy-internal') === 'true';
        if ((c.requestType === 'internal') !== internal) return true;
      }
      const pr = perRoute as PerRoute | undefined;
      const descriptors = routeDescriptors(s, c.stage, pr?.vhMode ?? 'OVERRIDE', cluster);
      if (descriptors.length === 0) return true;
      return decide(h, si, reply, pr, cluster, s, descriptors);
    },
    onResponseHeaders(_status, h, si) {
      const add = pending.get(si);
      if (add) Object.assign(h, add);
    },
  };
}, { [RATE_LIMIT_PER_ROUTE]: compilePerRoute });
