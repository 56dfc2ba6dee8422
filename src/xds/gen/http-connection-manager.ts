/**
 * The HTTP connection manager Istio puts on every HTTP filter chain (Istio:
 * buildHTTPConnectionManager), its HTTP filter chain (fault, CORS, gRPC-Web when needed,
 * optional Spar filters, router), and the access log MeshConfig asks for.
 *
 * Spar-only HTTP filters (Istio's standard metrics, which upstream Envoy lacks) register a hook
 * here; each hook returns a filter marked `is_optional: true` so real Envoy skips it (DESIGN.md).
 * With no hooks registered nothing is added.
 */
import type { Proxy } from '../../model/proxy.js';
import type { PushContext } from '../../model/push-context.js';
import type { Protocol } from '../../model/service.js';
import type { EnvoyJson } from '../codec.js';
import { adsConfigSource, Ext } from './common.js';

export type TrafficDirection = 'outbound' | 'inbound' | 'gateway';

/** What an optional-filter hook is told about the chain it is asked to join. */
export interface HttpFilterContext {
  proxy: Proxy;
  push: PushContext;
  direction: TrafficDirection;
  protocol?: Protocol;
}

/** Returns a filter (with `is_optional: true`) or undefined to stay out of this chain. */
export type HttpFilterHook = (ctx: HttpFilterContext) => EnvoyJson | undefined;

const hooks: HttpFilterHook[] = [];

/** Registers a Spar-only HTTP filter, inserted before the router on every chain it accepts. */
export function registerHttpFilterHook(hook: HttpFilterHook): () => void {
  hooks.push(hook);
  return () => {
    const i = hooks.indexOf(hook);
    if (i >= 0) hooks.splice(i, 1);
  };
}

export interface HcmOptions {
  proxy: Proxy;
  push: PushContext;
  direction: TrafficDirection;
  statPrefix: string;
  /** RDS route table name, or an inline route table. */
  rds?: string;
  routeConfig?: EnvoyJson;
  protocol?: Protocol;
}

export function httpFilters(ctx: HttpFilterContext): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  if (ctx.protocol === 'GRPC-Web') out.push({ name: 'envoy.filters.http.grpc_web', typed_config: { '@type': Ext.GrpcWeb } });
  out.push({ name: 'envoy.filters.http.fault', typed_config: { '@type': Ext.Fault } });
  out.push({ name: 'envoy.filters.http.cors', typed_config: { '@type': Ext.Cors } });
  for (const h of hooks) {
    const f = h(ctx);
    if (f) out.push({ ...f, is_optional: true });
  }
  out.push({ name: 'envoy.filters.http.router', typed_config: { '@type': Ext.Router } });
  return out;
}

/**
 * Istio's default text access log format (meshConfig accessLogEncoding TEXT, no accessLogFormat):
 * Envoy's default plus the upstream cluster, addresses, SNI and route name.
 */
export const ISTIO_TEXT_LOG_FORMAT = '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" ' +
  '%UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n';

export function accessLog(push: PushContext): EnvoyJson[] | undefined {
  const file = push.mesh.accessLogFile;
  if (!file) return undefined;
  const log_format = { text_format_source: { inline_string: push.mesh.accessLogFormat || ISTIO_TEXT_LOG_FORMAT } };
  if (file === '/dev/stdout') return [{ name: 'envoy.access_loggers.stdout', typed_config: { '@type': Ext.StdoutAccessLog, log_format } }];
  return [{ name: 'envoy.access_loggers.file', typed_config: { '@type': Ext.FileAccessLog, path: file, log_format } }];
}

/** The `envoy.filters.network.http_connection_manager` network filter. */
export function httpConnectionManager(o: HcmOptions): EnvoyJson {
  const hcm: Record<string, unknown> = {
    '@type': Ext.HCM,
    stat_prefix: o.statPrefix,
    codec_type: 'AUTO',
  };
  if (o.rds) hcm.rds = { config_source: adsConfigSource(), route_config_name: o.rds };
  else hcm.route_config = o.routeConfig;
  hcm.http_filters = httpFilters({ proxy: o.proxy, push: o.push, direction: o.direction, protocol: o.protocol });
  const log = accessLog(o.push);
  if (log) hcm.access_log = log;
  hcm.use_remote_address = o.direction === 'gateway';
  hcm.upgrade_configs = [{ upgrade_type: 'websocket' }];
  hcm.stream_idle_timeout = '0s';
  hcm.normalize_path = true;
  hcm.path_with_escaped_slashes_action = 'KEEP_UNCHANGED';
  if (o.direction === 'inbound') {
    hcm.forward_client_cert_details = 'APPEND_FORWARD';
    hcm.set_current_client_cert_details = { subject: true, dns: true, uri: true };
    hcm.server_name = 'istio-envoy';
  }
  if (o.direction === 'gateway') hcm.server_name = 'istio-envoy';
  // Istio's tracing block, with no provider (Spar deploys no tracer): Envoy (and spar proxy) then
  // propagate route decorators (x-envoy-decorator-operation on egress) without exporting spans.
  if (o.push.mesh.enableTracing) {
    hcm.tracing = { client_sampling: { value: 100 }, random_sampling: { value: o.push.mesh.tracingSampling }, overall_sampling: { value: 100 } };
  }
  if (o.protocol === 'HTTP2' || o.protocol === 'GRPC') hcm.http2_protocol_options = {};
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: hcm as EnvoyJson };
}
