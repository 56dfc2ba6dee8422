/**
 * Circuit breakers (envoy.config.cluster.v3.CircuitBreakers), per cluster and routing priority
 * (DEFAULT, HIGH; a route's `priority` picks one): four resources — connections, pending requests,
 * requests, retries — each a live count against its max. A resource at its max is "open"
 * (`circuit_breakers.<priority>.{cx,rq_pending,rq,rq_retry}_open` gauges); `track_remaining` adds the
 * `remaining_*` gauges. The counting is done where the resource is taken: the connection pools
 * (http1-pool.ts, h2-pool.ts), the router (retries) and tcp_proxy (connections).
 */
import type { Fields } from '../config/fields.js';
import type { Counter, Gauge, StatsStore } from '../stats/stats.js';

export interface Thresholds {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
  trackRemaining: boolean;
  /**
   * retry_budget: when set, replaces max_retries by a share of the requests in flight —
   * max(min_retry_concurrency, budget_percent % of (active + pending requests)).
   */
  retryBudget?: { percent: number; minConcurrency: number };
}

/** Envoy's defaults when a priority has no thresholds. */
export const DEFAULT_THRESHOLDS: Thresholds = { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3, trackRemaining: false };

/** Routing priority: index into a cluster's resource managers. */
export type Priority = 0 | 1;
export const PRIORITY_NAMES = ['default', 'high'] as const;

/** Reads `circuit_breakers`: thresholds for [DEFAULT, HIGH] (the first entry per priority wins, as Envoy). */
export function readCircuitBreakers(cb: Fields | undefined): [Thresholds, Thresholds] {
  const out: [Thresholds | undefined, Thresholds | undefined] = [undefined, undefined];
  if (!cb) return [DEFAULT_THRESHOLDS, DEFAULT_THRESHOLDS];
  for (const t of cb.list('thresholds')) {
    const prio = t.enumOf('priority', ['DEFAULT', 'HIGH'] as const, 'DEFAULT') === 'HIGH' ? 1 : 0;
    const th: Thresholds = {
      maxConnections: t.num('max_connections', 1024),
      maxPendingRequests: t.num('max_pending_requests', 1024),
      maxRequests: t.num('max_requests', 1024),
      maxRetries: t.num('max_retries', 3),
      trackRemaining: t.bool('track_remaining'),
    };
    const rb = t.opt('retry_budget');
    if (rb) {
      // budget_percent is an envoy.type.v3.Percent ({value}); min_retry_concurrency a bare UInt32Value.
      const bp = rb.opt('budget_percent');
      const percent = bp ? bp.num('value', 20) : 20;
      bp?.done();
      th.retryBudget = { percent, minConcurrency: rb.num('min_retry_concurrency', 3) };
      rb.done();
    }
    t.unsupported('max_connection_pools', 'not supported by spar proxy yet');
    t.done();
    out[prio] ??= th;
  }
  cb.unsupported('per_host_thresholds', 'per-host circuit breakers are not supported by spar proxy yet');
  cb.done();
  return [out[0] ?? DEFAULT_THRESHOLDS, out[1] ?? DEFAULT_THRESHOLDS];
}

/** One resource: a count, its max, and the gauges that show them. */
export class Resource {
  count = 0;
  constructor(readonly max: number, private readonly open: Gauge, private readonly remaining: Gauge | undefined) {
    open.value = max > 0 ? 0 : 1;
    if (remaining) remaining.value = max;
  }
  canCreate(): boolean {
    return this.count < this.max;
  }
  inc(): void {
    this.count++;
    this.update();
  }
  dec(): void {
    this.count--;
    this.update();
  }
  private update(): void {
    const c = this.count, m = this.max;
    this.open.value = c >= m ? 1 : 0;
    if (this.remaining) this.remaining.value = c < m ? m - c : 0;
  }
}

/** The retries resource under a retry budget: its max follows the requests in flight. */
class RetryBudget extends Resource {
  constructor(private readonly budget: { percent: number; minConcurrency: number }, private readonly rq: Resource, private readonly pending: Resource, open: Gauge, remaining: Gauge | undefined) {
    super(budget.minConcurrency, open, remaining);
  }
  override canCreate(): boolean {
    const allowed = Math.max(this.budget.minConcurrency, Math.floor((this.budget.percent * (this.rq.count + this.pending.count)) / 100));
    return this.count < allowed;
  }
}

/** The resources of one priority of one cluster. */
export class ResourceManager {
  readonly connections: Resource;
  readonly pending: Resource;
  readonly requests: Resource;
  readonly retries: Resource;
  constructor(store: StatsStore, cluster: string, priority: Priority, t: Thresholds) {
    const p = `cluster.${cluster}.circuit_breakers.${PRIORITY_NAMES[priority]}.`;
    const rem = (n: string) => (t.trackRemaining ? store.gauge(p + n) : undefined);
    this.connections = new Resource(t.maxConnections, store.gauge(p + 'cx_open'), rem('remaining_cx'));
    this.pending = new Resource(t.maxPendingRequests, store.gauge(p + 'rq_pending_open'), rem('remaining_pending'));
    this.requests = new Resource(t.maxRequests, store.gauge(p + 'rq_open'), rem('remaining_rq'));
    this.retries = t.retryBudget
      ? new RetryBudget(t.retryBudget, this.requests, this.pending, store.gauge(p + 'rq_retry_open'), rem('remaining_retries'))
      : new Resource(t.maxRetries, store.gauge(p + 'rq_retry_open'), rem('remaining_retries'));
    // max_connection_pools is not supported (unlimited): its breaker never opens.
    store.gauge(p + 'cx_pool_open');
  }
}

/** The cluster stats circuit breaking moves (named as Envoy names them). */
export function breakerStats(store: StatsStore, cluster: string) {
  const p = `cluster.${cluster}.`;
  return {
    upstream_cx_overflow: store.counter(p + 'upstream_cx_overflow'),
    upstream_rq_pending_total: store.counter(p + 'upstream_rq_pending_total'),
    upstream_rq_pending_overflow: store.counter(p + 'upstream_rq_pending_overflow'),
    /** Pending requests failed by their connection's failure (Envoy fails a connection's waiters together; Spar counts each). */
    upstream_rq_pending_failure_eject: store.counter(p + 'upstream_rq_pending_failure_eject'),
    upstream_rq_pending_active: store.gauge(p + 'upstream_rq_pending_active'),
    /** max_requests overflow (Envoy 1.40 counts it here, not in upstream_rq_pending_overflow). */
    upstream_rq_active_overflow: store.counter(p + 'upstream_rq_active_overflow'),
    upstream_rq_cancelled: store.counter(p + 'upstream_rq_cancelled'),
    upstream_rq_retry_overflow: store.counter(p + 'upstream_rq_retry_overflow'),
    upstream_cx_active: store.gauge(p + 'upstream_cx_active'),
  } satisfies Record<string, Counter | Gauge>;
}
export type BreakerStats = ReturnType<typeof breakerStats>;

/** What a host's pools need from their cluster. */
export interface PoolOwner {
  readonly resources: readonly [ResourceManager, ResourceManager];
  readonly cb: BreakerStats;
}
