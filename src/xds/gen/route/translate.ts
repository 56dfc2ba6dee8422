/**
 * VirtualService HTTP routes → Envoy Routes (Istio: route.TranslateRoute): destinations and
 * weights, redirect, direct response, rewrite, timeout, retries, fault, mirrors, header
 * operations, CORS, consistent-hash policies from DestinationRules, and delegation.
 */
import type { CorsPolicy, Destination, HTTPFaultInjection, HTTPMatchRequest, HTTPRetry, HTTPRoute, Headers } from '../../../api/types.js';
import type { Proxy } from '../../../model/proxy.js';
import type { PushContext, VirtualServiceConfig } from '../../../model/push-context.js';
import { resolveShortName } from '../../../model/host.js';
import { outboundClusterName, parseClusterName } from '../../../model/naming.js';
import type { EnvoyJson } from '../../codec.js';
import { compact, duration, durationSeconds, Ext, fractionalPercent, integerPercent } from '../common.js';
import { effectivePolicy } from '../traffic-policy.js';
import { isCatchAll, matchAppliesTo, stringMatcher, translateRouteMatch } from './match.js';

export interface RouteContext {
  proxy: Proxy;
  push: PushContext;
  /** The listener port the route table serves (for match.port and port-less destinations). */
  port: number;
  /** `mesh` for sidecars; `namespace/name` of the gateways for routers. */
  gateways: readonly string[];
  /** Redirects on a TLS listener default to https. */
  isTLS?: boolean;
  /** Hash policies already looked up for this route table, by cluster. */
  hashMemo?: Map<string, EnvoyJson | undefined>;
}

const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';
const PREVIOUS_HOSTS = { name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { '@type': Ext.PreviousHosts } };

/** Istio's retry policy translation (default: 2 retries on connection-level failures). */
export function retryPolicy(r: HTTPRetry | undefined, consistentHash: boolean): EnvoyJson | undefined {
  const out: Record<string, unknown> = { retry_on: DEFAULT_RETRY_ON, num_retries: 2, host_selection_retry_max_attempts: '5' };
  if (!consistentHash) out.retry_host_predicate = [PREVIOUS_HOSTS];
  if (!r) return out as EnvoyJson;
  if (!r.attempts || r.attempts <= 0) return undefined;
  out.num_retries = r.attempts;
  if (r.retryOn) {
    const parts = r.retryOn.split(',').map((s) => s.trim()).filter(Boolean);
    const codes = parts.filter((p) => /^[0-9]{3}$/.test(p)).map(Number);
    let on = parts.filter((p) => !/^[0-9]{3}$/.test(p)).join(',');
    if (codes.length) {
      out.retriable_status_codes = codes;
      if (!on.includes('retriable-status-codes')) on = on ? `${on},retriable-status-codes` : 'retriable-status-codes';
    }
    out.retry_on = on;
  }
  if (r.perTryTimeout) out.per_try_timeout = duration(r.perTryTimeout);
  if (r.retryIgnorePreviousHosts !== undefined) {
    if (r.retryIgnorePreviousHosts) out.retry_host_predicate = [PREVIOUS_HOSTS];
    else delete out.retry_host_predicate;
  }
  if (r.retryRemoteLocalities) {
    out.retry_priority = { name: 'envoy.retry_priorities.previous_priorities', typed_config: { '@type': Ext.PreviousPriorities, update_frequency: 2 } };
  }
  if (r.backoff) out.retry_back_off = { base_interval: duration(r.backoff) };
  return out as EnvoyJson;
}

/** The cluster a destination names (Istio's GetDestinationCluster). */
export function destinationCluster(ctx: RouteContext, d: Destination | undefined, vsNamespace: string): string {
  // Istio names a destination without a host "UnknownService" (no such cluster: requests get 503).
  if (!d?.host) return 'UnknownService';
  const host = resolveShortName(d.host, vsNamespace, ctx.push.mesh.dnsDomain);
  const svc = ctx.push.serviceFor(host, ctx.proxy.namespace);
  const port = d.port?.number ?? (svc && svc.ports.length === 1 ? svc.ports[0].port : ctx.port);
  return outboundClusterName(port, d.subset ?? '', host);
}

/** A DestinationRule consistent hash for the destination → Envoy hash policy. */
export function hashPolicy(ctx: RouteContext, cluster: string): EnvoyJson | undefined {
  const memo = (ctx.hashMemo ??= new Map());
  if (memo.has(cluster)) return memo.get(cluster);
  const h = computeHashPolicy(ctx, cluster);
  memo.set(cluster, h);
  return h;
}

function computeHashPolicy(ctx: RouteContext, cluster: string): EnvoyJson | undefined {
  const p = parseClusterName(cluster);
  if (!p) return undefined;
  const svc = ctx.push.serviceFor(p.host, ctx.proxy.namespace);
  const dr = ctx.push.destinationRuleFor(ctx.proxy.namespace, svc, p.host, ctx.proxy.labels);
  if (!dr) return undefined;
  const subset = dr.spec.subsets?.find((s) => s.name === p.subset);
  const ch = effectivePolicy(dr.spec.trafficPolicy, subset?.trafficPolicy, p.port).loadBalancer?.consistentHash;
  if (!ch) return undefined;
  if (ch.httpHeaderName) return { header: { header_name: ch.httpHeaderName } };
  if (ch.httpCookie) {
    return { cookie: compact({ name: ch.httpCookie.name, ttl: duration(ch.httpCookie.ttl), path: ch.httpCookie.path, attributes: ch.httpCookie.attributes?.length ? ch.httpCookie.attributes : undefined }) };
  }
  if (ch.useSourceIp) return { connection_properties: { source_ip: true } };
  if (ch.httpQueryParameterName) return { query_parameter: { name: ch.httpQueryParameterName } };
  return undefined;
}

interface HeaderOps {
  request_headers_to_add?: EnvoyJson[];
  request_headers_to_remove?: string[];
  response_headers_to_add?: EnvoyJson[];
  response_headers_to_remove?: string[];
  authority?: string;
}

const internal = (k: string) => k.startsWith(':') || k.toLowerCase() === 'host';

function headerOptions(m: Record<string, string> | undefined, append: boolean): { list: EnvoyJson[]; authority?: string } {
  let authority: string | undefined;
  const list: EnvoyJson[] = [];
  for (const k of Object.keys(m ?? {}).sort()) {
    if (k.toLowerCase() === ':authority' || k.toLowerCase() === 'host') authority = m![k];
    if (internal(k)) continue;
    list.push({ header: { key: k, value: m![k] }, append_action: append ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD' });
  }
  return { list, authority };
}

export function headerOperations(h: Headers | undefined): HeaderOps {
  if (!h) return {};
  const rs = headerOptions(h.request?.set, false);
  const ra = headerOptions(h.request?.add, true);
  const ps = headerOptions(h.response?.set, false);
  const pa = headerOptions(h.response?.add, true);
  const out: HeaderOps = {};
  if (rs.list.length + ra.list.length) out.request_headers_to_add = [...rs.list, ...ra.list];
  if (ps.list.length + pa.list.length) out.response_headers_to_add = [...ps.list, ...pa.list];
  const rr = (h.request?.remove ?? []).filter((k) => !internal(k));
  const pr = (h.response?.remove ?? []).filter((k) => !internal(k));
  if (rr.length) out.request_headers_to_remove = rr;
  if (pr.length) out.response_headers_to_remove = pr;
  const authority = rs.authority ?? ra.authority;
  if (authority) out.authority = authority;
  return out;
}

export function translateFault(f: HTTPFaultInjection): EnvoyJson | undefined {
  const out: Record<string, unknown> = { '@type': Ext.Fault };
  if (f.delay?.fixedDelay) {
    const pct = f.delay.percentage ? fractionalPercent(f.delay.percentage.value ?? 0) : integerPercent(f.delay.percent ?? 100);
    out.delay = { fixed_delay: duration(f.delay.fixedDelay), percentage: pct };
  }
  if (f.abort) {
    // Istio leaves the percentage unset (Envoy: 100%) when the abort gives none.
    const pct = f.abort.percentage ? { percentage: fractionalPercent(f.abort.percentage.value ?? 0) } : {};
    if (f.abort.httpStatus) out.abort = { http_status: f.abort.httpStatus, ...pct };
    else if (f.abort.grpcStatus) {
      const code = GRPC_STATUS[f.abort.grpcStatus] ?? Number(f.abort.grpcStatus);
      if (Number.isInteger(code)) out.abort = { grpc_status: code, ...pct };
    }
  }
  return out.delay || out.abort ? (out as EnvoyJson) : undefined;
}

const GRPC_STATUS: Record<string, number> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
};

export function translateCors(c: CorsPolicy): EnvoyJson {
  const origins = c.allowOrigins?.length ? c.allowOrigins.map((o) => stringMatcher(o)).filter((x): x is EnvoyJson => !!x) : (c.allowOrigin ?? []).map((o) => ({ exact: o }));
  return compact({
    '@type': Ext.CorsPolicy,
    allow_origin_string_match: origins.length ? origins : undefined,
    allow_methods: c.allowMethods?.length ? c.allowMethods.join(',') : undefined,
    allow_headers: c.allowHeaders?.length ? c.allowHeaders.join(',') : undefined,
    expose_headers: c.exposeHeaders?.length ? c.exposeHeaders.join(',') : undefined,
    max_age: c.maxAge ? String(Math.floor(durationSeconds(c.maxAge) ?? 0)) : undefined,
    allow_credentials: c.allowCredentials,
    filter_enabled: { default_value: { numerator: 100, denominator: 'HUNDRED' } },
    forward_not_matching_preflights: c.unmatchedPreflights !== 'IGNORE',
  });
}

function redirectAction(r: NonNullable<HTTPRoute['redirect']>, port: number, isTLS: boolean): EnvoyJson | undefined {
  const out: Record<string, unknown> = {};
  if (r.authority) out.host_redirect = r.authority;
  if (r.prefixRewrite) out.prefix_rewrite = r.prefixRewrite;
  else if (r.uri) out.path_redirect = r.uri;
  if (r.scheme) out.scheme_redirect = r.scheme;
  let p = r.port ?? (r.derivePort === 'FROM_REQUEST_PORT' ? port : undefined);
  const scheme = r.scheme ?? (isTLS ? 'https' : 'http');
  if ((p === 80 && scheme === 'http') || (p === 443 && scheme === 'https')) p = undefined;
  if (p) out.port_redirect = p;
  const codes: Record<number, string> = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' };
  const code = codes[r.redirectCode ?? 301];
  if (!code) return undefined;
  out.response_code = code;
  return out as EnvoyJson;
}

/** One Envoy route for one HTTPRoute and one of its matches (undefined when it does not apply). */
export function translateRoute(ctx: RouteContext, vs: VirtualServiceConfig, r: HTTPRoute, match: HTTPMatchRequest | undefined): EnvoyJson | undefined {
  if (!matchAppliesTo(match, ctx.proxy, ctx.port, ctx.gateways, vs.namespace)) return undefined;
  const name = [r.name, match?.name].filter(Boolean).join('.');
  const out: Record<string, unknown> = {};
  if (name) out.name = name;
  out.match = translateRouteMatch(match);
  if (match?.statPrefix) out.stat_prefix = match.statPrefix;
  out.metadata = { filter_metadata: { istio: { config: `/apis/networking.istio.io/v1/namespaces/${vs.namespace}/virtual-service/${vs.name}` } } };
  const ops = headerOperations(r.headers);
  let authority = ops.authority;
  delete ops.authority;
  Object.assign(out, ops);
  if (r.redirect) {
    const red = redirectAction(r.redirect, ctx.port, !!ctx.isTLS);
    if (!red) return undefined;
    out.redirect = red;
  } else if (r.directResponse) {
    const body = r.directResponse.body;
    out.direct_response = compact({
      status: r.directResponse.status,
      body: body?.string !== undefined ? { inline_string: body.string } : body?.bytes !== undefined ? { inline_bytes: body.bytes } : undefined,
    });
  } else {
    const action: Record<string, unknown> = {};
    const dests = (r.route ?? []).filter((d, _i, all) => all.length === 1 || (d.weight ?? 0) > 0);
    let hash = false;
    if (dests.length === 1) {
      const d = dests[0];
      action.cluster = destinationCluster(ctx, d.destination, vs.namespace);
      const dh = headerOperations(d.headers);
      if (dh.request_headers_to_add) out.request_headers_to_add = [...((out.request_headers_to_add as EnvoyJson[]) ?? []), ...dh.request_headers_to_add];
      if (dh.response_headers_to_add) out.response_headers_to_add = [...((out.response_headers_to_add as EnvoyJson[]) ?? []), ...dh.response_headers_to_add];
      if (dh.request_headers_to_remove) out.request_headers_to_remove = [...((out.request_headers_to_remove as string[]) ?? []), ...dh.request_headers_to_remove];
      if (dh.response_headers_to_remove) out.response_headers_to_remove = [...((out.response_headers_to_remove as string[]) ?? []), ...dh.response_headers_to_remove];
      if (dh.authority && !authority && !r.rewrite?.authority) authority = dh.authority;
      const hp = hashPolicy(ctx, action.cluster as string);
      if (hp) {
        action.hash_policy = [hp];
        hash = true;
      }
    } else if (dests.length > 1) {
      const clusters = dests.map((d) => {
        const cw: Record<string, unknown> = { name: destinationCluster(ctx, d.destination, vs.namespace), weight: d.weight ?? 0 };
        const dh = headerOperations(d.headers);
        if (dh.authority) cw.host_rewrite_literal = dh.authority;
        delete dh.authority;
        Object.assign(cw, dh);
        return cw as EnvoyJson;
      });
      action.weighted_clusters = { clusters };
      const hps = clusters.map((c) => hashPolicy(ctx, String(c.name))).filter((x): x is EnvoyJson => !!x);
      if (hps.length) action.hash_policy = hps;
    } else {
      // No destination: Istio validation rejects this; answer 500 rather than point nowhere.
      out.direct_response = { status: 500 };
    }
    if (!out.direct_response) {
      action.timeout = duration(r.timeout) ?? '0s';
      action.max_grpc_timeout = action.timeout;
      if (r.rewrite?.uriRegexRewrite?.match !== undefined) {
        action.regex_rewrite = { pattern: { regex: r.rewrite.uriRegexRewrite.match }, substitution: r.rewrite.uriRegexRewrite.rewrite ?? '' };
      } else if (r.rewrite?.uri) {
        action.prefix_rewrite = r.rewrite.uri;
      }
      if (r.rewrite?.authority) authority = r.rewrite.authority;
      if (authority) action.host_rewrite_literal = authority;
      const mirrors = mirrorPolicies(ctx, r, vs.namespace);
      if (mirrors.length) action.request_mirror_policies = mirrors;
      const rp = retryPolicy(r.retries ?? ctx.push.mesh.defaultHttpRetryPolicy, hash);
      if (rp) action.retry_policy = rp;
      out.route = action;
    }
  }
  out.decorator = { operation: operationName(out, vs.name, ctx.port) };
  const tpfc: Record<string, EnvoyJson> = {};
  const fault = r.fault ? translateFault(r.fault) : undefined;
  if (fault) tpfc['envoy.filters.http.fault'] = fault;
  if (r.corsPolicy) tpfc['envoy.filters.http.cors'] = translateCors(r.corsPolicy);
  if (Object.keys(tpfc).length) out.typed_per_filter_config = tpfc;
  return out as EnvoyJson;
}

function mirrorPolicies(ctx: RouteContext, r: HTTPRoute, ns: string): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  if (r.mirror) {
    const legacy = r.mirrorPercent ?? r.mirror_percent;
    const pct = r.mirrorPercentage ? r.mirrorPercentage.value ?? 0 : legacy ?? 100;
    const fraction = r.mirrorPercentage ? fractionalPercent(pct) : integerPercent(pct);
    if (pct > 0) out.push({ cluster: destinationCluster(ctx, r.mirror, ns), runtime_fraction: { default_value: fraction }, trace_sampled: false });
  }
  for (const m of r.mirrors ?? []) {
    const pct = m.percentage ? m.percentage.value ?? 0 : 100;
    const fraction = m.percentage ? fractionalPercent(pct) : integerPercent(100);
    if (pct > 0) out.push({ cluster: destinationCluster(ctx, m.destination, ns), runtime_fraction: { default_value: fraction }, trace_sampled: false });
  }
  return out;
}

/** Istio's decorator operation: `host:port/path*` for a single cluster, else `vsName:port/path*`. */
function operationName(route: Record<string, unknown>, vsName: string, port: number): string {
  const m = route.match as Record<string, unknown>;
  const path = typeof m.prefix === 'string' ? `${m.prefix}*` : typeof m.path === 'string' ? m.path : m.safe_regex ? String((m.safe_regex as { regex: string }).regex) : '/*';
  const cluster = (route.route as Record<string, unknown> | undefined)?.cluster;
  const p = typeof cluster === 'string' ? parseClusterName(cluster) : undefined;
  return p ? `${p.host}:${p.port}${path}` : `${vsName}:${port}${path}`;
}

/**
 * All routes of a VirtualService for one listener port, delegates expanded (a delegate's matches
 * are combined with the root's: the delegate's conditions, the root's where the delegate has none).
 * Stops after a catch-all route, as Istio does.
 */
export function routesForVirtualService(ctx: RouteContext, vs: VirtualServiceConfig): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  for (const r of vs.spec.http ?? []) {
    if (r.delegate) {
      const d = ctx.push.delegates.get(`${r.delegate.namespace ?? vs.namespace}/${r.delegate.name ?? ''}`);
      if (!d) continue;
      for (const dr of d.spec.http ?? []) {
        const roots = r.match?.length ? r.match : [undefined];
        const subs = dr.match?.length ? dr.match : [undefined];
        for (const rm of roots) {
          if (!matchAppliesTo(rm, ctx.proxy, ctx.port, ctx.gateways, vs.namespace)) continue;
          for (const sm of subs) {
            const merged = rm || sm ? ({ ...(rm ?? {}), ...(sm ?? {}) } as HTTPMatchRequest) : undefined;
            const route = translateRoute(ctx, d, dr, merged);
            if (route) out.push(route);
          }
        }
      }
      continue;
    }
    const matches = r.match?.length ? r.match : [undefined];
    let catchAll = false;
    for (const m of matches) {
      const route = translateRoute(ctx, vs, r, m);
      if (!route) continue;
      out.push(route);
      if (isCatchAll(route.match as EnvoyJson)) {
        catchAll = true;
        break;
      }
    }
    if (catchAll) break;
  }
  return out;
}

/** The route Istio writes when no VirtualService applies: everything to the service's cluster. */
export function defaultRoute(cluster: string, host: string, port: number, retry?: HTTPRetry): EnvoyJson {
  return {
    name: 'default',
    match: { prefix: '/' },
    route: compact({ cluster, timeout: '0s', retry_policy: retryPolicy(retry, false), max_grpc_timeout: '0s' }),
    decorator: { operation: `${host}:${port}/*` },
  } as EnvoyJson;
}
