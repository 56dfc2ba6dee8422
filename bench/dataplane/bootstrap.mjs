// Static Envoy v3 bootstraps for the benchmark proxies: one listener forwarding to one static cluster.
// The same file drives real Envoy and `spar proxy` (which reads Envoy's bootstrap format), so both
// are told exactly the same thing. Istio's sidecars carry more (telemetry, metadata exchange, mTLS);
// bench/README.md says what that changes.

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const HTTP_OPTIONS = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

const socket = (port) => ({ socket_address: { address: '127.0.0.1', port_value: port } });

const FAULT = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
const CORS = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors';
const CORS_POLICY = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';
const LOCAL_RL = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';

/**
 * The resilience machinery of issue #5, configured but idle (no request triggers any of it), as an
 * Istio sidecar carries it: fault filter (0 % abort), CORS filter with a route policy (requests carry
 * no Origin), a local rate limit whose bucket never runs dry, a route timeout and a retry policy
 * (nothing fails, so nothing is retried — but the body is held for replay), circuit-breaker
 * thresholds and outlier detection on the cluster. Its cost is the difference between the
 * `*-1r` and `*-1` topologies.
 */
const IDLE_FILTERS = [
  { name: 'envoy.filters.http.fault', typed_config: { '@type': FAULT, abort: { http_status: 503, percentage: { numerator: 0 } } } },
  { name: 'envoy.filters.http.cors', typed_config: { '@type': CORS } },
  {
    name: 'envoy.filters.http.local_ratelimit',
    typed_config: {
      '@type': LOCAL_RL, stat_prefix: 'bench_rl',
      token_bucket: { max_tokens: 1000000000, tokens_per_fill: 1000000000, fill_interval: '1s' },
      filter_enabled: { runtime_key: 'rl_enabled', default_value: { numerator: 100 } },
      filter_enforced: { runtime_key: 'rl_enforced', default_value: { numerator: 100 } },
    },
  },
];
const IDLE_ROUTE = {
  timeout: '30s',
  retry_policy: { retry_on: '5xx,connect-failure,reset', num_retries: 2, per_try_timeout: '10s' },
};
const IDLE_ROUTE_EXTRA = {
  typed_per_filter_config: { 'envoy.filters.http.cors': { '@type': CORS_POLICY, allow_origin_string_match: [{ exact: 'https://example.com' }], allow_methods: 'GET,POST' } },
};
const IDLE_CLUSTER = {
  circuit_breakers: { thresholds: [{ max_connections: 100000, max_pending_requests: 100000, max_requests: 100000, max_retries: 100 }] },
  outlier_detection: { consecutive_5xx: 5, interval: '10s', base_ejection_time: '30s', max_ejection_percent: 50 },
};

/**
 * @param {{ protocol: { id: string, l4?: boolean, h2Upstream?: boolean }, listenPort: number, upstreamPort: number, adminPort: number, resilience?: boolean }} o
 * @returns {object} an Envoy v3 Bootstrap (JSON form)
 */
export function benchBootstrap({ protocol, listenPort, upstreamPort, adminPort, resilience = false }) {
  const filter = protocol.l4
    ? { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: 'bench', cluster: 'upstream' } }
    : {
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': HCM,
          stat_prefix: 'bench',
          codec_type: 'AUTO',
          route_config: {
            name: 'bench',
            virtual_hosts: [{
              name: 'upstream', domains: ['*'],
              routes: [{ match: { prefix: '/' }, route: { cluster: 'upstream', timeout: '0s', ...(resilience ? IDLE_ROUTE : {}) }, ...(resilience ? IDLE_ROUTE_EXTRA : {}) }],
            }],
          },
          http_filters: [...(resilience ? IDLE_FILTERS : []), { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
        },
      };
  const cluster = {
    name: 'upstream',
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: { cluster_name: 'upstream', endpoints: [{ lb_endpoints: [{ endpoint: { address: socket(upstreamPort) } }] }] },
    ...(resilience ? IDLE_CLUSTER : {}),
  };
  if (protocol.h2Upstream) {
    cluster.typed_extension_protocol_options = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': HTTP_OPTIONS, explicit_http_config: { http2_protocol_options: {} } },
    };
  }
  return {
    node: { id: `bench-${protocol.id}-${listenPort}`, cluster: 'bench' },
    admin: { address: socket(adminPort) },
    static_resources: {
      listeners: [{ name: `bench_${protocol.id}`, address: socket(listenPort), filter_chains: [{ filters: [filter] }] }],
      clusters: [cluster],
    },
  };
}
