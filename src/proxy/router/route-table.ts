/**
 * envoy.config.route.v3.RouteConfiguration compiled into a route table: virtual host selection by
 * :authority (exact, then longest `*.suffix`, then longest `prefix.*`, then `*`; case-insensitive),
 * then the first route whose match succeeds, as Envoy documents. Built once per RDS update; the
 * request path only calls `select` and `match`.
 */
import { ConfigErrors, Fields, typeName } from '../config/fields.js';
import { lookupPerRoute } from '../filters/http/registry.js';
import '../filters/http/index.js';
import type { EnvoyJson } from '../../xds/codec.js';
import { chain, readMutation, type HeaderMutation } from '../http/headers.js';
import { compileRegex, toJsSubstitution, type CompiledRegex } from '../matchers/regex.js';
import { compileRouteMatch, type CompiledMatch, type RequestView } from './route-matchers.js';
import { compileRetryPolicy, type RetryPolicy } from './retry-policy.js';
import { compileHashPolicies, type HashPolicy } from './hash-policy.js';
import { compileMirrorPolicies, type MirrorPolicy } from './mirror.js';
import { compileRateLimits, type RateLimitPolicy } from './rate-limit-policy.js';

export interface WeightedCluster {
  name: string;
  weight: number;
  requestMutation: HeaderMutation;
  responseMutation: HeaderMutation;
  hostRewrite?: string;
}

export interface RouteAction {
  kind: 'route';
  cluster?: string;
  clusterHeader?: string;
  weighted?: { clusters: WeightedCluster[]; total: number };
  prefixRewrite?: string;
  regexRewrite?: { re: CompiledRegex; sub: string };
  hostRewrite?: string;
  autoHostRewrite: boolean;
  hostRewriteHeader?: string;
  hostRewritePathRegex?: { re: CompiledRegex; sub: string };
  timeoutMs: number;
  idleTimeoutMs: number;
  retry?: RetryPolicy;
  hash?: HashPolicy;
  clusterNotFoundCode: number;
  upgrades: Set<string>;
  maxGrpcTimeoutMs?: number;
  /** RoutingPriority: 1 for HIGH (undefined: DEFAULT). */
  priority?: 1;
  /** request_mirror_policies (undefined when none: the router pays nothing). */
  mirrors?: MirrorPolicy[];
  /** rate_limits (descriptors for the rate limit filters); undefined when none. */
  rateLimits?: RateLimitPolicy[];
}
export interface RedirectAction {
  kind: 'redirect';
  scheme?: string;
  host?: string;
  port?: number;
  path?: string;
  prefixRewrite?: string;
  regexRewrite?: { re: CompiledRegex; sub: string };
  code: number;
  stripQuery: boolean;
}
export interface DirectResponseAction {
  kind: 'direct_response';
  status: number;
  body?: Buffer;
}

export interface Route {
  name: string;
  match: CompiledMatch;
  action: RouteAction | RedirectAction | DirectResponseAction;
  /** Request mutations of route, vhost and route config in Envoy's order. */
  requestMutation: HeaderMutation;
  responseMutation: HeaderMutation;
  vhost: VirtualHost;
  /** Compiled typed_per_filter_config by filter name (route over virtual host), or undefined. */
  perFilter?: Map<string, unknown>;
  /** decorator.operation when it is propagated (the connection manager sends it upstream when tracing). */
  decorator?: string;
}

export interface VirtualHost {
  name: string;
  domains: string[];
  routes: Route[];
  /** include_request_attempt_count / include_attempt_count_in_response: x-envoy-attempt-count. */
  attemptCountUpstream: boolean;
  attemptCountDownstream: boolean;
  /** The virtual host's rate_limits; undefined when none. */
  rateLimits?: RateLimitPolicy[];
  /** require_tls: requests not over https (x-forwarded-proto) are redirected to https (301). */
  requireTls?: 'EXTERNAL_ONLY' | 'ALL';
}

const REDIRECT_CODES: Record<string, number> = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 };

export class RouteTable {
  private readonly exact = new Map<string, VirtualHost>();
  private readonly suffixes: { s: string; vh: VirtualHost }[] = [];
  private readonly prefixes: { p: string; vh: VirtualHost }[] = [];
  private wildcard: VirtualHost | undefined;
  readonly vhosts: VirtualHost[] = [];
  ignorePort = false;
  validateClusters = false;

  /** Every cluster a route names (cluster and weighted_clusters; cluster_header is dynamic). */
  clusterNames(): Set<string> {
    const out = new Set<string>();
    for (const vh of this.vhosts) for (const r of vh.routes) {
      if (r.action.kind !== 'route') continue;
      if (r.action.cluster) out.add(r.action.cluster);
      for (const w of r.action.weighted?.clusters ?? []) out.add(w.name);
    }
    return out;
  }
  /** Every cluster a request_mirror_policies entry names (Envoy validates them as "shadow cluster"). */
  shadowClusterNames(): Set<string> {
    const out = new Set<string>();
    for (const vh of this.vhosts) for (const r of vh.routes) if (r.action.kind === 'route') for (const m of r.action.mirrors ?? []) if (m.cluster) out.add(m.cluster);
    return out;
  }
  /** Headers stripped from requests that come from outside (internal_only_headers). */
  internalOnly: string[] = [];

  constructor(readonly name: string, readonly json: EnvoyJson) {}

  add(vh: VirtualHost, f: Fields): void {
    this.vhosts.push(vh);
    for (const d0 of vh.domains) {
      const d = d0.toLowerCase();
      const clash = () => f.error('virtual_hosts', `only unique values for domains are permitted: ${JSON.stringify(d0)} is in more than one virtual host`);
      if (d === '*') {
        if (this.wildcard) clash();
        this.wildcard = vh;
      } else if (d.startsWith('*')) {
        if (this.suffixes.some((x) => x.s === d.slice(1))) clash();
        this.suffixes.push({ s: d.slice(1), vh });
      } else if (d.endsWith('*')) {
        if (this.prefixes.some((x) => x.p === d.slice(0, -1))) clash();
        this.prefixes.push({ p: d.slice(0, -1), vh });
      } else {
        if (this.exact.has(d)) clash();
        this.exact.set(d, vh);
      }
    }
  }
  seal(): void {
    // Longest wildcard wins, so test longest first.
    this.suffixes.sort((a, b) => b.s.length - a.s.length);
    this.prefixes.sort((a, b) => b.p.length - a.p.length);
  }

  /** The virtual host for an :authority. */
  select(authority: string): VirtualHost | undefined {
    let host = authority.toLowerCase();
    if (this.ignorePort) {
      const i = host.lastIndexOf(':');
      if (i > 0 && !host.endsWith(']')) host = host.slice(0, i);
    }
    const e = this.exact.get(host);
    if (e) return e;
    for (const x of this.suffixes) if (host.length > x.s.length && host.endsWith(x.s)) return x.vh;
    for (const x of this.prefixes) if (host.length > x.p.length && host.startsWith(x.p)) return x.vh;
    return this.wildcard;
  }

  match(authority: string, req: RequestView): Route | undefined {
    const vh = this.select(authority);
    if (!vh) return undefined;
    const rs = vh.routes;
    for (let i = 0; i < rs.length; i++) if (rs[i].match.test(req)) return rs[i];
    return undefined;
  }
}

function readRewrite(f: Fields, key: string): { re: CompiledRegex; sub: string } | undefined {
  const rr = f.opt(key);
  if (!rr) return undefined;
  const p = rr.obj_('pattern');
  const pattern = p.str('regex');
  p.opt('google_re2')?.done();
  p.done();
  const sub = rr.str('substitution');
  rr.done();
  const re = compileRegex(pattern, rr, 'pattern');
  return re ? { re, sub: toJsSubstitution(sub) } : undefined;
}

function readRouteAction(f: Fields, errs: ConfigErrors): RouteAction {
  const a: RouteAction = {
    kind: 'route', autoHostRewrite: false, timeoutMs: 15000, idleTimeoutMs: 0, clusterNotFoundCode: 503, upgrades: new Set(),
  };
  let n = 0;
  if (f.has('cluster')) { n++; a.cluster = f.str('cluster'); }
  if (f.has('cluster_header')) { n++; a.clusterHeader = f.str('cluster_header').toLowerCase(); }
  if (f.has('weighted_clusters')) {
    n++;
    const w = f.obj_('weighted_clusters');
    const clusters: WeightedCluster[] = [];
    for (const c of w.list('clusters')) {
      const wc: WeightedCluster = {
        name: c.str('name'),
        weight: c.num('weight', 0),
        requestMutation: readMutation(c, 'request'),
        responseMutation: readMutation(c, 'response'),
      };
      if (c.has('host_rewrite_literal')) wc.hostRewrite = c.str('host_rewrite_literal');
      c.unsupported('cluster_header');
      c.unsupported('typed_per_filter_config', 'per-filter config is not supported by spar proxy yet');
      c.ignore('metadata');
      c.done();
      clusters.push(wc);
    }
    const total = w.num('total_weight', 0) || clusters.reduce((s, c) => s + c.weight, 0);
    w.unsupported('runtime_key_prefix', 'runtime is not supported by spar proxy');
    w.unsupported('header_name', 'not supported by spar proxy yet');
    w.unsupported('random_value_specifier', 'not supported by spar proxy yet');
    w.done();
    if (total <= 0) f.error('weighted_clusters', 'total weight must be greater than 0');
    a.weighted = { clusters, total };
  }
  f.unsupported('cluster_specifier_plugin', 'not supported by spar proxy');
  f.unsupported('inline_cluster_specifier_plugin', 'not supported by spar proxy');
  if (n !== 1) f.error('', 'exactly one of cluster, cluster_header, weighted_clusters must be set');
  if (f.has('prefix_rewrite')) a.prefixRewrite = f.str('prefix_rewrite');
  a.regexRewrite = readRewrite(f, 'regex_rewrite');
  if (a.prefixRewrite !== undefined && a.regexRewrite) f.error('regex_rewrite', 'cannot be set together with prefix_rewrite');
  let hr = 0;
  if (f.has('host_rewrite_literal')) { hr++; a.hostRewrite = f.str('host_rewrite_literal'); }
  if (f.has('auto_host_rewrite')) { hr++; a.autoHostRewrite = f.bool('auto_host_rewrite'); }
  if (f.has('host_rewrite_header')) { hr++; a.hostRewriteHeader = f.str('host_rewrite_header').toLowerCase(); }
  if (f.has('host_rewrite_path_regex')) { hr++; a.hostRewritePathRegex = readRewrite(f, 'host_rewrite_path_regex'); }
  if (hr > 1) f.error('', 'only one host rewrite may be set');
  f.ignore('append_x_forwarded_host') ;
  if (f.obj.append_x_forwarded_host) f.error('append_x_forwarded_host', 'not supported by spar proxy yet');
  a.timeoutMs = f.durationMs('timeout', 15000);
  a.idleTimeoutMs = f.durationMs('idle_timeout', 0);
  if (a.idleTimeoutMs > 0) f.error('idle_timeout', 'per-route stream idle timeouts are not supported by spar proxy yet');
  if (f.has('retry_policy')) a.retry = compileRetryPolicy(f.obj_('retry_policy'));
  const hp = f.list('hash_policy');
  if (hp.length) a.hash = compileHashPolicies(hp);
  a.clusterNotFoundCode = f.enumOf('cluster_not_found_response_code', ['SERVICE_UNAVAILABLE', 'NOT_FOUND', 'INTERNAL_SERVER_ERROR'] as const, 'SERVICE_UNAVAILABLE') === 'NOT_FOUND' ? 404
    : f.obj.cluster_not_found_response_code === 'INTERNAL_SERVER_ERROR' ? 500 : 503;
  for (const u of f.list('upgrade_configs')) {
    const t = u.str('upgrade_type').toLowerCase();
    const en = u.bool('enabled', true);
    u.unsupported('connect_config', 'CONNECT is not supported by spar proxy');
    u.done();
    if (en) a.upgrades.add(t);
  }
  const msd = f.opt('max_stream_duration');
  if (msd) {
    const d = msd.durationMs('max_stream_duration', 0);
    if (d) msd.error('max_stream_duration', 'a non-zero max_stream_duration is not supported by spar proxy yet');
    const g = msd.durationMs('grpc_timeout_header_max', -1);
    if (g >= 0) a.maxGrpcTimeoutMs = g;
    msd.unsupported('grpc_timeout_header_offset', 'not supported by spar proxy yet');
    msd.done();
  }
  a.mirrors = compileMirrorPolicies(f.list('request_mirror_policies'));
  a.rateLimits = compileRateLimits(f.list('rate_limits'));
  f.unsupported('cors', 'CORS is not supported by spar proxy yet');
  // The circuit breakers' priority (the cluster's DEFAULT or HIGH thresholds and pools).
  if (f.enumOf('priority', ['DEFAULT', 'HIGH'] as const, 'DEFAULT') === 'HIGH') a.priority = 1;
  f.unsupported('metadata_match', 'subset load balancing is not supported by spar proxy yet');
  f.unsupported('internal_redirect_policy', 'not supported by spar proxy');
  f.unsupported('early_data_policy');
  f.unsupported('grpc_timeout_offset', 'deprecated; not supported by spar proxy');
  // Deprecated in Envoy but still what Istio sends: same meaning as max_stream_duration.grpc_timeout_header_max.
  if (f.has('max_grpc_timeout')) a.maxGrpcTimeoutMs = f.durationMs('max_grpc_timeout', 0);
  f.unsupported('include_vh_rate_limits');
  f.unsupported('hedge_policy', 'not supported by spar proxy');
  f.unsupported('retry_policy_typed_config');
  f.done();
  void errs;
  return a;
}

function readRedirect(f: Fields): RedirectAction {
  const r: RedirectAction = { kind: 'redirect', code: 301, stripQuery: false };
  if (f.bool('https_redirect')) r.scheme = 'https';
  if (f.has('scheme_redirect')) r.scheme = f.str('scheme_redirect');
  if (f.has('host_redirect')) r.host = f.str('host_redirect');
  if (f.has('port_redirect')) r.port = f.num('port_redirect');
  if (f.has('path_redirect')) r.path = f.str('path_redirect');
  if (f.has('prefix_rewrite')) r.prefixRewrite = f.str('prefix_rewrite');
  r.regexRewrite = readRewrite(f, 'regex_rewrite');
  r.code = REDIRECT_CODES[f.enumOf('response_code', Object.keys(REDIRECT_CODES), 'MOVED_PERMANENTLY')];
  r.stripQuery = f.bool('strip_query');
  f.done();
  return r;
}

function readDirect(f: Fields): DirectResponseAction {
  const d: DirectResponseAction = { kind: 'direct_response', status: f.num('status') };
  if (d.status < 200 || d.status > 599) f.error('status', 'must be in [200, 599]');
  const b = f.opt('body');
  if (b) {
    if (b.has('inline_string')) d.body = Buffer.from(b.str('inline_string'));
    if (b.has('inline_bytes')) d.body = Buffer.from(b.str('inline_bytes'), 'base64');
    b.unsupported('filename', 'direct_response from a file is not supported by spar proxy yet');
    b.unsupported('environment_variable');
    b.done();
  }
  f.done();
  return d;
}

/** typed_per_filter_config: each entry compiled by its filter's per-route compiler. */
function perFilterConfig(f: Fields, inherited?: Map<string, unknown>): Map<string, unknown> | undefined {
  const p = f.opt('typed_per_filter_config');
  if (!p) return inherited;
  const out = new Map(inherited);
  for (const k of Object.keys(p.obj)) {
    let cfg = p.obj_(k);
    let optional = false;
    if (typeName(cfg.str('@type')) === 'envoy.config.route.v3.FilterConfig') {
      optional = cfg.bool('is_optional');
      cfg.unsupportedIfSet('disabled', 'not supported by spar proxy yet');
      const inner = cfg.obj_('config');
      cfg.done();
      cfg = inner;
    }
    const t = typeName(cfg.str('@type'));
    const compile = lookupPerRoute(t);
    if (!compile) {
      // An optional filter's config may be skipped, as Envoy does.
      if (!optional) cfg.error('', `per-route config ${JSON.stringify(t)} for filter ${JSON.stringify(k)} is not supported by spar proxy`);
      continue;
    }
    out.set(k, compile(cfg));
  }
  p.done();
  return out.size ? out : undefined;
}

/** Compiles a RouteConfiguration (from RDS or inline route_config). */
export function compileRouteConfig(json: EnvoyJson, errs: ConfigErrors, path = '', inline = false): RouteTable {
  const name = typeof json.name === 'string' ? json.name : '';
  const f = new Fields(json, path || `RouteConfiguration ${JSON.stringify(name)}`, errs);
  f.ignore('name');
  const table = new RouteTable(name, json);
  const globalReq = readMutation(f, 'request');
  const globalResp = readMutation(f, 'response');
  const mostSpecificWins = f.bool('most_specific_header_mutations_wins');
  table.internalOnly = f.strList('internal_only_headers').map((h) => h.toLowerCase());
  table.ignorePort = f.bool('ignore_port_in_host_matching');
  // validate_clusters: Envoy's default is true for inline route configs, false for RDS.
  table.validateClusters = f.has('validate_clusters') ? f.bool('validate_clusters') : inline;
  f.num('max_direct_response_body_size_bytes', 4096);
  f.unsupported('vhds', 'VHDS is not supported by spar proxy');
  f.unsupported('cluster_specifier_plugins');
  // Mirror policies: the most specific non-empty list wins (route, then virtual host, then here).
  const globalMirrors = compileMirrorPolicies(f.list('request_mirror_policies'));
  f.unsupported('typed_per_filter_config', 'per-filter config is not supported by spar proxy yet');
  f.unsupported('metadata');
  for (const v of f.list('virtual_hosts')) {
    const vh: VirtualHost = { name: v.str('name'), domains: v.strList('domains'), routes: [], attemptCountUpstream: v.bool('include_request_attempt_count'), attemptCountDownstream: v.bool('include_attempt_count_in_response') };
    if (vh.domains.length === 0) v.error('domains', 'at least one domain is required');
    const vReq = readMutation(v, 'request');
    const vResp = readMutation(v, 'response');
    const vRetry = v.has('retry_policy') ? compileRetryPolicy(v.obj_('retry_policy')) : undefined;
    const requireTls = v.enumOf('require_tls', ['NONE', 'EXTERNAL_ONLY', 'ALL'] as const, 'NONE');
    if (requireTls !== 'NONE') vh.requireTls = requireTls;
    v.unsupported('virtual_clusters', 'not supported by spar proxy');
    vh.rateLimits = compileRateLimits(v.list('rate_limits'));
    v.unsupported('cors', 'CORS is not supported by spar proxy yet');
    v.unsupported('hedge_policy');
    const vMirrors = compileMirrorPolicies(v.list('request_mirror_policies')) ?? globalMirrors;
    v.unsupported('metadata');
    const vPerFilter = perFilterConfig(v);
    for (const rf of v.list('routes')) {
      const rname = rf.str('name');
      const match = compileRouteMatch(rf.obj_('match'));
      let action: Route['action'] | undefined;
      if (rf.has('route')) {
        action = readRouteAction(rf.obj_('route'), errs);
        if (!action.retry && vRetry) action.retry = vRetry;
        action.mirrors ??= vMirrors;
      }
      if (rf.has('redirect')) action = readRedirect(rf.obj_('redirect'));
      if (rf.has('direct_response')) action = readDirect(rf.obj_('direct_response'));
      rf.unsupported('filter_action');
      rf.unsupported('non_forwarding_action');
      if (!action) {
        rf.error('', 'one of route, redirect, direct_response is required');
        action = { kind: 'direct_response', status: 500 };
      }
      const rReq = readMutation(rf, 'request');
      const rResp = readMutation(rf, 'response');
      rf.ignore('metadata'); // data for filters
      let decorator: string | undefined;
      const dec = rf.opt('decorator');
      if (dec) {
        const op = dec.str('operation');
        if (dec.bool('propagate', true) && op) decorator = op;
        dec.done();
      }
      const perFilter = perFilterConfig(rf, vPerFilter);
      rf.num('per_request_buffer_limit_bytes');
      rf.unsupported('tracing', 'tracing is not supported by spar proxy yet');
      rf.unsupported('stat_prefix');
      rf.done();
      const order = mostSpecificWins ? [globalReq, vReq, rReq] : [rReq, vReq, globalReq];
      const orderResp = mostSpecificWins ? [globalResp, vResp, rResp] : [rResp, vResp, globalResp];
      vh.routes.push({ name: rname, match, action, requestMutation: chain(order), responseMutation: chain(orderResp), vhost: vh, perFilter, decorator });
    }
    v.done();
    table.add(vh, f);
  }
  f.done();
  table.seal();
  return table;
}
