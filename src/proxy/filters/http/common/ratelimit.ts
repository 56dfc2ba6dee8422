/**
 * What Envoy's two HTTP rate limit filters share (envoy.filters.http.local_ratelimit and
 * envoy.filters.http.ratelimit): the token bucket, HttpStatus parsing, the route descriptors of a
 * request, and the x-ratelimit-* response headers (enable_x_ratelimit_headers: DRAFT_VERSION_03).
 */
import type { Fields } from '../../../config/fields.js';
import type { Headers } from '../../../http/headers.js';
import type { HttpStream } from '../../../http/stream.js';
import { envoyRegistry } from '../../../../xds/codec.js';
import { buildDescriptors, selectPolicies, type Descriptor, type RateLimitPolicy, type VhRateLimits } from '../../../router/rate-limit-policy.js';

/**
 * A token bucket (envoy.type.v3.TokenBucket) that refills continuously at tokens_per_fill per
 * fill_interval up to max_tokens, starting full. Time is read only when a request consumes.
 */
export interface BucketSpec {
  maxTokens: number;
  tokensPerFill: number;
  fillIntervalMs: number;
}

export class TokenBucket {
  readonly maxTokens: number;
  private tokens: number;
  private last = performance.now();
  /** Tokens per millisecond. */
  readonly rate: number;
  constructor(spec: BucketSpec) {
    this.maxTokens = spec.maxTokens;
    this.tokens = spec.maxTokens;
    this.rate = spec.tokensPerFill / spec.fillIntervalMs;
  }
  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.maxTokens, this.tokens + (now - this.last) * this.rate);
    this.last = now;
  }
  /** Takes one token; false when none is left. */
  consume(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
  /** Whole tokens left (after the last consume). */
  get remaining(): number {
    return Math.floor(this.tokens);
  }
  /** Seconds until a token is back when none is left, else 0 (x-ratelimit-reset). */
  get resetSeconds(): number {
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) / this.rate / 1000);
  }
}

/** Reads a TokenBucket message. */
export function readTokenBucket(f: Fields): BucketSpec {
  const max = f.num('max_tokens');
  if (max <= 0) f.error('max_tokens', 'must be greater than 0');
  const perFill = f.has('tokens_per_fill') ? f.num('tokens_per_fill') : 1;
  if (perFill <= 0) f.error('tokens_per_fill', 'must be greater than 0');
  const interval = f.durationMs('fill_interval', 0);
  if (interval <= 0) f.error('fill_interval', 'is required and must be greater than 0');
  else if (interval < 50) f.error('fill_interval', 'local rate limit token bucket fill timer must be >= 50ms (as Envoy requires)');
  f.done();
  return { maxTokens: max, tokensPerFill: perFill || 1, fillIntervalMs: interval || 1000 };
}

let statusCodes: Map<string, number> | undefined;
/** envoy.type.v3.HttpStatus: `code` as the enum's name ("TooManyRequests") or number. */
export function readHttpStatus(f: Fields, def: number): number {
  const v = f.raw('code');
  f.done();
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return def;
  if (!statusCodes) {
    statusCodes = new Map();
    for (const e of envoyRegistry().getEnum('envoy.type.v3.StatusCode')?.values ?? []) statusCodes.set(e.name, e.number);
  }
  const n = statusCodes.get(v) ?? (/^\d+$/.test(v) ? Number(v) : undefined);
  if (n === undefined) {
    f.error('code', `unknown HTTP status ${JSON.stringify(v)}`);
    return def;
  }
  return n;
}

/** The route's descriptors for a filter stage (route and virtual host rate_limits per vh_rate_limits). */
export function routeDescriptors(s: HttpStream, stage: number, vhMode: VhRateLimits, cluster: string, own?: readonly RateLimitPolicy[]): Descriptor[] {
  const route = s.route;
  const policies = own ?? (route ? selectPolicies(route.action.kind === 'route' ? route.action.rateLimits : undefined, route.vhost.rateLimits, vhMode) : []);
  if (policies.length === 0) return [];
  return buildDescriptors(policies, stage, { headers: s.headers, path: s.path, query: s.query, remoteIp: s.conn.remoteIp.startsWith('::ffff:') ? s.conn.remoteIp.slice(7) : s.conn.remoteIp, cluster });
}

/** A request's x-ratelimit-* values (DRAFT_VERSION_03), kept until its response headers. */
export interface XRateLimit {
  limit: string;
  remaining: number;
  reset: number;
}

export function setXRateLimitHeaders(h: Headers, x: XRateLimit): void {
  h['x-ratelimit-limit'] = x.limit;
  h['x-ratelimit-remaining'] = String(x.remaining);
  h['x-ratelimit-reset'] = String(x.reset);
}

/** Reads enable_x_ratelimit_headers. */
export function readXRateLimitHeaders(f: Fields): boolean {
  return f.enumOf('enable_x_ratelimit_headers', ['OFF', 'DRAFT_VERSION_03'] as const, 'OFF') === 'DRAFT_VERSION_03';
}

export function readVhRateLimits(f: Fields): VhRateLimits {
  return f.enumOf('vh_rate_limits', ['OVERRIDE', 'INCLUDE', 'IGNORE'] as const, 'OVERRIDE');
}
