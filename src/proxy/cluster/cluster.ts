/**
 * envoy.config.cluster.v3.Cluster: compiled config and the live cluster (its hosts and balancer).
 * Discovery types: STATIC and EDS (hosts from a ClusterLoadAssignment), STRICT_DNS and LOGICAL_DNS
 * (hosts resolved and re-resolved every dns_refresh_rate), ORIGINAL_DST (the connection's original
 * destination is the host).
 */
import { lookup } from 'node:dns/promises';
import { ConfigErrors, Fields } from '../config/fields.js';
import type { EnvoyJson } from '../../xds/codec.js';
import { LeastRequest, Maglev, RandomLb, RingHash, RoundRobin, type LoadBalancer } from '../lb/load-balancer.js';
import { clusterStats, type ClusterStats, type StatsStore } from '../stats/stats.js';
import { Host, type HealthStatus, type PoolOptions } from './host.js';
import { OutlierDetector, readOutlierDetection, type OutlierConfig } from './outlier.js';
import { ResourceManager, breakerStats, readCircuitBreakers, type BreakerStats, type PoolOwner, type Thresholds } from './circuit-breaker.js';
import { SecretManager } from '../tls/secrets.js';
import { readUpstreamTransport, type UpstreamTransport } from '../tls/transport-socket.js';

export type DiscoveryType = 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'EDS' | 'ORIGINAL_DST';
const TYPES: readonly DiscoveryType[] = ['STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS', 'ORIGINAL_DST'];
const LB_POLICIES = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'MAGLEV', 'CLUSTER_PROVIDED'] as const;
type LbPolicy = (typeof LB_POLICIES)[number];

const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

export interface EndpointSpec {
  ip: string;
  port: number;
  weight: number;
  health: HealthStatus;
  locality: string;
  metadata: unknown;
  hostname: string;
}

export interface ClusterConfig {
  name: string;
  type: DiscoveryType;
  connectTimeoutMs: number;
  lbPolicy: LbPolicy;
  makeLb: () => LoadBalancer;
  /** From load_assignment (STATIC, DNS), or an EDS update. */
  endpoints: EndpointSpec[];
  /** DNS names to resolve (STRICT_DNS / LOGICAL_DNS). */
  dnsTargets: { host: string; port: number; weight: number }[];
  dnsRefreshMs: number;
  dnsFamily: 'V4_ONLY' | 'V6_ONLY' | 'AUTO' | 'V4_PREFERRED' | 'ALL';
  edsServiceName: string;
  panicThresholdPct: number;
  pool: PoolOptions;
  /** upstream_connection_options.tcp_keepalive.keepalive_time, ms. */
  tcpKeepaliveMs?: number;
  /** circuit_breakers thresholds for [DEFAULT, HIGH] priority. */
  breakers: [Thresholds, Thresholds];
  /** The DEFAULT priority's thresholds (as /clusters prints them). */
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
  /** Upstream protocol: http1 unless http2_protocol_options are set (explicit or by downstream). */
  upstreamHttp2: boolean;
  useDownstreamProtocol: boolean;
  /** upstream_bind_config.source_address: the local address upstream connections bind to. */
  sourceAddress?: string;
  /** transport_socket / transport_socket_matches (undefined: plaintext to every endpoint). */
  transport?: UpstreamTransport;
  /** outlier_detection (undefined: none, and no cost). */
  outlier?: OutlierConfig;
  /** The resource as given (for /config_dump). */
  json: EnvoyJson;
}

/** Reads endpoints of a ClusterLoadAssignment (`load_assignment` or an EDS resource). */
export function readLoadAssignment(f: Fields, dnsTargets?: ClusterConfig['dnsTargets']): EndpointSpec[] {
  f.ignore('cluster_name');
  const out: EndpointSpec[] = [];
  for (const le of f.list('endpoints')) {
    const loc = le.opt('locality');
    let locality = '';
    if (loc) {
      locality = [loc.str('region'), loc.str('zone'), loc.str('sub_zone')].join('/');
      loc.done();
    }
    const lw = le.num('load_balancing_weight', 1);
    le.unsupportedIfSet('priority', 'priorities other than 0 are not supported by spar proxy');
    for (const ep of le.list('lb_endpoints')) {
      const weight = ep.num('load_balancing_weight', 1) * lw;
      const health = ep.enumOf('health_status', ['UNKNOWN', 'HEALTHY', 'UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED'] as const, 'UNKNOWN');
      const metadata = ep.raw('metadata');
      const e = ep.obj_('endpoint');
      const addr = e.obj_('address');
      const sa = addr.obj_('socket_address');
      const ip = sa.str('address');
      const port = sa.num('port_value');
      sa.enumOf('protocol', ['TCP'] as const, 'TCP');
      sa.done();
      addr.done();
      const hostname = e.str('hostname');
      const hc = e.opt('health_check_config');
      if (hc) hc.done();
      e.done();
      ep.done();
      if (dnsTargets) dnsTargets.push({ host: ip, port, weight });
      else out.push({ ip, port, weight, health, locality, metadata, hostname });
    }
    le.done();
  }
  const policy = f.opt('policy');
  if (policy) {
    policy.unsupported('drop_overloads');
    policy.num('overprovisioning_factor', 140);
    policy.done();
  }
  f.unsupported('named_endpoints');
  f.done();
  return out;
}

export function compileCluster(json: EnvoyJson, errs: ConfigErrors, secrets: SecretManager = new SecretManager()): ClusterConfig {
  const name = typeof json.name === 'string' ? json.name : '';
  const f = new Fields(json, `Cluster ${JSON.stringify(name)}`, errs);
  f.ignore('name', 'alt_stat_name', 'metadata');
  if (!name) f.error('name', 'required');
  const type = f.enumOf('type', TYPES, 'STATIC');
  f.unsupported('cluster_type', 'custom cluster types are not supported by spar proxy');
  const connectTimeoutMs = f.durationMs('connect_timeout', 5000);
  const lbPolicy = f.enumOf('lb_policy', LB_POLICIES, 'ROUND_ROBIN');
  if (lbPolicy === 'CLUSTER_PROVIDED' && type !== 'ORIGINAL_DST') f.error('lb_policy', 'CLUSTER_PROVIDED is only valid with ORIGINAL_DST clusters');
  let makeLb: () => LoadBalancer;
  switch (lbPolicy) {
    case 'LEAST_REQUEST': {
      const c = f.opt('least_request_lb_config');
      const n = c?.num('choice_count', 2) ?? 2;
      c?.done();
      makeLb = () => new LeastRequest(n);
      break;
    }
    case 'RANDOM': makeLb = () => new RandomLb(); break;
    case 'RING_HASH': {
      const c = f.opt('ring_hash_lb_config');
      const min = c?.num('minimum_ring_size', 1024) ?? 1024;
      const max = c?.num('maximum_ring_size', 8388608) ?? 8388608;
      c?.enumOf('hash_function', ['XX_HASH'] as const, 'XX_HASH');
      c?.done();
      makeLb = () => new RingHash(min, max);
      break;
    }
    case 'MAGLEV': {
      const c = f.opt('maglev_lb_config');
      const size = c?.num('table_size', 65537) ?? 65537;
      c?.done();
      makeLb = () => new Maglev(size);
      break;
    }
    default: makeLb = () => new RoundRobin();
  }
  // Circuit breakers per priority (Envoy's defaults 1024/1024/1024/3).
  const breakers = readCircuitBreakers(f.opt('circuit_breakers'));
  const { maxConnections, maxPendingRequests, maxRequests, maxRetries } = breakers[0];
  let panicThresholdPct = 50;
  const clc = f.opt('common_lb_config');
  if (clc) {
    const p = clc.opt('healthy_panic_threshold');
    if (p) {
      // A Percent without `value` is 0 (proto3 default): xDS and proto JSON drop a zero value.
      panicThresholdPct = p.num('value', 0);
      p.done();
    }
    const lw = clc.opt('locality_weighted_lb_config');
    if (lw) lw.done(); // locality weights multiply endpoint weights (readLoadAssignment)
    clc.done();
  }
  // Upstream HTTP protocol options.
  let idleTimeoutMs = 3600_000, maxRequestsPerConnection = 0, upstreamHttp2 = false, useDownstreamProtocol = false;
  const teo = f.opt('typed_extension_protocol_options');
  if (teo) {
    for (const key of Object.keys(teo.obj)) {
      const o = teo.obj_(key);
      const t = o.str('@type');
      if (!t.endsWith('/' + HTTP_PROTOCOL_OPTIONS)) {
        o.error('@type', `protocol options ${JSON.stringify(t)} not supported by spar proxy`);
        continue;
      }
      const common = o.opt('common_http_protocol_options');
      if (common) {
        idleTimeoutMs = common.durationMs('idle_timeout', idleTimeoutMs);
        maxRequestsPerConnection = common.num('max_requests_per_connection', 0);
        common.done();
      }
      const readProto = (p: Fields) => {
        const h1 = p.opt('http_protocol_options');
        h1?.done();
        const h2 = p.opt('http2_protocol_options');
        if (h2) {
          h2.num('max_concurrent_streams', 2147483647);
          h2.num('initial_stream_window_size', 268435456);
          h2.num('initial_connection_window_size', 268435456);
          h2.done();
        }
        p.done();
        return { h1: !!h1, h2: !!h2 };
      };
      const ex = o.opt('explicit_http_config');
      if (ex) upstreamHttp2 = readProto(ex).h2;
      const ud = o.opt('use_downstream_protocol_config');
      if (ud) {
        readProto(ud);
        useDownstreamProtocol = true;
      }
      o.unsupported('auto_config', 'auto_config (ALPN upstream protocol selection) is not supported by spar proxy yet');
      o.done();
    }
  }
  const h2 = f.opt('http2_protocol_options');
  if (h2) {
    h2.done();
    upstreamHttp2 = true;
  }
  const dnsTargets: ClusterConfig['dnsTargets'] = [];
  let endpoints: EndpointSpec[] = [];
  const isDns = type === 'STRICT_DNS' || type === 'LOGICAL_DNS';
  const la = f.opt('load_assignment');
  if (la) endpoints = readLoadAssignment(la, isDns ? dnsTargets : undefined);
  if (type === 'LOGICAL_DNS' && dnsTargets.length !== 1) f.error('load_assignment', 'LOGICAL_DNS clusters must have exactly one endpoint');
  let edsServiceName = '';
  const eds = f.opt('eds_cluster_config');
  if (eds) {
    edsServiceName = eds.str('service_name');
    const src = eds.obj_('eds_config');
    if (!src.has('ads')) src.error('', 'only ads config sources are supported by spar proxy for EDS');
    src.opt('ads')?.done();
    src.enumOf('resource_api_version', ['V3'] as const, 'V3');
    src.durationMs('initial_fetch_timeout', 15000);
    src.done();
    eds.done();
  }
  if (type === 'EDS' && !eds) f.error('eds_cluster_config', 'required for EDS clusters');
  const dnsRefreshMs = f.durationMs('dns_refresh_rate', 5000);
  f.bool('respect_dns_ttl');
  const dnsFamily = f.enumOf('dns_lookup_family', ['AUTO', 'V4_ONLY', 'V6_ONLY', 'V4_PREFERRED', 'ALL'] as const, 'AUTO');
  f.durationMs('cleanup_interval', 5000);
  f.num('per_connection_buffer_limit_bytes'); // flow control: Node streams apply backpressure per connection
  let tcpKeepaliveMs: number | undefined;
  const uco = f.opt('upstream_connection_options');
  if (uco) {
    const ka = uco.opt('tcp_keepalive');
    if (ka) {
      // Node sets the idle time before probes; probe count and interval stay the kernel's.
      tcpKeepaliveMs = ka.num('keepalive_time', 7200) * 1000;
      ka.unsupportedIfSet('keepalive_probes', 'not supported by spar proxy (Node sets only keepalive_time)');
      ka.unsupportedIfSet('keepalive_interval', 'not supported by spar proxy (Node sets only keepalive_time)');
      ka.done();
    }
    uco.unsupportedIfSet('set_local_interface_name_on_upstream_connections', 'not supported by spar proxy');
    uco.unsupported('happy_eyeballs_config');
    uco.done();
  }
  const odc = f.opt('original_dst_lb_config');
  if (odc) {
    odc.unsupported('use_http_header');
    odc.done();
  }
  let sourceAddress: string | undefined;
  const ubc = f.opt('upstream_bind_config');
  if (ubc) {
    const sa = ubc.obj_('source_address');
    sourceAddress = sa.str('address');
    sa.unsupportedIfSet('port_value', 'a fixed source port is not supported by spar proxy (use 0)');
    sa.enumOf('protocol', ['TCP'] as const, 'TCP');
    sa.done();
    ubc.unsupported('freebind');
    ubc.unsupported('socket_options', 'raw socket options are not supported by spar proxy');
    ubc.unsupported('extra_source_addresses');
    ubc.unsupported('additional_source_addresses');
    ubc.unsupported('local_address_selector');
    ubc.done();
  }
  const transport = readUpstreamTransport(f, secrets, connectTimeoutMs);
  const odf = f.opt('outlier_detection');
  const outlier = odf ? readOutlierDetection(odf) : undefined;
  f.unsupported('health_checks', 'active health checking is not supported by spar proxy yet');
  f.unsupported('lb_subset_config', 'subset load balancing is not supported by spar proxy yet');
  f.done();
  return {
    name, type, connectTimeoutMs, lbPolicy, makeLb, endpoints, dnsTargets, dnsRefreshMs, dnsFamily, edsServiceName: edsServiceName || name,
    panicThresholdPct, pool: { maxConnections, idleTimeoutMs, maxRequestsPerConnection, tcpKeepaliveMs }, tcpKeepaliveMs, breakers, maxPendingRequests, maxRequests, maxRetries,
    upstreamHttp2, useDownstreamProtocol, sourceAddress, transport, outlier, json,
  };
}

/** A live cluster: config + current hosts + balancer + stats. Replaced whole on a CDS update. */
export class Cluster implements PoolOwner {
  hosts: Host[] = [];
  readonly lb: LoadBalancer;
  readonly stats: ClusterStats;
  /** Outlier detection (outlier.ts), when configured. */
  readonly outlier: OutlierDetector | undefined;
  /** Circuit breaker resources per priority [DEFAULT, HIGH], and the stats they move. */
  readonly resources: readonly [ResourceManager, ResourceManager];
  readonly cb: BreakerStats;
  /** Requests in the router (started, not finished). */
  active = 0;
  /** EDS clusters wait for their first assignment, TLS clusters for their SDS secrets ("warming"). */
  get warm(): boolean {
    if (!this.endpointsWarm) return false;
    // Once its secrets have arrived a cluster stays active (a later SDS removal fails connections instead).
    return this.secretsWarm || (this.secretsWarm = this.config.transport?.ready ?? true);
  }
  set warm(v: boolean) {
    this.endpointsWarm = v;
  }
  private endpointsWarm = false;
  private secretsWarm = false;
  private dnsTimer: NodeJS.Timeout | undefined;
  lastUpdated = new Date();

  constructor(readonly config: ClusterConfig, stats: StatsStore) {
    this.lb = config.makeLb();
    this.stats = clusterStats(stats, config.name);
    this.outlier = config.outlier && new OutlierDetector(config.outlier, stats, config.name, () => this.healthChanged());
    this.resources = [new ResourceManager(stats, config.name, 0, config.breakers[0]), new ResourceManager(stats, config.name, 1, config.breakers[1])];
    this.cb = breakerStats(stats, config.name);
    this.warm = config.type !== 'EDS';
    if (config.type === 'STATIC') this.setEndpoints(config.endpoints);
    if (config.type === 'STRICT_DNS' || config.type === 'LOGICAL_DNS') {
      void this.resolve();
    }
  }

  /** Replaces the host set (keeping Host objects, and their pools, for endpoints that stayed). */
  setEndpoints(eps: EndpointSpec[]): void {
    const old = new Map(this.hosts.map((h) => [`${h.address}|${h.weight}|${h.health}`, h]));
    const next = eps.map((e) => {
      const addr = e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
      const key = `${addr}|${e.weight}|${e.health}`;
      const h = old.get(key) ?? new Host(e.ip, e.port, e.weight, e.health, e.locality, e.metadata, this.config.pool, this);
      old.delete(key);
      h.hostname = e.hostname;
      const tls = this.config.transport?.forEndpoint(e.metadata);
      if (h.tls !== tls) {
        h.drain();
        h.tls = tls;
      }
      return h;
    });
    for (const h of old.values()) h.drain();
    this.hosts = next;
    this.outlier?.setHosts(next);
    this.lb.update(next, this.config.panicThresholdPct);
    this.stats.membership_total.value = next.length;
    this.stats.membership_healthy.value = next.filter((h) => h.healthy).length;
    this.warm = true;
    this.lastUpdated = new Date();
  }

  /** A host was ejected or returned: rebalance (panic mode counts ejected hosts as unhealthy). */
  private healthChanged(): void {
    this.lb.update(this.hosts, this.config.panicThresholdPct);
    this.stats.membership_healthy.value = this.hosts.filter((h) => h.healthy).length;
  }

  private async resolve(): Promise<void> {
    const c = this.config;
    const family = c.dnsFamily === 'V4_ONLY' ? 4 : c.dnsFamily === 'V6_ONLY' ? 6 : 0;
    const eps: EndpointSpec[] = [];
    for (const t of c.dnsTargets) {
      try {
        const addrs = await lookup(t.host, { all: true, family, order: c.dnsFamily === 'V4_PREFERRED' ? 'ipv4first' : 'verbatim' } as never) as unknown as { address: string }[];
        const use = c.type === 'LOGICAL_DNS' ? addrs.slice(0, 1) : addrs;
        for (const a of use) eps.push({ ip: a.address, port: t.port, weight: t.weight, health: 'UNKNOWN', locality: '', metadata: undefined, hostname: t.host });
      } catch {
        // keep the previous hosts of this name when resolution fails (Envoy does the same)
        for (const h of this.hosts) if (h.port === t.port) eps.push({ ip: h.ip, port: h.port, weight: h.weight, health: h.health, locality: '', metadata: undefined, hostname: h.hostname });
      }
    }
    if (this.closed) return;
    this.setEndpoints(eps);
    this.dnsTimer = setTimeout(() => void this.resolve(), c.dnsRefreshMs);
    this.dnsTimer.unref();
  }

  private closed = false;
  /** Stops DNS refresh and closes idle pooled connections. */
  close(): void {
    this.closed = true;
    this.outlier?.close();
    if (this.dnsTimer) clearTimeout(this.dnsTimer);
    for (const h of this.hosts) h.drain();
  }

  /** ORIGINAL_DST: a host for the connection's original destination (cached per address). */
  private origHosts = new Map<string, Host>();
  originalDstHost(ip: string, port: number): Host {
    const key = `${ip}:${port}`;
    let h = this.origHosts.get(key);
    if (!h) {
      h = new Host(ip, port, 1, 'HEALTHY', '', undefined, this.config.pool, this);
      h.tls = this.config.transport?.forEndpoint(undefined);
      this.origHosts.set(key, h);
    }
    return h;
  }
}
