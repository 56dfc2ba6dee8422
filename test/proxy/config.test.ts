/**
 * What spar proxy accepts and rejects, in-process (no sockets): every unsupported field is an error
 * naming its path; invalid values name the value; fields set to their defaults are fine; what Istio's
 * pilot generates for Bookinfo compiles (test/proxy/tls.test.ts checks its TLS clusters against Envoy).
 * Also the selection rules the listener and route layers implement, as tables.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigErrors, Fields } from '../../src/proxy/config/fields.js';
import { compileCluster } from '../../src/proxy/cluster/cluster.js';
import { compileListener } from '../../src/proxy/listener/listener.js';
import { compileRouteConfig } from '../../src/proxy/router/route-table.js';
import { readBootstrap } from '../../src/proxy/bootstrap.js';
import { StatsStore } from '../../src/proxy/stats/stats.js';
import { ClusterManager } from '../../src/proxy/cluster/cluster-manager.js';
import { readChainMatch, selectChain, type ConnectionFacts } from '../../src/proxy/listener/filter-chain-match.js';
import { normalizePath } from '../../src/proxy/http/path.js';
import { compileFormat } from '../../src/proxy/access-log/formatter.js';
import { StreamInfo } from '../../src/proxy/stream-info.js';
import type { EnvoyJson } from '../../src/xds/codec.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = { name: 'router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
const stats = new StatsStore();
const env = { clusters: new ClusterManager(stats), routes: new Map(), stats, nodeMetadata: {} };

function errorsOf(kind: 'cluster' | 'listener' | 'route' | 'bootstrap', json: unknown): string[] {
  const errs = new ConfigErrors();
  if (kind === 'cluster') compileCluster(json as EnvoyJson, errs);
  else if (kind === 'listener') for (const c of compileListener(json as EnvoyJson, errs, env as never).chains) c.handler.close();
  else if (kind === 'route') compileRouteConfig(json as EnvoyJson, errs);
  else readBootstrap(json as EnvoyJson, errs, {});
  return errs.list;
}

const cluster = (extra: object) => ({ name: 'c', type: 'STATIC', connect_timeout: '1s', ...extra });
const listener = (hcm: object, extra: object = {}) => ({
  name: 'l', address: { socket_address: { address: '127.0.0.1', port_value: 1 } },
  filter_chains: [{ filters: [{ name: 'hcm', typed_config: { '@type': HCM, stat_prefix: 's', route_config: { virtual_hosts: [] }, http_filters: [ROUTER], ...hcm } }] }],
  ...extra,
});
const routes = (route: object, vh: object = {}) => ({ name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, ...route }], ...vh }] });

const REJECTED: [string, 'cluster' | 'listener' | 'route' | 'bootstrap', unknown, RegExp][] = [
  ['outlier detection monitors', 'cluster', cluster({ outlier_detection: { monitors: [{ name: 'm' }] } }), /Cluster "c"\.outlier_detection\.monitors: outlier detection monitors are not supported/],
  ['outlier detection percentage over 100', 'cluster', cluster({ outlier_detection: { max_ejection_percent: 101 } }), /Cluster "c"\.outlier_detection\.max_ejection_percent: must be between 0 and 100/],
  ['upstream TLS without typed_config', 'cluster', cluster({ transport_socket: { name: 'envoy.transport_sockets.tls' } }), /Cluster "c"\.transport_socket: transport socket "envoy.transport_sockets.tls" \(no typed_config\) is not supported by spar proxy \(expected envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\)/],
  ['TLS CRL', 'cluster', cluster({ transport_socket: { name: 'tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', common_tls_context: { validation_context: { trusted_ca: { inline_string: 'x' }, crl: { inline_string: 'y' } } } } } }), /common_tls_context\.validation_context\.crl: certificate revocation lists are not supported/],
  ['SAN matching without a trusted CA', 'cluster', cluster({ transport_socket: { name: 'tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', common_tls_context: { validation_context: { match_subject_alt_names: [{ exact: 'a' }] } } } } }), /SAN-based verification of peer certificates without trusted CA is insecure and not allowed/],
  ['SDS from a cluster that is not in the bootstrap', 'cluster', cluster({ transport_socket: { name: 'tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: { api_config_source: { api_type: 'GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'sds-grpc' } }] } } }] } } } }), /envoy_grpc\.cluster_name: envoy.config.core.v3.ApiConfigSource must have a statically defined non-EDS cluster: 'sds-grpc' does not exist/],
  ['unknown lb policy value', 'cluster', cluster({ lb_policy: 'LOAD_BALANCING_POLICY_CONFIG' }), /Cluster "c"\.lb_policy: value "LOAD_BALANCING_POLICY_CONFIG" not supported by spar proxy \(supported: ROUND_ROBIN/],
  ['EDS without eds_cluster_config', 'cluster', cluster({ type: 'EDS' }), /Cluster "c"\.eds_cluster_config: required/],
  ['unknown HTTP filter', 'listener', listener({ http_filters: [{ name: 'envoy.filters.http.lua', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua' } }, ROUTER] }), /http_filters\[0\]: HTTP filter "envoy.filters.http.lua" \(envoy.extensions.filters.http.lua.v3.Lua\) is not supported/],
  ['router not last', 'listener', listener({ http_filters: [ROUTER, { name: 'f', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault' } }] }), /the router filter must be the last HTTP filter/],
  ['tracing provider', 'listener', listener({ tracing: { provider: { name: 'envoy.tracers.zipkin', typed_config: { '@type': 'type.googleapis.com/envoy.config.trace.v3.ZipkinConfig', collector_cluster: 'zipkin', collector_endpoint: '/api/v2/spans' } } } }), /typed_config\.tracing\.provider: tracing providers \(span export\) are not supported/],
  ['unknown static secret', 'cluster', cluster({ transport_socket: { name: 'tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'nope' }] } } } }), /tls_certificate_sds_secret_configs\[0\]\.name: Unknown static secret: nope/],
  ['downstream TLS without a certificate', 'listener', listener({}, { filter_chains: [{ transport_socket: { name: 'tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', common_tls_context: {} } }, filters: [] }] }), /filter_chains\[0\]\.transport_socket\.typed_config\.common_tls_context: a server TLS context needs a certificate/],
  ['downstream TLS session ticket keys', 'listener', listener({}, { filter_chains: [{ transport_socket: { name: 'tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', session_ticket_keys: { keys: [] } } }, filters: [] }] }), /transport_socket\.typed_config\.session_ticket_keys: session ticket keys are not supported/],
  ['unknown network filter', 'listener', listener({}, { filter_chains: [{ filters: [{ name: 'envoy.filters.network.redis_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy' } }] }] }), /network filter "envoy.filters.network.redis_proxy" .* is not supported/],
  ['unknown listener filter', 'listener', listener({}, { listener_filters: [{ name: 'x', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol' } }] }), /listener filter "x" .* is not supported/],
  ['unknown access log op', 'listener', listener({ access_log: [{ name: 'a', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog', log_format: { text_format_source: { inline_string: '%NOPE%' } } } }] }), /unknown command operator %NOPE%/],
  ['route cors', 'route', routes({ route: { cluster: 'c', cors: {} } }), /routes\[0\]\.route\.cors: CORS is not supported/],
  ['mirror header mutations', 'route', routes({ route: { cluster: 'c', request_mirror_policies: [{ cluster: 'm', request_headers_mutations: [{ remove: 'x' }] }] } }), /request_mirror_policies\[0\]\.request_headers_mutations: mirror header mutations are not supported/],
  ['mirror policy without a cluster', 'route', routes({ route: { cluster: 'c', request_mirror_policies: [{ runtime_fraction: { default_value: { numerator: 5 } } }] } }), /request_mirror_policies\[0\]: exactly one of cluster and cluster_header must be set/],
  ['inline route to an unknown shadow cluster', 'listener', listener({ route_config: routes({ route: { cluster: 'c', request_mirror_policies: [{ cluster: 'nope' }] } }) }), /route: unknown shadow cluster 'nope'/],
  ['rate limit action not implemented', 'route', routes({ route: { cluster: 'c', rate_limits: [{ actions: [{ masked_remote_address: {} }] }] } }), /rate_limits\[0\]\.actions\[0\]\.masked_remote_address: rate limit action masked_remote_address is not supported/],
  ['rate limit override', 'route', routes({ route: { cluster: 'c', rate_limits: [{ actions: [{ generic_key: { descriptor_value: 'x' } }], limit: { dynamic_metadata: {} } }] } }), /rate_limits\[0\]\.limit: dynamic metadata rate limit overrides are not supported/],
  ['local rate limit dynamic descriptor', 'listener', listener({ http_filters: [{ name: 'l', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit', stat_prefix: 'x', descriptors: [{ entries: [{ key: 'k' }], token_bucket: { max_tokens: 1, fill_interval: '1s' } }] } }, ROUTER] }), /entries\[0\]\.value: an empty value \(a dynamic descriptor\) is not supported/],
  ['global rate limit with google_grpc', 'listener', listener({ http_filters: [{ name: 'g', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit', domain: 'd', rate_limit_service: { transport_api_version: 'V3', grpc_service: { google_grpc: { target_uri: 'x', stat_prefix: 'y' } } } } }, ROUTER] }), /grpc_service\.google_grpc: google_grpc is not supported/],
  ['bad regex', 'route', routes({ route: { cluster: 'c' } }, { routes: [{ match: { safe_regex: { regex: '(' } }, route: { cluster: 'c' } }] }), /invalid RE2 regex "\("/],
  ['two path specifiers', 'route', { name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/', path: '/x' }, route: { cluster: 'c' } }] }] }, /exactly one of prefix, path, safe_regex, path_separated_prefix/],
  ['duplicate domain', 'route', { name: 'r', virtual_hosts: [{ name: 'a', domains: ['x'], routes: [] }, { name: 'b', domains: ['x'], routes: [] }] }, /only unique values for domains are permitted: "x"/],
  ['unknown retry_on', 'route', routes({ route: { cluster: 'c', retry_policy: { retry_on: '5xx,bogus' } } }), /unknown retry condition "bogus"/],
  ['runtime key', 'bootstrap', { layered_runtime: { layers: [{ name: 'l', static_layer: { 'some.key': 1 } }] } }, /static_layer\.some\.key: runtime key not supported by spar proxy/],
  ['inline route to an unknown cluster (validate_clusters defaults to true inline)', 'listener', listener({ route_config: routes({ route: { cluster: 'nope' } }) }), /route: unknown cluster 'nope'/],
  ['stats sinks', 'bootstrap', { stats_sinks: [{ name: 'x' }] }, /Bootstrap\.stats_sinks: stats sinks are not supported/],
];

for (const [label, kind, json, re] of REJECTED) {
  test(`rejected by name: ${label}`, () => {
    const errs = errorsOf(kind, json);
    assert.ok(errs.some((e) => re.test(e)), `expected ${re} in:\n${errs.join('\n')}`);
  });
}

test('fields at their defaults and Istio\'s usual settings are accepted', () => {
  assert.deepEqual(errorsOf('cluster', cluster({ lb_policy: 'ROUND_ROBIN', circuit_breakers: { thresholds: [{ max_connections: 4294967295, max_pending_requests: 4294967295, max_requests: 4294967295, max_retries: 4294967295, track_remaining: true }] }, common_lb_config: { healthy_panic_threshold: { value: 0 } }, upstream_bind_config: { source_address: { address: '127.0.0.6', port_value: 0 } } })), []);
  assert.deepEqual(errorsOf('listener', listener({ use_remote_address: false, normalize_path: true, merge_slashes: true, path_with_escaped_slashes_action: 'KEEP_UNCHANGED', upgrade_configs: [{ upgrade_type: 'websocket' }], stream_idle_timeout: '0s' }, { traffic_direction: 'OUTBOUND', listener_filters_timeout: '0s', continue_on_listener_filters_timeout: true })), []);
  assert.deepEqual(errorsOf('route', routes({ route: { cluster: 'c', timeout: '0s', max_grpc_timeout: '0s', retry_policy: { retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes', num_retries: 2, retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' } }], host_selection_retry_max_attempts: '5', retriable_status_codes: [503] } }, decorator: { operation: 'x' } }, { include_request_attempt_count: true })), []);
});

const F = (over: Partial<ConnectionFacts>): ConnectionFacts => ({ localIp: '10.0.0.1', localPort: 80, remoteIp: '10.0.0.2', remotePort: 5000, directRemoteIp: '10.0.0.2', sni: '', transportProtocol: 'raw_buffer', alpn: [], ...over });
const chain = (name: string, m: object) => ({ name, match: readChainMatch(Fields.of(m as EnvoyJson, name, new ConfigErrors())) });

test('filter chain selection follows Envoy\'s order and specificity', () => {
  const chains = [
    chain('port80', { destination_port: 80 }),
    chain('port80-net24', { destination_port: 80, prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 24 }] }),
    chain('port80-net16', { destination_port: 80, prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 16 }] }),
    chain('any-tls', { transport_protocol: 'tls' }),
    chain('wild', {}),
  ];
  const table: [Partial<ConnectionFacts>, string][] = [
    [{}, 'port80-net24'],
    [{ localIp: '10.0.9.9' }, 'port80-net16'],
    [{ localIp: '192.168.1.1' }, 'port80'],
    [{ localPort: 81, transportProtocol: 'tls' }, 'any-tls'],
    [{ localPort: 81 }, 'wild'],
  ];
  for (const [facts, want] of table) assert.equal(selectChain(chains, F(facts))?.name, want, JSON.stringify(facts));
});

test('path normalization (normalize_path, merge_slashes) as RFC 3986', () => {
  const table: [string, string][] = [['/a/./b', '/a/b'], ['/a/../b', '/b'], ['/../a', '/a'], ['/a/%2e%2e/b', '/b'], ['/a//b', '/a/b'], ['/a/b/..', '/a/'], ['/%41b', '/Ab'], ['/a?x=/../', '/a?x=/../']];
  for (const [i, o] of table) assert.equal(normalizePath(i, true, true), o, i);
});

test('access log formats: default operators, truncation, START_TIME formats', () => {
  const si = new StreamInfo();
  si.requestHeaders = { ':method': 'GET', ':path': '/abcdef', 'user-agent': 'ua' };
  si.responseCode = 503;
  si.setFlag('UH');
  si.startMs = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
  const errs: string[] = [];
  assert.equal(compileFormat('%REQ(:METHOD)% %REQ(:PATH):3% %RESPONSE_CODE% %RESPONSE_FLAGS% %REQ(X-MISSING)% %START_TIME% %START_TIME(%s.%3f)%', errs).format(si, '-'), 'GET /ab 503 UH - 2026-01-02T03:04:05.678Z 1767323045.678');
  assert.deepEqual(errs, []);
});
