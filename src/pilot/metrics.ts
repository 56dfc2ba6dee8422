/**
 * The pilot's Prometheus metrics, under Istio's names (pilot_xds, pilot_xds_pushes,
 * pilot_proxy_convergence_time, pilot_total_xds_rejects ...) so existing dashboards and alerts
 * work. A small registry of counters, gauges and histograms rendered in the text exposition
 * format; one declaration here per metric.
 */

type Labels = Record<string, string>;

const keyOf = (l: Labels): string => Object.keys(l).sort().map((k) => `${k}="${escape(l[k])}"`).join(',');
const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

abstract class Metric {
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'gauge' | 'histogram') {}
  abstract lines(): string[];
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.lines()].join('\n');
  }
}

export class Counter extends Metric {
  private values = new Map<string, number>();
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = keyOf(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels)) ?? 0;
  }
  lines(): string[] {
    return [...this.values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ''} ${v}`);
  }
}

export class Gauge extends Metric {
  private values = new Map<string, number>();
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
  set(labels: Labels, v: number): void {
    this.values.set(keyOf(labels), v);
  }
  delete(labels: Labels): void {
    this.values.delete(keyOf(labels));
  }
  reset(): void {
    this.values.clear();
  }
  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels)) ?? 0;
  }
  lines(): string[] {
    return [...this.values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ''} ${v}`);
  }
}

export class Histogram extends Metric {
  private series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, readonly buckets: number[]) {
    super(name, help, 'histogram');
  }
  observe(labels: Labels, v: number): void {
    const k = keyOf(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    this.buckets.forEach((b, i) => {
      if (v <= b) s!.counts[i]++;
    });
    s.sum += v;
    s.count++;
  }
  count(labels: Labels = {}): number {
    return this.series.get(keyOf(labels))?.count ?? 0;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const [k, s] of this.series) {
      const pre = k ? `${k},` : '';
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket{${pre}le="${b}"} ${s.counts[i]}`));
      out.push(`${this.name}_bucket{${pre}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}`);
      out.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return out;
  }
}

const SECONDS = [0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30];
const BYTES = [1, 10000, 1000000, 4000000, 10000000, 40000000];

/** Every metric the pilot exports. */
export class PilotMetrics {
  readonly xds = new Gauge('pilot_xds', 'Number of endpoints connected to this pilot using XDS.');
  readonly pushes = new Counter('pilot_xds_pushes', 'Pilot build and send errors for lds, rds, cds and eds.');
  readonly convergence = new Histogram('pilot_proxy_convergence_time', 'Delay in seconds between config change and a proxy receiving all required configuration.', SECONDS);
  readonly pushTime = new Histogram('pilot_xds_push_time', 'Total time in seconds Pilot takes to push lds, rds, cds and eds.', SECONDS);
  readonly configSize = new Histogram('pilot_xds_config_size_bytes', 'Distribution of configuration sizes pushed to clients', BYTES);
  readonly rejects = new Counter('pilot_total_xds_rejects', 'Total number of XDS responses from pilot rejected by proxy.');
  readonly cdsReject = new Gauge('pilot_xds_cds_reject', 'Pilot rejected CDS configs.');
  readonly edsReject = new Gauge('pilot_xds_eds_reject', 'Pilot rejected EDS.');
  readonly ldsReject = new Gauge('pilot_xds_lds_reject', 'Pilot rejected LDS.');
  readonly rdsReject = new Gauge('pilot_xds_rds_reject', 'Pilot rejected RDS.');
  readonly expiredNonce = new Counter('pilot_xds_expired_nonce', 'Total number of XDS requests with an expired nonce.');
  readonly internalErrors = new Counter('pilot_total_xds_internal_errors', 'Total number of internal XDS errors in pilot.');
  readonly invalidResources = new Counter('pilot_xds_invalid_resources', 'Generated resources dropped before a push because Envoy would reject them (Spar).');
  readonly unackedAtDisconnect = new Counter('pilot_xds_unacked_at_disconnect', 'Streams that ended with a response of this type unanswered; large_response="true" when it was over the 4 MiB gRPC default receive limit (Spar).');
  readonly triggers = new Counter('pilot_push_triggers', 'Total number of times a push was triggered, labeled by reason for the push.');
  readonly debounceTime = new Histogram('pilot_debounce_time', 'Delay in seconds between the first config enters debouncing and the merged push request is pushed into the push queue.', SECONDS);
  readonly pushContextInit = new Histogram('pilot_pushcontext_init_seconds', 'Total time in seconds Pilot takes to init pushContext.', SECONDS);
  readonly services = new Gauge('pilot_services', 'Total services known to pilot.');
  readonly virtualServices = new Gauge('pilot_virt_services', 'Total virtual services known to pilot.');
  readonly destinationRules = new Gauge('pilot_destrule_subsets', 'Duplicate subsets across destination rules for same host');
  readonly rejectedConfigs = new Gauge('pilot_total_rejected_configs', 'Config resources rejected by validation and not served.');
  readonly info = new Gauge('istio_build', 'Istio component build info');

  /** Per-type NACK gauges (Istio's pilot_xds_<t>_reject{node, err}). */
  rejectGauge(short: string): Gauge | undefined {
    return { CDS: this.cdsReject, EDS: this.edsReject, LDS: this.ldsReject, RDS: this.rdsReject }[short];
  }

  render(): string {
    const all: Metric[] = Object.values(this).filter((m): m is Metric => m instanceof Metric);
    return all.map((m) => m.render()).join('\n') + '\n';
  }
}
