// Static Envoy v3 bootstraps for the benchmark proxies: one listener forwarding to one static cluster.
// The same file drives real Envoy and `spar proxy` (which reads Envoy's bootstrap format), so both
// are told exactly the same thing. Istio's sidecars carry more (telemetry, metadata exchange, mTLS);
// bench/README.md says what that changes.

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const HTTP_OPTIONS = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

const socket = (port) => ({ socket_address: { address: '127.0.0.1', port_value: port } });

/**
 * @param {{ protocol: { id: string, l4?: boolean, h2Upstream?: boolean }, listenPort: number, upstreamPort: number, adminPort: number }} o
 * @returns {object} an Envoy v3 Bootstrap (JSON form)
 */
export function benchBootstrap({ protocol, listenPort, upstreamPort, adminPort }) {
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
            virtual_hosts: [{ name: 'upstream', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'upstream', timeout: '0s' } }] }],
          },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
        },
      };
  const cluster = {
    name: 'upstream',
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: { cluster_name: 'upstream', endpoints: [{ lb_endpoints: [{ endpoint: { address: socket(upstreamPort) } }] }] },
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
