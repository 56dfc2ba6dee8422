/**
 * The conformance bootstrap: one static Envoy v3 config loaded unchanged into real Envoy and into
 * `spar proxy`. Listeners:
 *   main  — route matching (vhosts by authority, every path specifier, headers, query, grpc),
 *           every action (cluster, weighted, redirect, direct response), rewrites, header mutations,
 *           and failures (NC, UH, UF, UC, UT, URX)
 *   edge  — use_remote_address, server_name, always_set_request_id_in_response
 *   small — max_request_headers_kb: 8
 *   tcp   — tcp_proxy to upstream a
 * Access logs are JSON lines keyed by the `x-case` request header.
 */
import type { Json } from '../helpers/proxies.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

export interface Ports {
  main: number;
  edge: number;
  small: number;
  tcp: number;
  upstreams: Record<'a' | 'b' | 'c', number>;
  refused: number;
}

function accessLog(path: string): Json[] {
  return [{
    name: 'envoy.access_loggers.file',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
      path,
      log_format: { json_format: { case: '%REQ(X-CASE)%', code: '%RESPONSE_CODE%', flags: '%RESPONSE_FLAGS%', cluster: '%UPSTREAM_CLUSTER%', route: '%ROUTE_NAME%', method: '%REQ(:METHOD)%', path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%', authority: '%REQ(:AUTHORITY)%', protocol: '%PROTOCOL%' } },
    },
  }];
}

/** The filters Istio puts on every chain: fault and CORS (both empty), then the router. */
const FAULT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
const ISTIO_FILTERS = [
  { name: 'envoy.filters.http.fault', typed_config: { '@type': FAULT_TYPE } },
  { name: 'envoy.filters.http.cors', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors' } },
  // Spar's Istio metrics: optional, so Envoy skips it (DESIGN.md).
  { name: 'spar.filters.http.istio_stats', is_optional: true, typed_config: { '@type': 'type.googleapis.com/google.protobuf.Struct', value: { reporter: 'source' } } },
  ROUTER,
];

function listener(name: string, port: number, hcm: Json): Json {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: { '@type': HCM, stat_prefix: name, http_filters: name === 'main' ? ISTIO_FILTERS : [ROUTER], ...hcm } }] }],
  };
}

const fault = (f: Json): Json => ({ typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': FAULT_TYPE, ...f } } });
const ALL = { numerator: 100 };

function cluster(name: string, ports: number[], extra: Json = {}): Json {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '0.5s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } })) }] },
    ...extra,
  };
}

const r = (name: string, match: Json, action: Json, extra: Json = {}): Json => ({ name, match, ...action, ...extra });
const to = (c: string, extra: Json = {}): Json => ({ route: { cluster: c, ...extra } });

export function mainRoutes(): Json[] {
  return [
    r('exact', { path: '/exact' }, to('a')),
    r('exact-ci', { path: '/Exact-CI', case_sensitive: false }, to('b')),
    r('pre', { prefix: '/pre' }, to('b')),
    r('ci-prefix', { prefix: '/CI/', case_sensitive: false }, to('c')),
    r('regex', { safe_regex: { regex: '/re/[0-9]+' } }, to('c')),
    r('sep', { path_separated_prefix: '/sep' }, to('a')),
    r('hdr-exact', { prefix: '/hdr', headers: [{ name: 'x-match', string_match: { exact: 'yes' } }] }, to('b')),
    r('hdr-present', { prefix: '/hdr', headers: [{ name: 'x-present', present_match: true }] }, to('c')),
    r('hdr-invert', { prefix: '/hdr', headers: [{ name: 'x-inv', string_match: { exact: 'no' }, invert_match: true }] }, to('a')),
    r('hdr-range', { prefix: '/hdr', headers: [{ name: 'x-num', range_match: { start: '10', end: '20' } }] }, to('b')),
    r('hdr-regex', { prefix: '/hdr', headers: [{ name: 'x-re', safe_regex_match: { regex: 'a+b' } }] }, to('c')),
    r('hdr-prefix-ci', { prefix: '/hdr', headers: [{ name: 'x-ci', string_match: { prefix: 'ab', ignore_case: true } }] }, to('a')),
    r('hdr-suffix', { prefix: '/hdr', headers: [{ name: 'x-suf', string_match: { suffix: '.json' } }] }, to('b')),
    r('hdr-contains', { prefix: '/hdr', headers: [{ name: 'x-con', string_match: { contains: 'mid' } }] }, to('c')),
    r('hdr-two', { prefix: '/hdr', headers: [{ name: 'x-one', present_match: true }, { name: 'x-two', string_match: { exact: '2' } }] }, to('a')),
    r('hdr-absent', { prefix: '/hdr', headers: [{ name: 'x-absent', present_match: false }, { name: 'x-want-absent', present_match: true }] }, to('b')),
    r('hdr-method', { prefix: '/hdr', headers: [{ name: ':method', string_match: { exact: 'PUT' } }] }, to('c')),
    r('hdr-fallback', { prefix: '/hdr' }, { direct_response: { status: 200, body: { inline_string: 'hdr-fallback' } } }),
    r('q-exact', { prefix: '/q', query_parameters: [{ name: 'k', string_match: { exact: 'v' } }] }, to('b')),
    r('q-present', { prefix: '/q', query_parameters: [{ name: 'p', present_match: true }] }, to('c')),
    r('q-fallback', { prefix: '/q' }, to('a')),
    r('grpc', { prefix: '/grpc', grpc: {} }, to('b')),
    r('grpc-fallback', { prefix: '/grpc' }, to('a')),
    r('weighted', { prefix: '/weighted' }, { route: { weighted_clusters: { clusters: [{ name: 'c', weight: 100 }, { name: 'a', weight: 0 }] } } }),
    r('redir-https', { prefix: '/redirect/https' }, { redirect: { https_redirect: true } }),
    r('redir-host', { prefix: '/redirect/host' }, { redirect: { host_redirect: 'example.org' } }),
    r('redir-path', { prefix: '/redirect/path' }, { redirect: { path_redirect: '/new/path', response_code: 'FOUND' } }),
    r('redir-prefix', { prefix: '/redirect/prefix' }, { redirect: { prefix_rewrite: '/other' } }),
    r('redir-strip', { prefix: '/redirect/strip' }, { redirect: { strip_query: true, response_code: 'PERMANENT_REDIRECT' } }),
    r('redir-port', { prefix: '/redirect/port' }, { redirect: { port_redirect: 8443, scheme_redirect: 'https', response_code: 'TEMPORARY_REDIRECT' } }),
    r('redir-see-other', { prefix: '/redirect/see' }, { redirect: { path_redirect: '/seen', response_code: 'SEE_OTHER' } }),
    r('direct-200', { prefix: '/direct/200' }, { direct_response: { status: 200, body: { inline_string: 'hello' } } }),
    r('direct-503', { prefix: '/direct/503' }, { direct_response: { status: 503 } }),
    r('direct-204', { prefix: '/direct/204' }, { direct_response: { status: 204 } }),
    r('direct-418', { prefix: '/direct/418' }, { direct_response: { status: 418, body: { inline_string: 'teapot' } } }, { response_headers_to_add: [{ header: { key: 'x-direct', value: 'yes' } }] }),
    r('rw-prefix', { prefix: '/rewrite/prefix' }, to('a', { prefix_rewrite: '/rewritten' })),
    r('rw-root', { prefix: '/rewrite/root/' }, to('a', { prefix_rewrite: '/' })),
    r('rw-regex', { safe_regex: { regex: '/rewrite/regex/([a-z]+)/([0-9]+)' } }, to('a', { regex_rewrite: { pattern: { regex: '/rewrite/regex/([a-z]+)/([0-9]+)' }, substitution: '/r/\\2/\\1' } })),
    r('rw-regex-part', { prefix: '/rewrite/part' }, to('a', { regex_rewrite: { pattern: { regex: 'o' }, substitution: '0' } })),
    r('rw-host', { prefix: '/rewrite/host' }, to('a', { host_rewrite_literal: 'rewritten.example' })),
    r('headers', { prefix: '/headers' }, to('b'), {
      request_headers_to_add: [
        { header: { key: 'x-added', value: 'static' } },
        { header: { key: 'x-client', value: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' } },
        { header: { key: 'x-overwrite', value: 'new' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
        { header: { key: 'x-ifabsent', value: 'dflt' }, append_action: 'ADD_IF_ABSENT' },
        { header: { key: 'x-ifexists', value: 'set' }, append_action: 'OVERWRITE_IF_EXISTS' },
        { header: { key: 'x-append', value: 'two' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
        { header: { key: 'x-proto', value: '%PROTOCOL%' } },
        { header: { key: 'x-empty', value: '' } },
        { header: { key: 'x-kept-empty', value: '' }, keep_empty_value: true },
      ],
      request_headers_to_remove: ['x-remove-me'],
      response_headers_to_add: [{ header: { key: 'x-resp', value: 'r1' } }, { header: { key: 'x-upstream', value: 'replaced' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
      response_headers_to_remove: ['x-drop'],
    }),
    r('fault-abort', { prefix: '/fault/abort' }, to('a'), fault({ abort: { http_status: 418, percentage: ALL } })),
    r('fault-abort-none', { prefix: '/fault/never' }, to('a'), fault({ abort: { http_status: 500, percentage: { numerator: 0 } } })),
    r('fault-delay', { prefix: '/fault/delay' }, to('a'), fault({ delay: { fixed_delay: '0.2s', percentage: ALL } })),
    r('fault-both', { prefix: '/fault/both' }, to('a'), fault({ delay: { fixed_delay: '0.1s', percentage: ALL }, abort: { http_status: 503, percentage: ALL } })),
    r('fault-header', { prefix: '/fault/header' }, to('a'), fault({ abort: { http_status: 429, percentage: ALL }, headers: [{ name: 'x-fault', string_match: { exact: 'yes' } }] })),
    r('fault-grpc', { prefix: '/fault/grpc' }, to('a'), fault({ abort: { grpc_status: 5, percentage: ALL } })),
    r('fault-cluster', { prefix: '/fault/cluster' }, to('a'), fault({ abort: { http_status: 500, percentage: ALL }, upstream_cluster: 'b' })),
    r('nocluster', { prefix: '/nocluster' }, to('does-not-exist')),
    r('empty', { prefix: '/empty' }, to('empty')),
    r('refused', { prefix: '/refused' }, to('refused')),
    r('reset', { prefix: '/reset' }, to('a')),
    r('timeout', { prefix: '/timeout' }, to('a', { timeout: '0.3s', prefix_rewrite: '/delay/3000' })),
    r('no-timeout', { prefix: '/notimeout' }, to('a', { timeout: '0s', prefix_rewrite: '/delay/10' })),
    r('retry-5xx', { prefix: '/retry5xx' }, to('a', { prefix_rewrite: '/status/503', retry_policy: { retry_on: '5xx', num_retries: 2, retry_back_off: { base_interval: '0.001s' } } })),
    r('retry-codes', { prefix: '/retrycodes' }, to('a', { prefix_rewrite: '/status/409', retry_policy: { retry_on: 'retriable-status-codes', retriable_status_codes: [409], num_retries: 1, retry_back_off: { base_interval: '0.001s' } } })),
    r('retry-connect', { prefix: '/retryconnect' }, to('refused', { retry_policy: { retry_on: 'connect-failure', num_retries: 1, retry_back_off: { base_interval: '0.001s' } } })),
    r('multi', { prefix: '/multi' }, to('ab')),
    r('status', { prefix: '/status/' }, to('a')),
    r('chunked', { prefix: '/chunked' }, to('a')),
    r('upheader', { prefix: '/header/' }, to('a')),
    r('post', { prefix: '/post' }, to('c')),
    r('catchall', { prefix: '/' }, to('a')),
  ];
}

export function conformanceBootstrap(p: Ports, logPath: string): Json {
  const routeConfig: Json = {
    name: 'main',
    validate_clusters: false,
    virtual_hosts: [
      { name: 'vh-exact', domains: ['exact.test', 'Mixed.Case.test', 'withport.test:8080'], routes: [r('vh-exact', { prefix: '/' }, to('b'))] },
      { name: 'vh-suffix', domains: ['*.suffix.test'], routes: [r('vh-suffix', { prefix: '/' }, to('c'))] },
      { name: 'vh-longer-suffix', domains: ['*.b.suffix.test'], routes: [r('vh-longer-suffix', { prefix: '/' }, to('a'))] },
      { name: 'vh-dash-suffix', domains: ['*-dash.test'], routes: [r('vh-dash-suffix', { prefix: '/' }, to('b'))] },
      { name: 'vh-prefix', domains: ['prefix.*'], routes: [r('vh-prefix', { prefix: '/' }, to('b'))] },
      {
        name: 'vh-mutations', domains: ['mut.test'],
        request_headers_to_add: [{ header: { key: 'x-vh', value: 'vh' } }, { header: { key: 'x-level', value: 'vhost' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
        response_headers_to_add: [{ header: { key: 'x-vh-resp', value: 'vh' } }],
        routes: [r('vh-mut', { prefix: '/' }, to('c'), { request_headers_to_add: [{ header: { key: 'x-level', value: 'route' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] })],
      },
      { name: 'vh-nomatch', domains: ['nomatch.test'], routes: [r('only-this', { path: '/only' }, to('a'))] },
      { name: 'vh-any', domains: ['*'], routes: mainRoutes() },
    ],
    request_headers_to_add: [{ header: { key: 'x-global', value: 'g' } }, { header: { key: 'x-level', value: 'global' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
    response_headers_to_add: [{ header: { key: 'x-global-resp', value: 'g' } }],
  };
  const edgeRoutes: Json = {
    name: 'edge',
    virtual_hosts: [{ name: 'edge', domains: ['*'], routes: [r('edge-direct', { prefix: '/direct' }, { direct_response: { status: 200, body: { inline_string: 'edge' } } }), r('edge-slow', { prefix: '/slow' }, to('a', { timeout: '0s', prefix_rewrite: '/delay/1500' })), r('edge', { prefix: '/' }, to('a'))] }],
  };
  return {
    node: { id: 'conformance', cluster: 'conformance' },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [
        listener('main', p.main, { route_config: routeConfig, access_log: accessLog(logPath) }),
        listener('edge', p.edge, { route_config: edgeRoutes, use_remote_address: true, server_name: 'spar-edge', always_set_request_id_in_response: true, access_log: accessLog(logPath) }),
        listener('small', p.small, { route_config: edgeRoutes, max_request_headers_kb: 8, stream_idle_timeout: '0.4s', access_log: accessLog(logPath) }),
        {
          name: 'tcp',
          address: { socket_address: { address: '127.0.0.1', port_value: p.tcp } },
          filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 'tcp', cluster: 'a' } }] }],
        },
      ],
      clusters: [
        cluster('a', [p.upstreams.a]),
        cluster('b', [p.upstreams.b]),
        cluster('c', [p.upstreams.c]),
        cluster('ab', [p.upstreams.a, p.upstreams.b]),
        cluster('empty', []),
        cluster('refused', [p.refused]),
      ],
    },
  };
}
