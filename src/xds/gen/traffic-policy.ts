/**
 * DestinationRule traffic policy → Envoy Cluster fields (Istio: cluster_traffic_policy.go):
 * which policy applies (top level, then port-level, then subset, each overriding whole
 * components), connection pool → circuit breakers and HTTP options, outlier detection, load
 * balancer (simple, consistent hash ring/maglev, warmup), and mutual TLS (auto or explicit).
 */
import type { ClientTLSSettings, ConnectionPoolSettings, LoadBalancerSettings, OutlierDetection, TrafficPolicy } from '../../api/types.js';
import type { EnvoyJson } from '../codec.js';
import { compact, duration, durationSeconds, HTTP_PROTOCOL_OPTIONS_KEY, Ext, MAX_UINT32 } from './common.js';
import { istioMutualUpstream, transportSocket, userUpstreamTls } from './tls.js';

type PortPolicy = NonNullable<TrafficPolicy['portLevelSettings']>[number];
type Components = Pick<TrafficPolicy, 'connectionPool' | 'loadBalancer' | 'outlierDetection' | 'tls' | 'proxyProtocol' | 'retryBudget'>;

function portLevel(p: Components & { portLevelSettings?: PortPolicy[] } | undefined, port: number): Components | undefined {
  return p?.portLevelSettings?.find((s) => s.port?.number === port);
}

function overlay(base: Components, over: Components | undefined): Components {
  if (!over) return base;
  return {
    connectionPool: over.connectionPool ?? base.connectionPool,
    loadBalancer: over.loadBalancer ?? base.loadBalancer,
    outlierDetection: over.outlierDetection ?? base.outlierDetection,
    tls: over.tls ?? base.tls,
    proxyProtocol: over.proxyProtocol ?? base.proxyProtocol,
    retryBudget: over.retryBudget ?? base.retryBudget,
  };
}

/** The policy for one cluster: top level < its port-level setting < subset < subset's port-level. */
export function effectivePolicy(top: TrafficPolicy | undefined, subset: TrafficPolicy | undefined, port: number): Components {
  let p: Components = top ? { connectionPool: top.connectionPool, loadBalancer: top.loadBalancer, outlierDetection: top.outlierDetection, tls: top.tls, proxyProtocol: top.proxyProtocol, retryBudget: top.retryBudget } : {};
  p = overlay(p, portLevel(top, port));
  if (subset) {
    p = overlay(p, subset);
    p = overlay(p, portLevel(subset, port));
  }
  return p;
}

/** A mutable Cluster under construction plus its HttpProtocolOptions (folded in by `finish`). */
export interface ClusterDraft {
  cluster: Record<string, unknown> & EnvoyJson;
  http?: Record<string, unknown>;
}

export function defaultCircuitBreakers(): EnvoyJson {
  return { thresholds: [{ max_connections: MAX_UINT32, max_pending_requests: MAX_UINT32, max_requests: MAX_UINT32, max_retries: MAX_UINT32, track_remaining: true }] };
}

export function applyConnectionPool(d: ClusterDraft, cp: ConnectionPoolSettings | undefined, budget?: TrafficPolicy['retryBudget']): void {
  const t: Record<string, unknown> = { max_connections: MAX_UINT32, max_pending_requests: MAX_UINT32, max_requests: MAX_UINT32, max_retries: MAX_UINT32, track_remaining: true };
  const h = cp?.http;
  const tcp = cp?.tcp;
  if (h?.http2MaxRequests) t.max_requests = h.http2MaxRequests;
  if (h?.http1MaxPendingRequests) t.max_pending_requests = h.http1MaxPendingRequests;
  if (h?.maxRetries) t.max_retries = h.maxRetries;
  if (tcp?.maxConnections) t.max_connections = tcp.maxConnections;
  if (budget) t.retry_budget = { budget_percent: { value: budget.percent ?? 20 }, min_retry_concurrency: budget.minRetryConcurrency || 3 };
  d.cluster.circuit_breakers = { thresholds: [t as EnvoyJson] };
  if (tcp?.connectTimeout) d.cluster.connect_timeout = duration(tcp.connectTimeout) ?? d.cluster.connect_timeout;
  if (tcp?.tcpKeepalive) {
    d.cluster.upstream_connection_options = {
      tcp_keepalive: compact({
        keepalive_probes: tcp.tcpKeepalive.probes,
        keepalive_time: durationSeconds(tcp.tcpKeepalive.time),
        keepalive_interval: durationSeconds(tcp.tcpKeepalive.interval),
      }),
    };
  }
  const idle = duration(h?.idleTimeout) ?? duration(tcp?.idleTimeout);
  const maxDur = duration(tcp?.maxConnectionDuration);
  const common = compact({
    idle_timeout: idle,
    max_requests_per_connection: h?.maxRequestsPerConnection || undefined,
    max_connection_duration: maxDur,
  });
  if (Object.keys(common).length) (d.http ??= {}).common_http_protocol_options = common;
  const h2 = ((d.http?.explicit_http_config as Record<string, unknown> | undefined)?.http2_protocol_options) as Record<string, unknown> | undefined;
  if (h2 && h?.maxConcurrentStreams) h2.max_concurrent_streams = h.maxConcurrentStreams;
  if (h2 && h?.http2KeepAlive) h2.connection_keepalive = compact({ interval: duration(h.http2KeepAlive.interval), timeout: duration(h.http2KeepAlive.timeout) });
  if (h?.useClientProtocol) useDownstreamProtocol(d);
}

export function setHttp2(d: ClusterDraft): void {
  (d.http ??= {}).explicit_http_config = { http2_protocol_options: {} };
}

export function useDownstreamProtocol(d: ClusterDraft): void {
  const http = (d.http ??= {});
  delete http.explicit_http_config;
  http.use_downstream_protocol_config = { http_protocol_options: {}, http2_protocol_options: {} };
}

export function applyOutlierDetection(d: ClusterDraft, od: OutlierDetection | undefined): void {
  if (!od) return;
  const out: Record<string, unknown> = { enforcing_success_rate: 0 };
  const c5 = od.consecutive5xxErrors ?? od.consecutiveErrors;
  if (c5 !== undefined) {
    out.consecutive_5xx = c5;
    out.enforcing_consecutive_5xx = c5 > 0 ? 100 : 0;
  }
  if (od.consecutiveGatewayErrors !== undefined) {
    out.consecutive_gateway_failure = od.consecutiveGatewayErrors;
    out.enforcing_consecutive_gateway_failure = od.consecutiveGatewayErrors > 0 ? 100 : 0;
  }
  if (od.interval) out.interval = duration(od.interval);
  if (od.baseEjectionTime) out.base_ejection_time = duration(od.baseEjectionTime);
  if (od.maxEjectionPercent) out.max_ejection_percent = od.maxEjectionPercent;
  if (od.splitExternalLocalOriginErrors) {
    out.split_external_local_origin_errors = true;
    if (od.consecutiveLocalOriginFailures) {
      out.consecutive_local_origin_failure = od.consecutiveLocalOriginFailures;
      out.enforcing_consecutive_local_origin_failure = 100;
    }
    out.enforcing_local_origin_success_rate = 0;
  }
  d.cluster.outlier_detection = compact(out);
  const minHealth = od.minHealthPercent ?? 0;
  if (minHealth >= 0) (d.cluster.common_lb_config as Record<string, unknown>).healthy_panic_threshold = { value: minHealth };
}

function slowStart(lb: LoadBalancerSettings): EnvoyJson | undefined {
  if (lb.warmup?.duration) {
    return compact({
      slow_start_window: duration(lb.warmup.duration),
      aggression: { default_value: lb.warmup.aggression ?? 1, runtime_key: '(' },
      min_weight_percent: { value: lb.warmup.minimumPercent ?? 10 },
    });
  }
  if (lb.warmupDurationSecs) return { slow_start_window: duration(lb.warmupDurationSecs) ?? '0s' };
  return undefined;
}

export function applyLoadBalancer(d: ClusterDraft, lb: LoadBalancerSettings | undefined): void {
  const c = d.cluster;
  if (c.type === 'ORIGINAL_DST') {
    c.lb_policy = 'CLUSTER_PROVIDED';
    return;
  }
  const ss = lb ? slowStart(lb) : undefined;
  switch (lb?.simple) {
    case 'RANDOM':
      c.lb_policy = 'RANDOM';
      break;
    case 'ROUND_ROBIN':
      c.lb_policy = 'ROUND_ROBIN';
      if (ss) c.round_robin_lb_config = { slow_start_config: ss };
      break;
    case 'PASSTHROUGH':
      c.type = 'ORIGINAL_DST';
      c.lb_policy = 'CLUSTER_PROVIDED';
      delete c.eds_cluster_config;
      delete c.load_assignment;
      return;
    default:
      c.lb_policy = 'LEAST_REQUEST';
      if (ss) c.least_request_lb_config = { slow_start_config: ss };
  }
  const ch = lb?.consistentHash;
  if (!ch) return;
  delete c.round_robin_lb_config;
  delete c.least_request_lb_config;
  if (ch.maglev) {
    c.lb_policy = 'MAGLEV';
    if (ch.maglev.tableSize) c.maglev_lb_config = { table_size: ch.maglev.tableSize };
  } else if (ch.ringHash) {
    c.lb_policy = 'RING_HASH';
    if (ch.ringHash.minimumRingSize) c.ring_hash_lb_config = { minimum_ring_size: ch.ringHash.minimumRingSize };
  } else {
    c.lb_policy = 'RING_HASH';
    c.ring_hash_lb_config = { minimum_ring_size: ch.minimumRingSize ?? 1024 };
  }
}

export interface TlsContext {
  /** Auto mTLS: mesh setting on, service inside the mesh. */
  autoMtls: boolean;
  /** Istio mTLS SNI for this cluster. */
  sni: string;
  /** SPIFFE identities allowed to serve the destination. */
  sans: string[];
  http2: boolean;
  /** Host name, the SNI default for SIMPLE/MUTUAL to external services. */
  host: string;
}

/**
 * Upstream TLS: DISABLE → none; ISTIO_MUTUAL → mesh certs; SIMPLE/MUTUAL → as configured;
 * unset → with auto mTLS, Istio certs for endpoints labelled tlsMode=istio and plaintext for the rest.
 */
export function applyTls(d: ClusterDraft, tls: ClientTLSSettings | undefined, ctx: TlsContext): void {
  const mode = tls?.mode;
  if (mode === 'DISABLE') return;
  if (mode === 'ISTIO_MUTUAL') {
    d.cluster.transport_socket = transportSocket('tls', istioMutualUpstream(tls?.sni ?? ctx.sni, tls?.subjectAltNames ?? ctx.sans, ctx.http2));
    return;
  }
  if (mode === 'SIMPLE' || mode === 'MUTUAL') {
    d.cluster.transport_socket = transportSocket('tls', userUpstreamTls(tls!, ctx.host.startsWith('*') ? undefined : ctx.host));
    return;
  }
  if (!ctx.autoMtls) return;
  d.cluster.transport_socket_matches = [
    { name: 'tlsMode-istio', match: { tlsMode: 'istio' }, transport_socket: transportSocket('tls', istioMutualUpstream(ctx.sni, ctx.sans, ctx.http2)) },
    { name: 'tlsMode-disabled', match: {}, transport_socket: transportSocket('raw_buffer', {}) },
  ];
}

/** PROXY protocol to upstreams: every transport socket wrapped in upstream_proxy_protocol. */
export function applyProxyProtocol(d: ClusterDraft, pp: TrafficPolicy['proxyProtocol']): void {
  if (!pp) return;
  const wrap = (inner: EnvoyJson | undefined): EnvoyJson => ({
    name: 'envoy.transport_sockets.upstream_proxy_protocol',
    typed_config: { '@type': Ext.UpstreamProxyProtocol, config: { version: pp.version ?? 'V1' }, transport_socket: inner ?? transportSocket('raw_buffer', {}) },
  });
  const c = d.cluster;
  if (Array.isArray(c.transport_socket_matches)) {
    c.transport_socket_matches = (c.transport_socket_matches as EnvoyJson[]).map((m) => ({ ...m, transport_socket: wrap(m.transport_socket as EnvoyJson) }));
  } else {
    c.transport_socket = wrap(c.transport_socket as EnvoyJson | undefined);
  }
}

/** Folds the HttpProtocolOptions into the cluster (explicit HTTP/1.1 when nothing else was chosen). */
export function finish(d: ClusterDraft): EnvoyJson {
  if (d.http) {
    if (!d.http.explicit_http_config && !d.http.use_downstream_protocol_config) d.http.explicit_http_config = { http_protocol_options: {} };
    d.cluster.typed_extension_protocol_options = { [HTTP_PROTOCOL_OPTIONS_KEY]: { '@type': Ext.HttpProtocolOptions, ...d.http } as EnvoyJson };
  }
  return d.cluster;
}
