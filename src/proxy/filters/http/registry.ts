/**
 * The HTTP filter registry (STYLE.md habit 2): each filter registers its config type URL and a
 * factory. The connection manager resolves its `http_filters` list against it once per config;
 * a filter not found is an error naming it unless the filter is `is_optional` (then skipped, as Envoy).
 */
import type { Fields } from '../../config/fields.js';
import type { StreamInfo } from '../../stream-info.js';
import type { Headers } from '../../http/headers.js';
import type { StatsStore } from '../../stats/stats.js';
import type { HttpStream } from '../../http/stream.js';

/** What a filter's local reply may carry beyond status and body. */
export interface LocalReplyExtra {
  /** Response headers added to the local reply (e.g. a rate limit filter's response_headers_to_add). */
  headers?: Headers;
  /** %RESPONSE_CODE_DETAILS% (default fault_filter_abort). */
  details?: string;
}
export type FilterReply = (status: number, body: string, flag?: string, grpcStatus?: number, extra?: LocalReplyExtra) => void;

/** Per-stream callbacks a filter may implement; the router is always last and is not one of these. */
export interface HttpFilter {
  /** The filter's name in the chain (typed_per_filter_config keys refer to it). */
  name?: string;
  /**
   * Request headers arrived (after routing); return false to stop the chain (the filter sent a local
   * reply), or a promise of that when the filter must wait (a fault delay). `perRoute` is this
   * filter's typed_per_filter_config on the route, compiled, if any; `stream` gives the route and
   * the connection to filters that need them (rate limits).
   */
  onRequestHeaders?(h: Headers, si: StreamInfo, reply: FilterReply, perRoute: unknown, cluster: string, stream: HttpStream): boolean | Promise<boolean>;
  /** Response headers on their way downstream. */
  onResponseHeaders?(status: number, h: Headers, si: StreamInfo): void;
  /** The stream is done (after access logs have the final values). */
  onDone?(si: StreamInfo): void;
}

export interface FilterContext {
  stats: StatsStore;
  /** The listener direction (Istio's reporter label): INBOUND / OUTBOUND / UNSPECIFIED. */
  direction: string;
  nodeMetadata: Record<string, unknown>;
  /** Whether a cluster exists now (validate_clusters of inline route configs). */
  clusterExists?: (name: string) => boolean;
}

export type HttpFilterFactory = (config: Fields, ctx: FilterContext) => HttpFilter;
/** Compiles the filter's per-route config (typed_per_filter_config) once, at route config time. */
export type PerRouteCompiler = (config: Fields) => unknown;

const registry = new Map<string, HttpFilterFactory>();
const perRoute = new Map<string, PerRouteCompiler>();

export function registerHttpFilter(typeName: string, factory: HttpFilterFactory, perRouteTypes: Record<string, PerRouteCompiler> = {}): void {
  registry.set(typeName, factory);
  for (const [t, c] of Object.entries(perRouteTypes)) perRoute.set(t, c);
}

export function lookupHttpFilter(typeName: string): HttpFilterFactory | undefined {
  return registry.get(typeName);
}

/**
 * Spar's own filters carry a google.protobuf.Struct config (a type real Envoy can parse, then skips
 * as is_optional), so they are found by filter name and config type together.
 */
const byName = new Map<string, { type: string; factory: HttpFilterFactory }>();
export function registerHttpFilterByName(name: string, typeName: string, factory: HttpFilterFactory): void {
  byName.set(name, { type: typeName, factory });
}
export function lookupHttpFilterByName(name: string, typeName: string): HttpFilterFactory | undefined {
  const e = byName.get(name);
  return e && e.type === typeName ? e.factory : undefined;
}

export function lookupPerRoute(typeName: string): PerRouteCompiler | undefined {
  return perRoute.get(typeName);
}

export const ROUTER_TYPE = 'envoy.extensions.filters.http.router.v3.Router';
