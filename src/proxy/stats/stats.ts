/**
 * The stats store: Envoy's counters, gauges and histograms, named as Envoy names them
 * (`cluster.<name>.upstream_rq_total`, `http.<prefix>.downstream_rq_2xx` ...). Components fetch
 * their counter objects once at config time; the request path only does `c.value++`.
 * Tags (for Prometheus) are attached at creation: Envoy's tag extraction rules, kept simple here by
 * declaring the tagged prefix where the stat is made.
 */

export interface Counter {
  value: number;
}
export interface Gauge {
  value: number;
}

/** Envoy's default histogram buckets (milliseconds). */
export const DEFAULT_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

export class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: readonly number[] = DEFAULT_BUCKETS) {
    this.counts = new Array(buckets.length).fill(0);
  }
  record(v: number): void {
    this.sum += v;
    this.count++;
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]) {
        this.counts[i]++;
        return;
      }
    }
  }
}

/** A Prometheus-style labelled metric family (Istio's metrics). */
export interface LabelledFamily<T> {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram' | 'gauge';
  readonly series: Map<string, { labels: string; metric: T }>;
}

export class StatsStore {
  readonly counters = new Map<string, Counter>();
  readonly gauges = new Map<string, Gauge>();
  readonly histograms = new Map<string, Histogram>();
  readonly families = new Map<string, LabelledFamily<Counter | Histogram>>();

  counter(name: string): Counter {
    let c = this.counters.get(name);
    if (!c) {
      c = { value: 0 };
      this.counters.set(name, c);
    }
    return c;
  }
  gauge(name: string): Gauge {
    let g = this.gauges.get(name);
    if (!g) {
      g = { value: 0 };
      this.gauges.set(name, g);
    }
    return g;
  }
  histogram(name: string, buckets?: readonly number[]): Histogram {
    let h = this.histograms.get(name);
    if (!h) {
      h = new Histogram(buckets);
      this.histograms.set(name, h);
    }
    return h;
  }
  family<T extends Counter | Histogram>(name: string, help: string, type: 'counter' | 'histogram'): LabelledFamily<T> {
    let f = this.families.get(name);
    if (!f) {
      f = { name, help, type, series: new Map() };
      this.families.set(name, f);
    }
    return f as LabelledFamily<T>;
  }
}

/** The per-cluster stats Envoy keeps (a subset, named as Envoy names them). */
export function clusterStats(store: StatsStore, cluster: string) {
  const p = `cluster.${cluster}.`;
  return {
    upstream_rq_total: store.counter(p + 'upstream_rq_total'),
    upstream_rq_completed: store.counter(p + 'upstream_rq_completed'),
    upstream_rq_2xx: store.counter(p + 'upstream_rq_2xx'),
    upstream_rq_3xx: store.counter(p + 'upstream_rq_3xx'),
    upstream_rq_4xx: store.counter(p + 'upstream_rq_4xx'),
    upstream_rq_5xx: store.counter(p + 'upstream_rq_5xx'),
    upstream_rq_timeout: store.counter(p + 'upstream_rq_timeout'),
    upstream_rq_retry: store.counter(p + 'upstream_rq_retry'),
    upstream_rq_pending_overflow: store.counter(p + 'upstream_rq_pending_overflow'),
    upstream_cx_total: store.counter(p + 'upstream_cx_total'),
    upstream_cx_connect_fail: store.counter(p + 'upstream_cx_connect_fail'),
    upstream_cx_connect_timeout: store.counter(p + 'upstream_cx_connect_timeout'),
    upstream_cx_destroy_remote: store.counter(p + 'upstream_cx_destroy_remote'),
    upstream_cx_tx_bytes_total: store.counter(p + 'upstream_cx_tx_bytes_total'),
    upstream_cx_rx_bytes_total: store.counter(p + 'upstream_cx_rx_bytes_total'),
    upstream_rq_active: store.gauge(p + 'upstream_rq_active'),
    upstream_cx_active: store.gauge(p + 'upstream_cx_active'),
    membership_total: store.gauge(p + 'membership_total'),
    membership_healthy: store.gauge(p + 'membership_healthy'),
    upstream_cx_none_healthy: store.counter(p + 'upstream_cx_none_healthy'),
  };
}
export type ClusterStats = ReturnType<typeof clusterStats>;

/** The HTTP connection manager's stats (`http.<stat_prefix>.`). */
export function hcmStats(store: StatsStore, prefix: string) {
  const p = `http.${prefix}.`;
  return {
    downstream_rq_total: store.counter(p + 'downstream_rq_total'),
    downstream_rq_1xx: store.counter(p + 'downstream_rq_1xx'),
    downstream_rq_2xx: store.counter(p + 'downstream_rq_2xx'),
    downstream_rq_3xx: store.counter(p + 'downstream_rq_3xx'),
    downstream_rq_4xx: store.counter(p + 'downstream_rq_4xx'),
    downstream_rq_5xx: store.counter(p + 'downstream_rq_5xx'),
    downstream_rq_active: store.gauge(p + 'downstream_rq_active'),
    downstream_cx_total: store.counter(p + 'downstream_cx_total'),
    downstream_cx_active: store.gauge(p + 'downstream_cx_active'),
    downstream_rq_http1_total: store.counter(p + 'downstream_rq_http1_total'),
    downstream_rq_http2_total: store.counter(p + 'downstream_rq_http2_total'),
    no_route: store.counter(p + 'no_route'),
    no_cluster: store.counter(p + 'no_cluster'),
    rq_direct_response: store.counter(p + 'rq_direct_response'),
    rq_redirect: store.counter(p + 'rq_redirect'),
    downstream_cx_protocol_error: store.counter(p + 'downstream_cx_protocol_error'),
    downstream_rq_rx_reset: store.counter(p + 'downstream_rq_rx_reset'),
  };
}
export type HcmStats = ReturnType<typeof hcmStats>;
