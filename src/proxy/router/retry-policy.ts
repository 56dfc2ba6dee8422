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
  /** reset-before-request: connect failures and resets before any response byte (the request may not have been seen). */
  onResetBeforeRequest: boolean;
  onRetriable4xx: boolean;
  onRefusedStream: boolean;
  onRetriableStatusCodes: boolean;
  grpcOn: Set<string>;
  retriableStatusCodes: Set<number>;
  previousHosts: boolean;
  hostSelectionMaxAttempts: number;
  baseIntervalMs: number;
  maxIntervalMs: number;
}

const KNOWN = new Set(['5xx', 'gateway-error', 'connect-failure', 'reset', 'retriable-4xx', 'refused-stream', 'retriable-status-codes',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable', 'reset-before-request', 'envoy-ratelimited', 'http3-post-connect-failure', 'retriable-headers']);

export function compileRetryPolicy(f: Fields): RetryPolicy {
  const on = f.str('retry_on').split(',').map((s) => s.trim()).filter(Boolean);
  for (const o of on) if (!KNOWN.has(o)) f.error('retry_on', `unknown retry condition ${JSON.stringify(o)}`);
  for (const o of ['envoy-ratelimited', 'http3-post-connect-failure', 'retriable-headers']) {
    if (on.includes(o)) f.error('retry_on', `retry condition ${o} is not supported by spar proxy`);
  }
  const p: RetryPolicy = {
    numRetries: f.num('num_retries', 1),
    perTryTimeoutMs: f.durationMs('per_try_timeout', 0),
    on5xx: on.includes('5xx'),
    onGatewayError: on.includes('gateway-error'),
    onConnectFailure: on.includes('connect-failure'),
    onReset: on.includes('reset'),
    onResetBeforeRequest: on.includes('reset-before-request'),
    onRetriable4xx: on.includes('retriable-4xx'),
    onRefusedStream: on.includes('refused-stream'),
    onRetriableStatusCodes: on.includes('retriable-status-codes'),
    grpcOn: new Set(on.filter((o) => ['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable'].includes(o))),
    retriableStatusCodes: new Set(f.raw('retriable_status_codes') as number[] ?? []),
    previousHosts: false,
    hostSelectionMaxAttempts: f.num('host_selection_retry_max_attempts', 1),
    baseIntervalMs: 25,
    maxIntervalMs: 250,
  };
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
