/**
 * Small builders shared by the generators: Envoy type URLs of the extensions Istio uses, the ADS
 * config source, addresses, tcp_proxy, and proto3 JSON helpers (durations, percents).
 */
import type { EnvoyJson } from '../codec.js';

const T = 'type.googleapis.com/';

/** Type URLs of the extension configs the generators emit. */
export const Ext = {
  HCM: `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
  TcpProxy: `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
  Router: `${T}envoy.extensions.filters.http.router.v3.Router`,
  Fault: `${T}envoy.extensions.filters.http.fault.v3.HTTPFault`,
  Cors: `${T}envoy.extensions.filters.http.cors.v3.Cors`,
  CorsPolicy: `${T}envoy.extensions.filters.http.cors.v3.CorsPolicy`,
  GrpcWeb: `${T}envoy.extensions.filters.http.grpc_web.v3.GrpcWeb`,
  GrpcStats: `${T}envoy.extensions.filters.http.grpc_stats.v3.FilterConfig`,
  OriginalDst: `${T}envoy.extensions.filters.listener.original_dst.v3.OriginalDst`,
  TlsInspector: `${T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`,
  HttpInspector: `${T}envoy.extensions.filters.listener.http_inspector.v3.HttpInspector`,
  UpstreamTls: `${T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
  DownstreamTls: `${T}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
  RawBuffer: `${T}envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer`,
  HttpProtocolOptions: `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
  PreviousHosts: `${T}envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate`,
  PreviousPriorities: `${T}envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig`,
  StdoutAccessLog: `${T}envoy.extensions.access_loggers.stream.v3.StdoutAccessLog`,
  FileAccessLog: `${T}envoy.extensions.access_loggers.file.v3.FileAccessLog`,
  SniCluster: `${T}envoy.extensions.filters.network.sni_cluster.v3.SniCluster`,
  Secret: `${T}envoy.extensions.transport_sockets.tls.v3.Secret`,
  UpstreamProxyProtocol: `${T}envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport`,
} as const;

/** HttpProtocolOptions' key in typed_extension_protocol_options. */
export const HTTP_PROTOCOL_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** Envoy's default cap on direct response bodies is 4 KiB; Istio raises it to 1 MiB. */
export const MAX_DIRECT_RESPONSE_BODY = 1048576;

/** Envoy's maximum uint32, Istio's "no limit" for circuit breakers. */
export const MAX_UINT32 = 4294967295;

/** `{ads: {}}` as Istio writes it: no initial fetch timeout, v3. */
export function adsConfigSource(): EnvoyJson {
  return { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' };
}

export function socketAddress(address: string, port: number): EnvoyJson {
  return { socket_address: { address, port_value: port } };
}

export function tcpProxyFilter(cluster: string, statPrefix = cluster, extra: EnvoyJson = {}): EnvoyJson {
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': Ext.TcpProxy, stat_prefix: statPrefix, cluster, ...extra } };
}

/** TcpProxy to several clusters by weight. */
export function weightedTcpProxyFilter(statPrefix: string, clusters: { name: string; weight: number }[]): EnvoyJson {
  if (clusters.length === 1) return tcpProxyFilter(clusters[0].name, statPrefix);
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': Ext.TcpProxy, stat_prefix: statPrefix, weighted_clusters: { clusters } } };
}

export const tlsInspector = (): EnvoyJson => ({ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': Ext.TlsInspector, initial_read_buffer_size: 512 } });
export const httpInspector = (): EnvoyJson => ({ name: 'envoy.filters.listener.http_inspector', typed_config: { '@type': Ext.HttpInspector } });
export const originalDst = (): EnvoyJson => ({ name: 'envoy.filters.listener.original_dst', typed_config: { '@type': Ext.OriginalDst } });

/** Istio's Percent message (0–100, fractions allowed) → FractionalPercent per million, as Istio writes it. */
export function fractionalPercent(value: number): EnvoyJson {
  return { numerator: Math.round(value * 10000), denominator: 'MILLION' };
}

/** Istio's deprecated integer percents (`delay.percent`, `mirrorPercent`) → per hundred. */
export function integerPercent(value: number): EnvoyJson {
  return { numerator: Math.round(value), denominator: 'HUNDRED' };
}

/**
 * A duration as written in Istio YAML (`1.5s`, `100ms`, `1m`, `2h`) → proto3 JSON (`1.500s`).
 * Undefined when it cannot be read (validation reports those before generation).
 */
export function duration(s: string | undefined): string | undefined {
  if (!s) return undefined;
  const m = /^([0-9]+(?:\.[0-9]+)?)(h|m|s|ms|us|µs|ns)$/.exec(s.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const secs = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, 'µs': 1e-6, ns: 1e-9 }[m[2] as 'h'] * n;
  return formatSeconds(secs);
}

export function formatSeconds(secs: number): string {
  const whole = Math.floor(secs);
  const nanos = Math.round((secs - whole) * 1e9);
  if (nanos === 0) return `${whole}s`;
  return `${whole}.${String(nanos).padStart(9, '0').replace(/0+$/, '')}s`;
}

/** Seconds of a duration string (for Envoy fields that take integers). */
export function durationSeconds(s: string | undefined): number | undefined {
  const d = duration(s);
  return d === undefined ? undefined : Number(d.slice(0, -1));
}

/** Freezes a constant sub-message that many resources share (nobody may modify generated output). */
export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** Removes keys whose value is undefined (so optional fields stay absent in the JSON form). */
export function compact<T extends Record<string, unknown>>(o: T): EnvoyJson {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as EnvoyJson;
}

/** Stable sort by name (Envoy does not care; diffs and goldens do). */
export function byName<T extends { name?: unknown }>(a: T, b: T): number {
  const x = String(a.name ?? '');
  const y = String(b.name ?? '');
  return x < y ? -1 : x > y ? 1 : 0;
}
