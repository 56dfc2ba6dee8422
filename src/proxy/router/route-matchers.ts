/**
 * Route match conditions compiled to predicates (envoy.config.route.v3.RouteMatch): path
 * specifiers, header matchers, query parameter matchers, grpc. Paths are matched without the query
 * string, as Envoy does.
 */
import { Fields } from '../config/fields.js';
import { compileStringMatcher, type StringPredicate } from '../matchers/string-matcher.js';
import { readRegexMatcher } from '../matchers/regex.js';
import { getHeader, headerName, type Headers } from '../http/headers.js';

export interface RequestView {
  headers: Headers;
  /** :path without the query string. */
  path: string;
  /** The raw query string (without '?'), or ''. */
  query: string;
  queryParams?: Map<string, string>;
}

export type RoutePredicate = (r: RequestView) => boolean;

/** envoy.config.route.v3.HeaderMatcher. */
export function compileHeaderMatcher(f: Fields): RoutePredicate {
  const name = headerName(f.str('name'));
  if (!name) f.error('name', 'required');
  const invert = f.bool('invert_match');
  const missingAsEmpty = f.bool('treat_missing_header_as_empty');
  let test: ((v: string) => boolean) | undefined;
  let presentOnly: boolean | undefined;
  let n = 0;
  if (f.has('exact_match')) { n++; const e = f.str('exact_match'); test = (v) => v === e; }
  if (f.has('safe_regex_match')) { n++; const re = readRegexMatcher(f.obj_('safe_regex_match')); test = (v) => !!re && re.full(v); }
  if (f.has('prefix_match')) { n++; const e = f.str('prefix_match'); test = (v) => v.startsWith(e); }
  if (f.has('suffix_match')) { n++; const e = f.str('suffix_match'); test = (v) => v.endsWith(e); }
  if (f.has('contains_match')) { n++; const e = f.str('contains_match'); test = (v) => v.includes(e); }
  if (f.has('string_match')) { n++; test = compileStringMatcher(f.obj_('string_match')); }
  if (f.has('present_match')) { n++; presentOnly = f.bool('present_match'); }
  if (f.has('range_match')) {
    n++;
    const r = f.obj_('range_match');
    const start = r.num('start'), end = r.num('end');
    r.done();
    test = (v) => /^-?\d+$/.test(v) && Number(v) >= start && Number(v) < end;
  }
  if (n > 1) f.error('', 'only one header match specifier may be set');
  f.done();
  // No specifier: the header must be present (Envoy's "present" default).
  return (r) => {
    let v = getHeader(r.headers, name);
    if (v === undefined && missingAsEmpty) v = '';
    let m: boolean;
    if (presentOnly !== undefined) m = (v !== undefined) === presentOnly;
    else if (v === undefined) return false; // a missing header never matches, even inverted (Envoy)
    else m = test ? test(v) : true;
    return invert ? !m : m;
  };
}

function parseQuery(q: string): Map<string, string> {
  const m = new Map<string, string>();
  if (!q) return m;
  for (const part of q.split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    const k = i < 0 ? part : part.slice(0, i);
    if (!m.has(k)) m.set(k, i < 0 ? '' : part.slice(i + 1));
  }
  return m;
}

/** envoy.config.route.v3.QueryParameterMatcher. */
export function compileQueryMatcher(f: Fields): RoutePredicate {
  const name = f.str('name');
  let test: StringPredicate | undefined;
  let present = false;
  if (f.has('string_match')) test = compileStringMatcher(f.obj_('string_match'));
  if (f.has('present_match')) present = f.bool('present_match');
  f.done();
  return (r) => {
    if (!r.queryParams) r.queryParams = parseQuery(r.query);
    const v = r.queryParams.get(name);
    if (v === undefined) return false;
    if (test) return test(v);
    return present || true;
  };
}

export interface CompiledMatch {
  test: RoutePredicate;
  /** For prefix_rewrite: the matched prefix/path, to replace. */
  prefix?: string;
  caseSensitive: boolean;
  kind: 'prefix' | 'path' | 'regex' | 'path_separated_prefix';
  /** safe_regex routes rewrite with regex_rewrite only. */
  describe: string;
}

/** envoy.config.route.v3.RouteMatch. */
export function compileRouteMatch(f: Fields): CompiledMatch {
  const cs = f.bool('case_sensitive', true);
  let pathTest: (p: string) => boolean = () => false;
  let kind: CompiledMatch['kind'] = 'prefix';
  let prefix: string | undefined;
  let describe = '';
  let n = 0;
  if (f.has('prefix')) {
    n++;
    const p = f.str('prefix');
    const lp = p.toLowerCase();
    prefix = p;
    describe = `prefix ${p}`;
    pathTest = p === '/' || p === '' ? () => true : cs ? (s) => s.startsWith(p) : (s) => s.toLowerCase().startsWith(lp);
  }
  if (f.has('path')) {
    n++;
    kind = 'path';
    const p = f.str('path');
    const lp = p.toLowerCase();
    prefix = p;
    describe = `path ${p}`;
    pathTest = cs ? (s) => s === p : (s) => s.toLowerCase() === lp;
  }
  if (f.has('safe_regex')) {
    n++;
    kind = 'regex';
    const re = readRegexMatcher(f.obj_('safe_regex'));
    describe = `regex ${re?.source}`;
    pathTest = (s) => !!re && re.full(s);
  }
  if (f.has('path_separated_prefix')) {
    n++;
    kind = 'path_separated_prefix';
    const p = f.str('path_separated_prefix');
    if (p.endsWith('/') || /[?#]/.test(p)) f.error('path_separated_prefix', 'must not end with "/" or contain "?" or "#"');
    const lp = p.toLowerCase();
    prefix = p;
    describe = `path_separated_prefix ${p}`;
    pathTest = (s) => {
      const t = cs ? s : s.toLowerCase();
      const q = cs ? p : lp;
      return t.startsWith(q) && (t.length === q.length || t[q.length] === '/');
    };
  }
  f.unsupported('connect_matcher', 'CONNECT matching is not supported by spar proxy');
  f.unsupported('path_match_policy', 'path_match_policy extensions are not supported by spar proxy');
  f.unsupported('runtime_fraction', 'runtime is not supported by spar proxy');
  f.unsupported('dynamic_metadata');
  f.unsupported('filter_state');
  f.unsupported('tls_context', 'not supported by spar proxy yet');
  if (n !== 1) f.error('', 'exactly one of prefix, path, safe_regex, path_separated_prefix must be set');
  const headers = f.list('headers').map(compileHeaderMatcher);
  const queries = f.list('query_parameters').map(compileQueryMatcher);
  let grpc = false;
  const g = f.opt('grpc');
  if (g) {
    g.done();
    grpc = true;
  }
  f.done();
  const extra: RoutePredicate[] = [...headers, ...queries];
  if (grpc) extra.push((r) => (getHeader(r.headers, 'content-type') ?? '').startsWith('application/grpc'));
  let test: RoutePredicate;
  if (extra.length === 0) test = (r) => pathTest(r.path);
  else test = (r) => {
    if (!pathTest(r.path)) return false;
    for (let i = 0; i < extra.length; i++) if (!extra[i](r)) return false;
    return true;
  };
  return { test, prefix, caseSensitive: cs, kind, describe };
}
