/**
 * Outlier detection (envoy.config.cluster.v3.OutlierDetection), as Envoy documents it: passive
 * health checking from the results the router reports for each attempt.
 *
 * Per host (HostOutlier, `host.outlier`), the request path only counts: consecutive 5xx, consecutive
 * gateway failures (502/503/504), consecutive local-origin failures (split mode), and the
 * success/failure totals of the current interval. A consecutive counter reaching its threshold is a
 * detection, handled at once: the ejection algorithm checks max_ejection_percent (Envoy 1.40: the
 * ejection must keep ejected hosts at or below that percentage, unless always_eject_one_host and
 * none is ejected yet), then the enforcing_* percentage, then ejects for
 * base_ejection_time × (times ejected in a row), capped by max_ejection_time, plus random jitter up
 * to max_ejection_time_jitter. Every `interval` a timer (unref'd) returns hosts whose ejection time
 * has passed, decrements the multiplier of hosts that stayed healthy, and runs success-rate and
 * failure-percentage detection over the interval's totals.
 *
 * Locally originated failures (connect failure, reset, timeout): without
 * split_external_local_origin_errors they count as 503 (connect failure, reset) or 504 (timeout);
 * with it they are counted apart, and a response (or a failure after the connection was made) also
 * counts as the connection's success, as Envoy reports one when its pool hands over a connection.
 *
 * Ejected hosts are unhealthy for the load balancer (panic mode counts them as such); the cluster
 * rebuilds its balancer on every ejection and return.
 */
import type { Fields } from '../config/fields.js';
import type { Counter, Gauge, StatsStore } from '../stats/stats.js';
import type { Host } from './host.js';

export interface OutlierConfig {
  consecutive5xx: number;
  consecutiveGatewayFailure: number;
  consecutiveLocalOriginFailure: number;
  intervalMs: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  maxJitterMs: number;
  maxEjectionPercent: number;
  alwaysEjectOneHost: boolean;
  split: boolean;
  successRateMinimumHosts: number;
  successRateRequestVolume: number;
  successRateStdevFactor: number;
  failurePercentageThreshold: number;
  failurePercentageMinimumHosts: number;
  failurePercentageRequestVolume: number;
  /** enforcing_* percentages by ejection type. */
  enforcing: Record<EjectionType, number>;
}

export type EjectionType =
  | 'consecutive_5xx' | 'consecutive_gateway_failure' | 'consecutive_local_origin_failure'
  | 'success_rate' | 'local_origin_success_rate' | 'failure_percentage' | 'local_origin_failure_percentage';
const TYPES: readonly EjectionType[] = ['consecutive_5xx', 'consecutive_gateway_failure', 'consecutive_local_origin_failure', 'success_rate',
  'local_origin_success_rate', 'failure_percentage', 'local_origin_failure_percentage'];

/** Reads a Cluster's `outlier_detection` (defaults as Envoy documents them). */
export function readOutlierDetection(f: Fields): OutlierConfig {
  const pct = (k: string, def: number): number => {
    const v = f.num(k, def);
    if (v < 0 || v > 100) f.error(k, 'must be between 0 and 100');
    return v;
  };
  const positive = (k: string, def: number): number => {
    const v = f.durationMs(k, def);
    if (f.has(k) && v <= 0) f.error(k, 'must be greater than 0s');
    return v;
  };
  const baseEjectionMs = positive('base_ejection_time', 30_000);
  const cfg: OutlierConfig = {
    consecutive5xx: f.num('consecutive_5xx', 5),
    consecutiveGatewayFailure: f.num('consecutive_gateway_failure', 5),
    consecutiveLocalOriginFailure: f.num('consecutive_local_origin_failure', 5),
    intervalMs: positive('interval', 10_000),
    baseEjectionMs,
    // Unset: 300 s or base_ejection_time, whichever is larger.
    maxEjectionMs: f.has('max_ejection_time') ? positive('max_ejection_time', 300_000) : Math.max(300_000, baseEjectionMs),
    maxJitterMs: f.durationMs('max_ejection_time_jitter', 0),
    maxEjectionPercent: pct('max_ejection_percent', 10),
    alwaysEjectOneHost: f.bool('always_eject_one_host', false),
    split: f.bool('split_external_local_origin_errors', false),
    successRateMinimumHosts: f.num('success_rate_minimum_hosts', 5),
    successRateRequestVolume: f.num('success_rate_request_volume', 100),
    successRateStdevFactor: f.num('success_rate_stdev_factor', 1900),
    failurePercentageThreshold: pct('failure_percentage_threshold', 85),
    failurePercentageMinimumHosts: f.num('failure_percentage_minimum_hosts', 5),
    failurePercentageRequestVolume: f.num('failure_percentage_request_volume', 50),
    enforcing: {
      consecutive_5xx: pct('enforcing_consecutive_5xx', 100),
      consecutive_gateway_failure: pct('enforcing_consecutive_gateway_failure', 0),
      consecutive_local_origin_failure: pct('enforcing_consecutive_local_origin_failure', 100),
      success_rate: pct('enforcing_success_rate', 100),
      local_origin_success_rate: pct('enforcing_local_origin_success_rate', 100),
      failure_percentage: pct('enforcing_failure_percentage', 0),
      local_origin_failure_percentage: pct('enforcing_failure_percentage_local_origin', 0),
    },
  };
  // Active health checking is not supported, so a health check can never uneject a host.
  f.bool('successful_active_health_check_uneject_host', true);
  f.unsupportedIfSet('monitors', 'outlier detection monitors are not supported by spar proxy');
  f.done();
  return cfg;
}

/** cluster.<name>.outlier_detection.* as Envoy names them. */
function outlierStats(store: StatsStore, cluster: string) {
  const p = `cluster.${cluster}.outlier_detection.`;
  const detected = {} as Record<EjectionType, Counter>;
  const enforced = {} as Record<EjectionType, Counter>;
  for (const t of TYPES) {
    detected[t] = store.counter(`${p}ejections_detected_${t}`);
    enforced[t] = store.counter(`${p}ejections_enforced_${t}`);
  }
  store.counter(`${p}ejections_detected_degradation`); // Envoy keeps it (always 0 for HTTP)
  return {
    detected,
    enforced,
    active: store.gauge(`${p}ejections_active`) as Gauge,
    enforcedTotal: store.counter(`${p}ejections_enforced_total`),
    overflow: store.counter(`${p}ejections_overflow`),
    // Deprecated names Envoy still keeps.
    total: store.counter(`${p}ejections_total`),
    legacy5xx: store.counter(`${p}ejections_consecutive_5xx`),
    legacySuccessRate: store.counter(`${p}ejections_success_rate`),
  };
}

/** One host's counters (the request path) and ejection state. */
export class HostOutlier {
  private c5xx = 0;
  private cGateway = 0;
  private cLocal = 0;
  /** This interval's totals: external (HTTP) and local-origin results. */
  extOk = 0;
  extFail = 0;
  localOk = 0;
  localFail = 0;
  ejected = false;
  ejectedAt = 0;
  /** This ejection's length (multiplier × base, capped, plus jitter). */
  ejectionMs = 0;
  /** The ejection time multiplier: times ejected in a row, decremented by healthy intervals. */
  multiplier = 0;
  /** Success rates computed at the last interval (-1: not computed), for /clusters. */
  successRate = -1;
  localSuccessRate = -1;

  constructor(private readonly d: OutlierDetector, readonly host: Host) {}

  /**
   * An upstream response with this status code. A gRPC request's response that carries grpc-status
   * in its headers (trailers-only) counts as the HTTP status that grpc-status maps to, as Envoy does.
   */
  result(code: number, grpcStatus?: string | string[], requestContentType?: unknown): void {
    if (this.d.cfg.split) this.localSuccess();
    if (grpcStatus !== undefined && typeof requestContentType === 'string' && requestContentType.startsWith('application/grpc')) code = grpcToHttp(Number(grpcStatus));
    this.external(code);
  }

  /** A connection made (tcp_proxy: the whole transaction succeeded as far as the proxy can tell). */
  connectSuccess(): void {
    if (this.d.cfg.split) this.localSuccess();
    else this.external(200);
  }

  /** A locally originated failure: connection failure, reset, or timeout. */
  localOriginFailure(kind: 'connect' | 'reset' | 'timeout'): void {
    const cfg = this.d.cfg;
    if (!cfg.split) return this.external(kind === 'timeout' ? 504 : 503);
    // After a connection was made (reset, timeout), Envoy first counted the connection's success.
    if (kind !== 'connect') this.localSuccess();
    this.localFail++;
    if (++this.cLocal === cfg.consecutiveLocalOriginFailure) {
      this.cLocal = 0;
      this.d.detected(this, 'consecutive_local_origin_failure');
    }
  }

  private localSuccess(): void {
    this.localOk++;
    this.cLocal = 0;
  }

  private external(code: number): void {
    if (code < 500) {
      this.extOk++;
      this.c5xx = 0;
      this.cGateway = 0;
      return;
    }
    this.extFail++;
    const cfg = this.d.cfg;
    if (code >= 502 && code <= 504) {
      if (++this.cGateway === cfg.consecutiveGatewayFailure) {
        this.cGateway = 0;
        this.d.detected(this, 'consecutive_gateway_failure');
      }
    } else this.cGateway = 0;
    if (++this.c5xx === cfg.consecutive5xx) {
      this.c5xx = 0;
      this.d.detected(this, 'consecutive_5xx');
    }
  }
}

/** gRPC status → HTTP status (the gRPC spec's mapping, as Envoy applies it); unknown codes are 500. */
const GRPC_HTTP = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];
function grpcToHttp(status: number): number {
  return Number.isInteger(status) && status >= 0 && status < GRPC_HTTP.length ? GRPC_HTTP[status] : 500;
}

/** The cluster's detector: the ejection algorithm and the interval sweep. */
export class OutlierDetector {
  private hosts: Host[] = [];
  private readonly stats: ReturnType<typeof outlierStats>;
  private readonly timer: NodeJS.Timeout;
  /** Cluster-wide success rate figures of the last sweep (-1: not computed), for /clusters. */
  successRateAverage = -1;
  successRateThreshold = -1;
  localSuccessRateAverage = -1;
  localSuccessRateThreshold = -1;

  constructor(readonly cfg: OutlierConfig, store: StatsStore, cluster: string, private readonly onHealthChange: () => void) {
    this.stats = outlierStats(store, cluster);
    this.timer = setInterval(() => this.sweep(), cfg.intervalMs);
    this.timer.unref();
  }

  /** The cluster's host set changed: monitor new hosts; forget removed ones (and their ejections). */
  setHosts(hosts: Host[]): void {
    const keep = new Set(hosts);
    for (const h of this.hosts) if (!keep.has(h) && h.outlier?.ejected) this.stats.active.value--;
    for (const h of hosts) h.outlier ??= new HostOutlier(this, h);
    this.hosts = hosts;
  }

  /** The cluster is gone (or replaced): stop the sweep; its ejections no longer count as active. */
  close(): void {
    clearInterval(this.timer);
    for (const h of this.hosts) if (h.outlier?.ejected) this.stats.active.value--;
    this.hosts = [];
  }

  /** A host was found to be an outlier: Envoy's ejection algorithm. */
  detected(m: HostOutlier, type: EjectionType): void {
    if (m.ejected || !this.hosts.includes(m.host)) return;
    const s = this.stats;
    s.detected[type].value++;
    if (type === 'consecutive_5xx') s.legacy5xx.value++;
    else if (type === 'success_rate') s.legacySuccessRate.value++;
    const active = s.active.value;
    if (100 * (active + 1) > this.cfg.maxEjectionPercent * this.hosts.length && !(this.cfg.alwaysEjectOneHost && active === 0)) {
      s.overflow.value++;
      return;
    }
    if (type === 'consecutive_5xx' || type === 'success_rate') s.total.value++;
    if (!(Math.random() * 100 < this.cfg.enforcing[type])) return;
    const cfg = this.cfg;
    if (cfg.baseEjectionMs * m.multiplier < cfg.maxEjectionMs) m.multiplier++;
    m.ejectionMs = Math.min(cfg.baseEjectionMs * m.multiplier, cfg.maxEjectionMs) + (cfg.maxJitterMs > 0 ? Math.floor(Math.random() * (cfg.maxJitterMs + 1)) : 0);
    m.ejected = true;
    m.ejectedAt = performance.now();
    m.host.ejected = true;
    s.active.value++;
    s.enforced[type].value++;
    s.enforcedTotal.value++;
    this.onHealthChange();
  }

  /** The interval timer: returns hosts, decays multipliers, runs the statistical detections. */
  sweep(): void {
    const now = performance.now();
    let changed = false;
    for (const h of this.hosts) {
      const m = h.outlier!;
      if (!m.ejected) {
        if (m.multiplier > 0) m.multiplier--;
      } else if (now - m.ejectedAt >= m.ejectionMs) {
        m.ejected = false;
        h.ejected = false;
        this.stats.active.value--;
        changed = true;
      }
    }
    if (changed) this.onHealthChange();
    this.statistical(false);
    if (this.cfg.split) this.statistical(true);
    for (const h of this.hosts) {
      const m = h.outlier!;
      m.extOk = m.extFail = m.localOk = m.localFail = 0;
    }
  }

  /** Success-rate and failure-percentage detection over this interval's totals. */
  private statistical(local: boolean): void {
    const cfg = this.cfg;
    const sr: { m: HostOutlier; rate: number }[] = [];
    const fp: { m: HostOutlier; rate: number }[] = [];
    let sum = 0;
    for (const h of this.hosts) {
      const m = h.outlier!;
      if (local) m.localSuccessRate = -1;
      else m.successRate = -1;
      if (m.ejected) continue;
      const ok = local ? m.localOk : m.extOk;
      const volume = ok + (local ? m.localFail : m.extFail);
      if (volume === 0) continue;
      const rate = (100 * ok) / volume;
      if (volume >= Math.min(cfg.successRateRequestVolume, cfg.failurePercentageRequestVolume)) {
        if (local) m.localSuccessRate = rate;
        else m.successRate = rate;
      }
      if (volume >= cfg.successRateRequestVolume) {
        sr.push({ m, rate });
        sum += rate;
      }
      if (volume >= cfg.failurePercentageRequestVolume) fp.push({ m, rate });
    }
    let average = -1, threshold = -1;
    if (sr.length > 0 && sr.length >= cfg.successRateMinimumHosts) {
      average = sum / sr.length;
      let sq = 0;
      for (const x of sr) sq += (x.rate - average) ** 2;
      threshold = average - Math.sqrt(sq / sr.length) * (cfg.successRateStdevFactor / 1000);
      for (const x of sr) if (x.rate < threshold) this.detected(x.m, local ? 'local_origin_success_rate' : 'success_rate');
    }
    if (local) [this.localSuccessRateAverage, this.localSuccessRateThreshold] = [average, threshold];
    else [this.successRateAverage, this.successRateThreshold] = [average, threshold];
    if (fp.length > 0 && fp.length >= cfg.failurePercentageMinimumHosts) {
      for (const x of fp) if (100 - x.rate >= cfg.failurePercentageThreshold) this.detected(x.m, local ? 'local_origin_failure_percentage' : 'failure_percentage');
    }
  }
}
