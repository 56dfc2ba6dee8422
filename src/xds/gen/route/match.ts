/**
 * VirtualService HTTPMatchRequest → Envoy RouteMatch (Istio: route.TranslateRouteMatch), and the
 * parts of a match Envoy never sees because the pilot decides them per proxy: port, sourceLabels,
 * sourceNamespace and gateways.
 */
import type { HTTPMatchRequest, StringMatch } from '../../../api/types.js';
import type { Proxy } from '../../../model/proxy.js';
import type { EnvoyJson } from '../../codec.js';
import { resolveGatewayName } from '../../../model/push-context.js';
import { selectorMatches } from '../../../model/service.js';

/** Istio StringMatch → Envoy StringMatcher (undefined: empty match, "present" semantics). */
export function stringMatcher(m: StringMatch | undefined, ignoreCase = false): EnvoyJson | undefined {
  if (!m) return undefined;
  const ic: EnvoyJson = ignoreCase ? { ignore_case: true } : {};
  if (m.exact !== undefined) return { exact: m.exact, ...ic };
  if (m.prefix !== undefined) return { prefix: m.prefix, ...ic };
  if (m.regex !== undefined) return m.regex === '*' ? undefined : { safe_regex: { regex: m.regex } };
  return undefined;
}

function headerMatcher(name: string, m: StringMatch | undefined): Record<string, unknown> {
  const sm = stringMatcher(m);
  return sm ? { name, string_match: sm } : { name, present_match: true };
}

export function translateRouteMatch(m: HTTPMatchRequest | undefined): EnvoyJson {
  const out: Record<string, unknown> = { prefix: '/' };
  if (!m) return out as EnvoyJson;
  if (m.uri) {
    delete out.prefix;
    if (m.uri.exact !== undefined) out.path = m.uri.exact;
    else if (m.uri.prefix !== undefined) out.prefix = m.uri.prefix;
    else if (m.uri.regex !== undefined) out.safe_regex = { regex: m.uri.regex };
    else out.prefix = '/';
  }
  out.case_sensitive = !m.ignoreUriCase;
  const headers: Record<string, unknown>[] = [];
  const metadata: EnvoyJson[] = [];
  for (const name of Object.keys(m.headers ?? {}).sort()) {
    const claim = jwtClaimMatcher(name, m.headers![name]);
    if (claim) metadata.push(claim);
    else headers.push(headerMatcher(name, m.headers![name]));
  }
  for (const name of Object.keys(m.withoutHeaders ?? {}).sort()) {
    const claim = jwtClaimMatcher(name, m.withoutHeaders![name]);
    if (claim) {
      metadata.push({ ...claim, invert: true });
      continue;
    }
    const h = headerMatcher(name, m.withoutHeaders![name]);
    h.invert_match = true;
    if (!('present_match' in h)) h.treat_missing_header_as_empty = true;
    headers.push(h);
  }
  headers.sort((a, b) => (String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0));
  if (m.method) headers.push(headerMatcher(':method', m.method));
  if (m.authority) headers.push(headerMatcher(':authority', m.authority));
  if (m.scheme) headers.push(headerMatcher(':scheme', m.scheme));
  if (headers.length) out.headers = headers;
  const qp = Object.keys(m.queryParams ?? {}).sort().map((name) => {
    const sm = stringMatcher(m.queryParams![name]);
    return sm ? { name, string_match: sm } : { name, present_match: true };
  });
  if (qp.length) out.query_parameters = qp;
  if (metadata.length) out.dynamic_metadata = metadata;
  return out as EnvoyJson;
}

const CLAIM_PREFIX = '@request.auth.claims.';

/**
 * Istio's JWT claim routing: a "header" `@request.auth.claims.groups` matches the claim the
 * authentication filter (`istio_authn`) put in dynamic metadata, as a list containing the value.
 * Nested claims are dotted (`@request.auth.claims.a.b`).
 */
export function jwtClaimMatcher(name: string, m: StringMatch | undefined): EnvoyJson | undefined {
  if (!name.startsWith(CLAIM_PREFIX)) return undefined;
  const claims = name.slice(CLAIM_PREFIX.length).split('.').filter(Boolean);
  if (!claims.length) return undefined;
  const sm = stringMatcher(m) ?? { safe_regex: { regex: '.+' } };
  return { filter: 'istio_authn', path: ['request.auth.claims', ...claims].map((key) => ({ key })), value: { list_match: { one_of: { string_match: sm } } } };
}

/** Does a match apply to this proxy and listener port (the conditions resolved before Envoy)? */
export function matchAppliesTo(m: HTTPMatchRequest | { port?: number; sourceLabels?: Record<string, string>; sourceNamespace?: string; gateways?: string[] } | undefined,
  proxy: Proxy, port: number, gateways: readonly string[], vsNamespace: string): boolean {
  if (!m) return true;
  if (m.port && port && m.port !== port) return false;
  if (m.sourceLabels && Object.keys(m.sourceLabels).length && !selectorMatches(m.sourceLabels, proxy.labels)) return false;
  if (m.sourceNamespace && m.sourceNamespace !== proxy.namespace) return false;
  if (m.gateways?.length && !m.gateways.some((g) => gateways.includes(resolveGatewayName(g, vsNamespace)))) return false;
  return true;
}

/** A match that matches everything (ends the route list, as in Istio). */
export function isCatchAll(match: EnvoyJson): boolean {
  const keys = Object.keys(match).filter((k) => k !== 'case_sensitive');
  return keys.length === 1 && match.prefix === '/';
}
