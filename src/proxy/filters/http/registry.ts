/**
 * The HTTP filter registry (STYLE.md habit 2): each filter registers its config type URL and a
 * factory. The connection manager resolves its `http_filters` list against it once per config;
 * a filter not found is an error naming it unless the filter is `is_optional` (then skipped, as Envoy).
 */
import type { Fields } from '../../config/fields.js';
import type { StreamInfo } from '../../stream-info.js';
import type { Headers } from '../../http/headers.js';
import type { StatsStore } from '../../stats/stats.js';

/** Per-stream callbacks a filter may implement; the router is always last and is not one of these. */
export interface HttpFilter {
  /** Request headers arrived; return false to stop the chain (the filter sent a local reply). */
  onRequestHeaders?(h: Headers, si: StreamInfo, reply: (status: number, body: string, flag?: string) => void): boolean;
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
}

export type HttpFilterFactory = (config: Fields, ctx: FilterContext) => HttpFilter;

const registry = new Map<string, HttpFilterFactory>();

export function registerHttpFilter(typeName: string, factory: HttpFilterFactory): void {
  registry.set(typeName, factory);
}

export function lookupHttpFilter(typeName: string): HttpFilterFactory | undefined {
  return registry.get(typeName);
}

export const ROUTER_TYPE = 'envoy.extensions.filters.http.router.v3.Router';
