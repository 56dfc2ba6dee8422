/**
 * envoy.filters.http.local_ratelimit (LocalRateLimit), as Envoy documents it: a token bucket per
 * filter config (or per downstream connection with local_rate_limit_per_downstream_connection), plus
 * one per configured descriptor that a request's route rate_limits (same `stage`) produce. A request
 * is limited when a matched descriptor's bucket is empty, or the default bucket is (consumed when no
 * descriptor matched, or always with always_consume_default_token_bucket, the default).
 *
 * filter_enabled / filter_enforced (fractional percents, 0 % when unset) decide whether the filter
 * looks at a request at all and whether a limited request is refused — with `status` (429 by
 * default, codes below 400 mean 429), body "local_rate_limited", flag RL, details
 * local_rate_limited and response_headers_to_add — or only marked with
 * request_headers_to_add_when_not_enforced. Stats: <stat_prefix>.http_local_rate_limit.{enabled,
 * enforced, rate_limited, ok, shadow_mode}. A route's typed_per_filter_config replaces the whole
 * config (its own buckets and stats) for that route.
 */
import type { Fields } from '../../../config/fields.js';
import { compileHeaderMutation, type HeaderMutation, type Headers } from '../../../http/headers.js';
import type { ConnectionInfo, HttpStream } from '../../../http/stream.js';
import { compileRateLimits, type Descriptor, type RateLimitPolicy, type VhRateLimits } from '../../../router/rate-limit-policy.js';
import type { Counter, StatsStore } from '../../../stats/stats.js';
import type { StreamInfo } from '../../../stream-info.js';
import { registerHttpFilter, type HttpFilter } from '../registry.js';
import {
  readHttpStatus, readTokenBucket, type BucketSpec, readVhRateLimits, readXRateLimitHeaders, routeDescriptors, setXRateLimitHeaders, TokenBucket, type XRateLimit,
} from '../common/ratelimit.js';

const LOCAL_RATE_LIMIT = 'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';

/** The buckets of one config (shared by the process, or one set per downstream connection). */
interface Buckets {
  default: TokenBucket | undefined;
  /** By descriptor ("k=v\u0000k=v"). */
  descriptors: Map<string, TokenBucket>;
}

interface LocalRateLimitConfig {
  statPrefix: string;
  status: number;
  enabled: number;
  enforced: number;
  defaultSpec?: BucketSpec;
  descriptorSpecs: Map<string, BucketSpec>;
  stage: number;
  perConnection: boolean;
  xHeaders: boolean;
  vhMode: VhRateLimits;
  alwaysConsumeDefault: boolean;
  resourceExhausted: boolean;
  notEnforcedHeaders?: HeaderMutation;
  responseHeaders?: HeaderMutation;
  /** The filter's own rate_limits (instead of the route's), when set. */
  ownRateLimits?: RateLimitPolicy[];
  /** Process-wide buckets (unless per connection). */
  shared?: Buckets;
  perConn?: WeakMap<ConnectionInfo, Buckets>;
  stats?: Stats;
}

interface Stats {
  enabled: Counter;
  enforced: Counter;
  rate_limited: Counter;
  ok: Counter;
  shadow_mode: Counter;
}

function stats(store: StatsStore, prefix: string): Stats {
  const p = `${prefix}.http_local_rate_limit.`;
  return {
    enabled: store.counter(p + 'enabled'),
    enforced: store.counter(p + 'enforced'),
    rate_limited: store.counter(p + 'rate_limited'),
    ok: store.counter(p + 'ok'),
    shadow_mode: store.counter(p + 'shadow_mode'),
  };
}

/**
 * Stats are made when a config is compiled, as Envoy makes them (a per-route config that never sees a
 * request still shows its zeros). Per-route configs of an inline route table are compiled before the
 * first filter instance gives the store; they wait here until it does.
 */
let store: StatsStore | undefined;
const waiting: LocalRateLimitConfig[] = [];
function attachStats(c: LocalRateLimitConfig): void {
  if (store) c.stats = stats(store, c.statPrefix);
  else waiting.push(c);
}

const DENOMINATORS = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 } as const;

/** A RuntimeFractionalPercent's default value as a probability; 0 when unset (Envoy's safe default). */
function readRuntimeFraction(f: Fields | undefined): number {
  if (!f) return 0;
  f.str('runtime_key'); // no runtime layer carries these keys here: the default value applies
  const d = f.opt('default_value');
  f.done();
  if (!d) return 0;
  const n = d.num('numerator');
  const den = DENOMINATORS[d.enumOf('denominator', Object.keys(DENOMINATORS) as (keyof typeof DENOMINATORS)[], 'HUNDRED')];
  d.done();
  return Math.min(1, n / den);
}

const descriptorKey = (d: Descriptor): string => d.map((e) => `${e.key}=${e.value}`).join('\u0000');

export function compileLocalRateLimit(f: Fields, perRoute = false): LocalRateLimitConfig {
  const statPrefix = f.str('stat_prefix');
  if (!statPrefix) f.error('stat_prefix', 'must not be empty');
  const st = f.opt('status');
  let status = st ? readHttpStatus(st, 429) : 429;
  if (status < 400) status = 429;
  const c: LocalRateLimitConfig = {
    statPrefix,
    status,
    enabled: readRuntimeFraction(f.opt('filter_enabled')),
    enforced: readRuntimeFraction(f.opt('filter_enforced')),
    descriptorSpecs: new Map(),
    stage: f.num('stage', 0),
    perConnection: f.bool('local_rate_limit_per_downstream_connection'),
    xHeaders: readXRateLimitHeaders(f),
    vhMode: readVhRateLimits(f),
    alwaysConsumeDefault: f.bool('always_consume_default_token_bucket', true),
    resourceExhausted: f.bool('rate_limited_as_resource_exhausted'),
  };
  const tb = f.opt('token_bucket');
  if (tb) c.defaultSpec = readTokenBucket(tb);
  else if (perRoute) f.error('token_bucket', 'local rate limit token bucket must be set for per filter configs (as Envoy requires)');
  for (const d of f.list('descriptors')) {
    const entries: Descriptor = [];
    for (const e of d.list('entries')) {
      const key = e.str('key');
      const value = e.str('value');
      if (!key) e.error('key', 'must not be empty');
      if (!value) e.error('value', 'an empty value (a dynamic descriptor) is not supported by spar proxy yet');
      e.done();
      entries.push({ key, value });
    }
    if (entries.length === 0) d.error('entries', 'at least one entry is required');
    const b = d.opt('token_bucket');
    if (!b) d.error('token_bucket', 'is required');
    else c.descriptorSpecs.set(descriptorKey(entries), readTokenBucket(b));
    d.done();
  }
  if (f.has('rate_limits')) c.ownRateLimits = compileRateLimits(f.list('rate_limits')) ?? [];
  const nh = f.list('request_headers_to_add_when_not_enforced');
  if (nh.length) c.notEnforcedHeaders = compileHeaderMutation(nh, [], f);
  const rh = f.list('response_headers_to_add');
  if (rh.length) c.responseHeaders = compileHeaderMutation(rh, [], f);
  f.unsupported('local_cluster_rate_limit', 'rate limits shared across a local cluster are not supported by spar proxy yet');
  f.unsupported('max_dynamic_descriptors', 'dynamic descriptors are not supported by spar proxy yet');
  f.done();
  if (!c.perConnection) c.shared = makeBuckets(c);
  else c.perConn = new WeakMap();
  attachStats(c);
  return c;
}

function makeBuckets(c: LocalRateLimitConfig): Buckets {
  const mk = (s: BucketSpec) => new TokenBucket(s);
  const descriptors = new Map<string, TokenBucket>();
  for (const [k, s] of c.descriptorSpecs) descriptors.set(k, mk(s));
  return { default: c.defaultSpec ? mk(c.defaultSpec) : undefined, descriptors };
}

function bucketsFor(c: LocalRateLimitConfig, conn: ConnectionInfo): Buckets {
  if (c.shared) return c.shared;
  let b = c.perConn!.get(conn);
  if (!b) {
    b = makeBuckets(c);
    c.perConn!.set(conn, b);
  }
  return b;
}

/** The x-ratelimit-* values of requests on their way (only with enable_x_ratelimit_headers). */
const pending = new WeakMap<StreamInfo, XRateLimit>();

function xRateLimit(b: TokenBucket): XRateLimit {
  return { limit: String(b.maxTokens), remaining: b.remaining, reset: b.resetSeconds };
}

/**
 * Decides one request: true to go on. Matched descriptor buckets first, slowest refill first (as
 * Envoy 1.40 orders them; an empty one limits, the ones before it keep their consumed token), then
 * the default bucket. The x-ratelimit-* headers describe the limiting bucket, else the first one.
 */
function decide(c: LocalRateLimitConfig, s: HttpStream, cluster: string): { allowed: boolean; bucket: TokenBucket | undefined } {
  const buckets = bucketsFor(c, s.conn);
  let matched: TokenBucket[] | undefined;
  if (buckets.descriptors.size) {
    for (const d of routeDescriptors(s, c.stage, c.vhMode, cluster, c.ownRateLimits)) {
      const b = buckets.descriptors.get(descriptorKey(d));
      if (b && !matched?.includes(b)) (matched ??= []).push(b);
    }
    if (matched && matched.length > 1) matched.sort((x, y) => x.rate - y.rate);
    if (matched) for (const b of matched) if (!b.consume()) return { allowed: false, bucket: b };
  }
  const def = buckets.default;
  if (def && (!matched || c.alwaysConsumeDefault)) {
    if (!def.consume()) return { allowed: false, bucket: def };
  }
  return { allowed: true, bucket: matched?.[0] ?? def };
}

registerHttpFilter(LOCAL_RATE_LIMIT, (cfg, ctx) => {
  store = ctx.stats;
  for (const c of waiting.splice(0)) c.stats ??= stats(ctx.stats, c.statPrefix);
  const base = compileLocalRateLimit(cfg);
  const statsOf = (c: LocalRateLimitConfig) => (c.stats ??= stats(ctx.stats, c.statPrefix));
  const filter: HttpFilter = {
    onRequestHeaders(h, si, reply, perRoute, cluster, s) {
      const c = (perRoute as LocalRateLimitConfig | undefined) ?? base;
      if (c.enabled <= 0 || (c.enabled < 1 && Math.random() >= c.enabled)) return true;
      const st = statsOf(c);
      st.enabled.value++;
      const { allowed, bucket } = decide(c, s, cluster);
      if (c.xHeaders && bucket) pending.set(si, xRateLimit(bucket));
      if (allowed) {
        st.ok.value++;
        return true;
      }
      st.rate_limited.value++;
      if (c.enforced <= 0 || (c.enforced < 1 && Math.random() >= c.enforced)) {
        c.notEnforcedHeaders?.apply(h, si);
        return true;
      }
      st.enforced.value++;
      let headers: Headers | undefined;
      if (c.responseHeaders) {
        headers = {};
        c.responseHeaders.apply(headers, si);
      }
      reply(c.status, 'local_rate_limited', 'RL', c.resourceExhausted ? 8 : undefined, { headers, details: 'local_rate_limited' });
      return false;
    },
    onResponseHeaders(_status, h, si) {
      const x = pending.get(si);
      if (x) setXRateLimitHeaders(h, x);
    },
  };
  return filter;
}, { [LOCAL_RATE_LIMIT]: (f) => compileLocalRateLimit(f, true) });
