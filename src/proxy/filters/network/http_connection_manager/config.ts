/**
 * envoy.filters.network.http_connection_manager: its typed config compiled once per listener
 * update (HttpConnectionManager proto). Route config is inline (`route_config`) or from RDS (`rds`).
 */
import { ConfigErrors, Fields, typeName } from '../../../config/fields.js';
import type { EnvoyJson } from '../../../../xds/codec.js';
import { compileAccessLogs, type AccessLogger } from '../../../access-log/access-log.js';
import { compileRouteConfig, type RouteTable } from '../../../router/route-table.js';
import { lookupHttpFilter, lookupHttpFilterByName, ROUTER_TYPE, type FilterContext, type HttpFilter } from '../../http/registry.js';
import '../../http/index.js';
import { readCidr, type Cidr } from '../../../listener/cidr.js';
import { clientCertDetails, type ClientCertDetail } from '../../../tls/xfcc.js';

export const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

export interface HcmConfig {
  statPrefix: string;
  codec: 'AUTO' | 'HTTP1' | 'HTTP2';
  /** Inline route table, or the RDS name to look up (`routes.get(name)`) per request. */
  routeTable?: RouteTable;
  rdsName?: string;
  filters: HttpFilter[];
  accessLogs: AccessLogger[] | undefined;
  serverName: string;
  serverHeader: 'OVERWRITE' | 'APPEND_IF_ABSENT' | 'PASS_THROUGH';
  useRemoteAddress: boolean;
  /**
   * internal_address_config.cidr_ranges: the peers whose requests are internal (x-envoy-internal set,
   * x-envoy-* control headers honoured). Envoy 1.40's default is none: every request is external.
   */
  internalRanges: Cidr[];
  xffNumTrustedHops: number;
  skipXffAppend: boolean;
  generateRequestId: boolean;
  preserveExternalRequestId: boolean;
  alwaysSetRequestIdInResponse: boolean;
  maxRequestHeadersKb: number;
  maxHeadersCount: number;
  idleTimeoutMs: number;
  streamIdleTimeoutMs: number;
  requestTimeoutMs: number;
  requestHeadersTimeoutMs: number;
  drainTimeoutMs: number;
  delayedCloseTimeoutMs: number;
  upgrades: Set<string>;
  normalizePath: boolean;
  mergeSlashes: boolean;
  headersWithUnderscores: 'ALLOW' | 'REJECT_REQUEST' | 'DROP_HEADER';
  suppressEnvoyHeaders: boolean;
  via: string;
  forwardClientCert: string;
  /** set_current_client_cert_details, in the order Envoy writes them. */
  clientCertDetails: ClientCertDetail[];
  h2MaxConcurrentStreams: number;
  /** Istio's listener direction, for Spar's metrics filter. */
  direction: string;
  /**
   * `tracing` is set: Spar makes no spans (no provider is supported), but does what Envoy's
   * connection manager does with route decorators — outbound (egress) requests carry the route's
   * decorator operation in x-envoy-decorator-operation; inbound ones drop that header.
   */
  tracing?: 'egress' | 'ingress';
  json: EnvoyJson;
}

export function compileHcm(tc: Fields, errs: ConfigErrors, ctx: FilterContext): HcmConfig {
  const c: HcmConfig = {
    statPrefix: tc.str('stat_prefix'),
    codec: tc.enumOf('codec_type', ['AUTO', 'HTTP1', 'HTTP2'] as const, 'AUTO'),
    filters: [],
    accessLogs: undefined,
    serverName: tc.str('server_name', 'envoy'),
    serverHeader: tc.enumOf('server_header_transformation', ['OVERWRITE', 'APPEND_IF_ABSENT', 'PASS_THROUGH'] as const, 'OVERWRITE'),
    useRemoteAddress: tc.bool('use_remote_address'),
    internalRanges: [],
    xffNumTrustedHops: tc.num('xff_num_trusted_hops'),
    skipXffAppend: tc.bool('skip_xff_append'),
    generateRequestId: tc.bool('generate_request_id', true),
    preserveExternalRequestId: tc.bool('preserve_external_request_id'),
    alwaysSetRequestIdInResponse: tc.bool('always_set_request_id_in_response'),
    maxRequestHeadersKb: 60,
    maxHeadersCount: 100,
    idleTimeoutMs: 3600_000,
    streamIdleTimeoutMs: tc.durationMs('stream_idle_timeout', 300_000),
    requestTimeoutMs: tc.durationMs('request_timeout', 0),
    requestHeadersTimeoutMs: tc.durationMs('request_headers_timeout', 0),
    drainTimeoutMs: tc.durationMs('drain_timeout', 5000),
    delayedCloseTimeoutMs: tc.durationMs('delayed_close_timeout', 1000),
    upgrades: new Set(),
    normalizePath: tc.bool('normalize_path'),
    mergeSlashes: tc.bool('merge_slashes'),
    headersWithUnderscores: 'ALLOW',
    suppressEnvoyHeaders: false,
    via: tc.str('via'),
    forwardClientCert: tc.enumOf('forward_client_cert_details', ['SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET', 'ALWAYS_FORWARD_ONLY'] as const, 'SANITIZE'),
    clientCertDetails: [],
    h2MaxConcurrentStreams: 2147483647,
    direction: ctx.direction,
    json: tc.obj,
  };
  if (!c.statPrefix) tc.error('stat_prefix', 'required');
  c.maxRequestHeadersKb = tc.num('max_request_headers_kb', 60);
  const cpo = tc.opt('common_http_protocol_options');
  if (cpo) {
    c.idleTimeoutMs = cpo.durationMs('idle_timeout', 3600_000);
    c.maxHeadersCount = cpo.num('max_headers_count', 100);
    c.headersWithUnderscores = cpo.enumOf('headers_with_underscores_action', ['ALLOW', 'REJECT_REQUEST', 'DROP_HEADER'] as const, 'ALLOW');
    if (cpo.durationMs('max_stream_duration', 0)) cpo.error('max_stream_duration', 'not supported by spar proxy yet');
    cpo.unsupportedIfSet('max_connection_duration', 'not supported by spar proxy yet');
    cpo.unsupportedIfSet('max_requests_per_connection', 'not supported by spar proxy yet on downstream connections');
    cpo.done();
  }
  const h1 = tc.opt('http_protocol_options');
  if (h1) {
    h1.unsupportedIfSet('accept_http_10', 'HTTP/1.0 is not supported by spar proxy yet');
    h1.unsupported('header_key_format', 'header case preservation is not supported by spar proxy');
    h1.unsupportedIfSet('allow_chunked_length', 'not supported by spar proxy');
    h1.unsupportedIfSet('enable_trailers', 'HTTP/1 trailers are not supported by spar proxy yet');
    h1.done();
  }
  const h2 = tc.opt('http2_protocol_options');
  if (h2) {
    c.h2MaxConcurrentStreams = h2.num('max_concurrent_streams', 2147483647);
    h2.num('initial_stream_window_size');
    h2.num('initial_connection_window_size');
    h2.unsupportedIfSet('allow_connect', 'CONNECT is not supported by spar proxy');
    h2.done();
  }
  for (const u of tc.list('upgrade_configs')) {
    const t = u.str('upgrade_type').toLowerCase();
    const en = u.bool('enabled', true);
    u.unsupported('filters', 'upgrade filter chains are not supported by spar proxy');
    u.done();
    if (en) c.upgrades.add(t);
  }
  // Route config: inline or RDS.
  if (tc.has('route_config')) {
    c.routeTable = compileRouteConfig(tc.raw('route_config') as EnvoyJson, errs, `${tc.path}.route_config`, true);
    if (c.routeTable.validateClusters && ctx.clusterExists) {
      for (const name of c.routeTable.clusterNames()) if (!ctx.clusterExists(name)) tc.error('route_config', `route: unknown cluster '${name}' (validate_clusters is true for inline route configs, as in Envoy)`);
      for (const name of c.routeTable.shadowClusterNames()) if (!ctx.clusterExists(name)) tc.error('route_config', `route: unknown shadow cluster '${name}'`);
    }
  } else if (tc.has('rds')) {
    const rds = tc.obj_('rds');
    c.rdsName = rds.str('route_config_name');
    const src = rds.obj_('config_source');
    if (!src.has('ads')) src.error('', 'only ads config sources are supported by spar proxy for RDS');
    src.opt('ads')?.done();
    src.enumOf('resource_api_version', ['V3'] as const, 'V3');
    src.durationMs('initial_fetch_timeout', 15000);
    src.done();
    rds.done();
  } else {
    tc.error('', 'one of route_config, rds is required (scoped_routes is not supported by spar proxy)');
  }
  tc.unsupported('scoped_routes', 'scoped routes are not supported by spar proxy');
  // HTTP filters: resolve once; the router must be last.
  const list = tc.list('http_filters');
  let sawRouter = false;
  list.forEach((hf, i) => {
    const name = hf.str('name');
    const optional = hf.bool('is_optional');
    hf.unsupportedIfSet('disabled', 'disabled filters are not supported by spar proxy yet');
    const cfg = hf.opt('typed_config');
    const t = cfg ? typeName(cfg.str('@type')) : '';
    hf.unsupported('config_discovery', 'filter config discovery (ECDS) is not supported by spar proxy');
    hf.done();
    if (t === ROUTER_TYPE) {
      sawRouter = true;
      if (i !== list.length - 1) hf.error('', 'the router filter must be the last HTTP filter');
      if (cfg!.bool('suppress_envoy_headers')) c.suppressEnvoyHeaders = true;
      cfg!.bool('start_child_span');
      cfg!.unsupported('upstream_http_filters', 'not supported by spar proxy');
      cfg!.unsupportedIfSet('strict_check_headers', 'not supported by spar proxy yet');
      cfg!.unsupportedIfSet('respect_expected_rq_timeout', 'not supported by spar proxy yet');
      cfg!.bool('suppress_grpc_request_failure_code_stats');
      cfg!.done();
      return;
    }
    const factory = t ? (lookupHttpFilter(t) ?? lookupHttpFilterByName(name, t)) : undefined;
    if (!factory) {
      if (optional) return; // Envoy skips optional filters it does not know
      hf.error('', `HTTP filter ${JSON.stringify(name)} (${t || 'no typed_config'}) is not supported by spar proxy`);
      return;
    }
    const filter = factory(cfg!, ctx);
    filter.name = name;
    c.filters.push(filter);
  });
  if (!sawRouter) tc.error('http_filters', 'the router filter (envoy.filters.http.router) is required as the last HTTP filter');
  c.accessLogs = compileAccessLogs(tc.list('access_log'));
  const alo = tc.opt('access_log_options');
  if (alo) {
    alo.unsupportedIfSet('flush_access_log_on_new_request', 'not supported by spar proxy');
    alo.unsupportedIfSet('access_log_flush_interval', 'not supported by spar proxy');
    alo.done();
  }
  const path = tc.enumOf('path_with_escaped_slashes_action', ['IMPLEMENTATION_SPECIFIC_DEFAULT', 'KEEP_UNCHANGED'] as const, 'IMPLEMENTATION_SPECIFIC_DEFAULT');
  void path;
  const internal = c.internalRanges;
  const iac = tc.opt('internal_address_config');
  if (iac) {
    iac.bool('unix_sockets');
    for (const r of iac.list('cidr_ranges')) {
      const c = readCidr(r);
      if (c) internal.push(c);
    }
    iac.done();
  }
  const scc = tc.opt('set_current_client_cert_details');
  if (scc) {
    c.clientCertDetails = clientCertDetails({ subject: scc.bool('subject'), cert: scc.bool('cert'), chain: scc.bool('chain'), dns: scc.bool('dns'), uri: scc.bool('uri') });
    scc.done();
  }
  const tr = tc.opt('tracing');
  if (tr) {
    for (const k of ['client_sampling', 'random_sampling', 'overall_sampling']) {
      const pct = tr.opt(k);
      pct?.num('value');
      pct?.done();
    }
    tr.bool('verbose');
    tr.num('max_path_tag_length');
    tr.ignore('custom_tags', 'spawn_upstream_span');
    tr.unsupported('provider', 'tracing providers (span export) are not supported by spar proxy yet');
    tr.done();
    // Envoy's operation name follows the listener's traffic_direction: OUTBOUND is egress, else ingress.
    c.tracing = ctx.direction === 'OUTBOUND' ? 'egress' : 'ingress';
  }
  tc.unsupported('request_id_extension', 'request ID extensions are not supported by spar proxy');
  tc.unsupported('local_reply_config', 'local reply mapping is not supported by spar proxy yet');
  tc.unsupported('original_ip_detection_extensions', 'not supported by spar proxy');
  tc.unsupported('early_header_mutation_extensions', 'not supported by spar proxy');
  tc.unsupported('http3_protocol_options', 'HTTP/3 is not supported by spar proxy');
  tc.unsupported('strip_matching_host_port', 'not supported by spar proxy yet');
  tc.unsupported('strip_any_host_port', 'not supported by spar proxy yet');
  tc.unsupported('add_user_agent', 'not supported by spar proxy yet');
  tc.unsupported('proxy_100_continue', 'not supported by spar proxy yet');
  tc.unsupported('represent_ipv4_remote_address_as_ipv4_mapped_ipv6');
  tc.unsupported('stream_error_on_invalid_http_message', 'not supported by spar proxy yet');
  tc.unsupported('server_header_transformation_value');
  tc.unsupported('normalize_path_extensions');
  tc.unsupported('typed_header_validation_config', 'not supported by spar proxy');
  tc.unsupported('proxy_status_config', 'not supported by spar proxy');
  tc.unsupported('append_x_forwarded_port', 'not supported by spar proxy yet');
  tc.unsupported('append_local_overload');
  tc.unsupported('user_agent_filter');
  tc.done();
  return c;
}
