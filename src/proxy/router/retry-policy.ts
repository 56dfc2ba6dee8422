/**
 * envoy.config.route.v3.RetryPolicy compiled: which failures are retriable (retry_on), how often,
 * per-try timeout, back-off. Retries are only attempted while the request body is still held
 * (see router.ts), as Envoy buffers the body for retries.
 */
import { Fields } from '../config/fields.js';

export interface RetryPolicy {
  numRetries: number;
  perTryTimeoutMs: number;
  on5xx: boolean;
  onGatewayError: boolean;
  onConnectFailure: boolean;
  onReset: boolean;
  /** reset-before-request: connect failures and resets before any request byte was sent. */
  onResetBeforeRequest: boolean;
  onRetriable4xx: boolean;
  onRefusedStream: boolean;
  onRetriableStatusCodes: boolean;
  /** The gRPC statuses (grpc-status of a trailers-only answer) that are retried, as a bit set. */
  grpcOn: number;
  retriableStatusCodes: Set<number>;
  previousHosts: boolean;
  hostSelectionMaxAttempts: number;
  baseIntervalMs: number;
  maxIntervalMs: number;
}

/** gRPC retry conditions → status codes (bit = 1 << code). */
const GRPC_CODES: Record<string, number> = { cancelled: 1, 'deadline-exceeded': 4, 'resource-exhausted': 8, internal: 13, unavailable: 14 };

const KNOWN = new Set(['5xx', 'gateway-error', 'connect-failure', 'reset', 'retriable-4xx', 'refused-stream', 'retriable-status-codes',
  'reset-before-request', 'envoy-ratelimited', 'http3-post-connect-failure', 'retriable-headers', ...Object.keys(GRPC_CODES)]);

/** Sets the conditions named in a retry_on list (or x-envoy-retry-on header) on `p`; unknown names are ignored here. */
export function applyRetryOn(p: RetryPolicy, on: string[]): void {
  for (const o of on) {
    switch (o) {
      case '5xx': p.on5xx = true; break;
      case 'gateway-error': p.onGatewayError = true; break;
      case 'connect-failure': p.onConnectFailure = true; break;
      case 'reset': p.onReset = true; break;
      case 'reset-before-request': p.onResetBeforeRequest = true; break;
      case 'retriable-4xx': p.onRetriable4xx = true; break;
      case 'refused-stream': p.onRefusedStream = true; break;
      case 'retriable-status-codes': p.onRetriableStatusCodes = true; break;
      default: if (GRPC_CODES[o] !== undefined) p.grpcOn |= 1 << GRPC_CODES[o];
    }
  }
}

/** A policy with no condition set (the base for x-envoy-retry-on on a route without a policy). */
export function emptyRetryPolicy(): RetryPolicy {
  return {
    numRetries: 1, perTryTimeoutMs: 0, on5xx: false, onGatewayError: false, onConnectFailure: false, onReset: false, onResetBeforeRequest: false,
    onRetriable4xx: false, onRefusedStream: false, onRetriableStatusCodes: false, grpcOn: 0, retriableStatusCodes: new Set(), previousHosts: false,
    hostSelectionMaxAttempts: 1, baseIntervalMs: 25, maxIntervalMs: 250,
  };
}

/** Whether any condition is set (a policy with none never retries). */
export function retriesAnything(p: RetryPolicy): boolean {
  return p.on5xx || p.onGatewayError || p.onConnectFailure || p.onReset || p.onResetBeforeRequest || p.onRetriable4xx || p.onRefusedStream ||
    p.onRetriableStatusCodes || p.grpcOn !== 0;
}

export function compileRetryPolicy(f: Fields): RetryPolicy {
  const on = f.str('retry_on').split(',').map((s) => s.trim()).filter(Boolean);
  for (const o of on) if (!KNOWN.has(o)) f.error('retry_on', `unknown retry condition ${JSON.stringify(o)}`);
  for (const o of ['envoy-ratelimited', 'http3-post-connect-failure', 'retriable-headers']) {
    if (on.includes(o)) f.error('retry_on', `retry condition ${o} is not supported by spar proxy`);
  }
  const p = emptyRetryPolicy();
  applyRetryOn(p, on);
  p.numRetries = f.num('num_retries', 1);
  p.perTryTimeoutMs = f.durationMs('per_try_timeout', 0);
  p.retriableStatusCodes = new Set(f.raw('retriable_status_codes') as number[] ?? []);
  p.hostSelectionMaxAttempts = f.num('host_selection_retry_max_attempts', 1);
  for (const pred of f.list('retry_host_predicate')) {
    const name = pred.str('name');
    const tc = pred.opt('typed_config');
    const t = tc?.str('@type') ?? '';
    tc?.done();
    pred.done();
    if (name === 'envoy.retry_host_predicates.previous_hosts' || t.endsWith('PreviousHostsPredicate')) p.previousHosts = true;
    else pred.error('name', `retry host predicate ${JSON.stringify(name)} not supported by spar proxy`);
  }
  const bo = f.opt('retry_back_off');
  if (bo) {
    p.baseIntervalMs = bo.durationMs('base_interval', 25);
    p.maxIntervalMs = bo.durationMs('max_interval', p.baseIntervalMs * 10);
    bo.done();
  }
  f.unsupported('retry_priority', 'not supported by spar proxy');
  f.unsupported('retriable_headers', 'not supported by spar proxy yet');
  f.unsupported('retriable_request_headers', 'not supported by spar proxy yet');
  f.unsupported('rate_limited_retry_back_off', 'not supported by spar proxy');
  f.unsupported('per_try_idle_timeout', 'not supported by spar proxy yet');
  f.unsupported('retry_options_predicates');
  f.done();
  return p;
}
