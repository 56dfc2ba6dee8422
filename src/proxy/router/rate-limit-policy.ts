/**
 * Route and virtual host `rate_limits` (envoy.config.route.v3.RateLimit): each entry's actions, in
 * order, build one descriptor — a list of (key, value) entries — for the rate limit filters
 * (envoy.filters.http.local_ratelimit and envoy.filters.http.ratelimit) of the same `stage`. As Envoy
 * documents, an action that cannot produce its entry (a missing header, a header_value_match that does
 * not match) drops the whole descriptor, except request_headers with skip_if_absent, which only drops
 * its own entry.
 *
 * Compiled with the route table; the request path only runs the compiled closures, and only when a
 * rate limit filter asks.
 */
import type { Fields } from '../config/fields.js';
import type { Headers } from '../http/headers.js';
import { getHeader } from '../http/headers.js';
import { compileHeaderMatcher, type RoutePredicate } from './route-matchers.js';

export interface DescriptorEntry {
  key: string;
  value: string;
}
export type Descriptor = DescriptorEntry[];

/** What an action may read from the request. */
export interface DescriptorRequest {
  headers: Headers;
  path: string;
  query: string;
  /** The downstream client's address (IP only). */
  remoteIp: string;
  /** The route's target cluster. */
  cluster: string;
}

/** An entry; SKIP_DESCRIPTOR drops the descriptor, undefined drops only the entry. */
type Action = (r: DescriptorRequest) => DescriptorEntry | typeof SKIP_DESCRIPTOR | undefined;
const SKIP_DESCRIPTOR = null;

export interface RateLimitPolicy {
  stage: number;
  actions: Action[];
}

function compileAction(f: Fields): Action | undefined {
  const kinds = Object.keys(f.obj).filter((k) => f.obj[k] !== undefined && f.obj[k] !== null);
  if (kinds.length !== 1) {
    f.error('', 'exactly one rate limit action must be set');
    return undefined;
  }
  const kind = kinds[0];
  const a = f.obj_(kind);
  let out: Action | undefined;
  switch (kind) {
    case 'destination_cluster':
      out = (r) => ({ key: 'destination_cluster', value: r.cluster });
      break;
    case 'remote_address':
      out = (r) => (r.remoteIp ? { key: 'remote_address', value: r.remoteIp } : SKIP_DESCRIPTOR);
      break;
    case 'generic_key': {
      const entry = { key: a.str('descriptor_key') || 'generic_key', value: a.str('descriptor_value') };
      if (!entry.value) a.error('descriptor_value', 'must not be empty');
      out = () => entry;
      break;
    }
    case 'request_headers': {
      const name = a.str('header_name').toLowerCase();
      const key = a.str('descriptor_key');
      const skipIfAbsent = a.bool('skip_if_absent');
      if (!name) a.error('header_name', 'must not be empty');
      if (!key) a.error('descriptor_key', 'must not be empty');
      out = (r) => {
        const v = getHeader(r.headers, name);
        if (v === undefined) return skipIfAbsent ? undefined : SKIP_DESCRIPTOR;
        return { key, value: v };
      };
      break;
    }
    case 'header_value_match': {
      const entry = { key: a.str('descriptor_key') || 'header_match', value: a.str('descriptor_value') };
      const expect = a.bool('expect_match', true);
      const matchers: RoutePredicate[] = a.list('headers').map(compileHeaderMatcher);
      if (matchers.length === 0) a.error('headers', 'at least one header matcher is required');
      out = (r) => {
        let all = true;
        for (const m of matchers) if (!m(r)) { all = false; break; }
        return all === expect ? entry : SKIP_DESCRIPTOR;
      };
      break;
    }
    default:
      f.error(kind, `rate limit action ${kind} is not supported by spar proxy yet (supported: destination_cluster, remote_address, generic_key, request_headers, header_value_match)`);
      return undefined;
  }
  a.done();
  f.done();
  return out;
}

/** Compiles a `rate_limits` list; undefined when empty (routes without rate limits carry nothing). */
export function compileRateLimits(list: Fields[]): RateLimitPolicy[] | undefined {
  const out: RateLimitPolicy[] = [];
  for (const f of list) {
    const stage = f.num('stage', 0);
    if (stage > 10) f.error('stage', 'must be at most 10');
    const actions: Action[] = [];
    for (const a of f.list('actions')) {
      const c = compileAction(a);
      if (c) actions.push(c);
    }
    if (!f.has('actions')) f.error('actions', 'at least one action is required');
    f.unsupported('disable_key', 'runtime keys are not supported by spar proxy');
    f.unsupported('limit', 'dynamic metadata rate limit overrides are not supported by spar proxy');
    f.unsupported('hits_addend', 'not supported by spar proxy yet');
    f.unsupportedIfSet('apply_on_stream_done', 'not supported by spar proxy yet');
    f.done();
    out.push({ stage, actions });
  }
  return out.length ? out : undefined;
}

/** The descriptors of the policies of one stage, in order (policies whose actions all applied). */
export function buildDescriptors(policies: readonly RateLimitPolicy[], stage: number, r: DescriptorRequest, out: Descriptor[] = []): Descriptor[] {
  for (const p of policies) {
    if (p.stage !== stage) continue;
    const d: Descriptor = [];
    let ok = true;
    for (const act of p.actions) {
      const e = act(r);
      if (e === SKIP_DESCRIPTOR) { ok = false; break; }
      if (e) d.push(e);
    }
    if (ok && d.length) out.push(d);
  }
  return out;
}

/** vh_rate_limits: which of the route's and the virtual host's rate_limits apply. */
export type VhRateLimits = 'OVERRIDE' | 'INCLUDE' | 'IGNORE';

export function selectPolicies(route: RateLimitPolicy[] | undefined, vhost: RateLimitPolicy[] | undefined, mode: VhRateLimits): readonly RateLimitPolicy[] {
  if (mode === 'IGNORE') return route ?? [];
  if (mode === 'INCLUDE') return route && vhost ? [...route, ...vhost] : (route ?? vhost ?? []);
  return route ?? vhost ?? [];
}
