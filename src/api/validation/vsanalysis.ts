/**
 * Unreachable and ineffective VirtualService rules, which istiod reports as warnings (and
 * `istioctl analyze` as IST0130 VirtualServiceUnreachableRule / IST0131
 * VirtualServiceIneffectiveMatch): a rule after a match-less (catch-all) rule, a match identical to
 * an earlier one, and an HTTP URI-prefix match already covered by a shorter prefix with the same
 * other conditions.
 */
import { at, entries, isObj, list, num, str, type Obj, type Report } from './report.js';

type Kind = 'http' | 'tcp' | 'tls';

/** Runs the analysis for `spec.http`, `spec.tcp` and `spec.tls`. */
export function analyzeUnreachableRules(rep: Report, spec: Obj): void {
  for (const kind of ['http', 'tcp', 'tls'] as const) analyze(rep, kind, list<unknown>(spec[kind]));
}

function routeName(kind: Kind, route: unknown, n: number): string {
  return kind === 'http' && isObj(route) && str(route.name) ? `"${str(route.name)}"` : `#${n}`;
}

function matchName(kind: Kind, match: unknown, n: number): string {
  return kind === 'http' && isObj(match) && str(match.name) ? `"${str(match.name)}"` : `#${n}`;
}

function unreachable(rep: Report, path: string, rule: string, reason: string): void {
  rep.warn(path, `virtualService rule ${rule} not used (${reason})`, { code: 'IST0130', codeName: 'VirtualServiceUnreachableRule' });
}

function ineffective(rep: Report, path: string, rule: string, match: string, dup: string): void {
  rep.warn(path, `virtualService rule ${rule} match ${match} is not used (duplicate/overlapping match in rule ${dup})`, { code: 'IST0131', codeName: 'VirtualServiceIneffectiveMatch' });
}

interface PrefixMatch {
  path: string;
  route: string;
  match: string;
  prefix: string;
  port: number;
  method: string;
  authority: string;
  headers: Map<string, string>;
  queryParams: Map<string, string>;
  withoutHeaders: Map<string, string>;
}

function analyze(rep: Report, kind: Kind, routes: unknown[]): void {
  const seen = new Map<string, number>();
  let catchAll = -1;
  const prefixes: PrefixMatch[] = [];
  routes.forEach((route, rn) => {
    if (!isObj(route)) return;
    const rp = at(`spec.${kind}`, rn);
    const name = routeName(kind, route, rn);
    const matches = list<unknown>(route.match);
    if (matches.length === 0) {
      if (catchAll >= 0) unreachable(rep, rp, name, 'only the last rule can have no matches');
      catchAll = rn;
      return;
    }
    let dups = 0;
    matches.forEach((m, mn) => {
      const mp = at(at(rp, 'match'), mn);
      if (catchAll >= 0) return unreachable(rep, rp, name, 'route without matches defined before');
      const key = canonical(kind === 'http' && isObj(m) ? { ...m, name: undefined } : m);
      const dupn = seen.get(key);
      if (dupn !== undefined) {
        ineffective(rep, mp, name, matchName(kind, m, mn), routeName(kind, routes[dupn], dupn));
        dups++;
        return;
      }
      seen.set(key, rn);
      if (kind === 'http' && isObj(m)) {
        const pm = prefixMatch(m, mp, name, matchName(kind, m, mn));
        if (pm) prefixes.push(pm);
      }
    });
    if (dups === matches.length) unreachable(rep, rp, name, 'all matches used by prior rules');
  });
  for (let i = 0; i < prefixes.length; i++) {
    for (let j = i + 1; j < prefixes.length; j++) {
      const a = prefixes[i];
      const b = prefixes[j];
      if (a.prefix === b.prefix || !covered(a, b)) continue;
      ineffective(rep, b.path, b.route, `${b.match} of prefix ${b.prefix}`, `${a.match} of prefix ${a.prefix} on ${a.route}`);
    }
  }
}

function exactOrPrefix(sm: unknown): string {
  if (!isObj(sm)) return '';
  if (str(sm.exact)) return `exact:${str(sm.exact)}`;
  if (str(sm.prefix)) return `prefix:${str(sm.prefix)}`;
  return '';
}

function stringMatches(v: unknown): Map<string, string> {
  return new Map(entries(v).map(([k, sm]) => [k, exactOrPrefix(sm)]));
}

function prefixMatch(m: Obj, path: string, route: string, match: string): PrefixMatch | undefined {
  const prefix = isObj(m.uri) ? str(m.uri.prefix) : '';
  if (!prefix) return undefined;
  return {
    path, route, match, prefix,
    port: num(m.port),
    method: exactOrPrefix(m.method) || 'exact:GET',
    authority: exactOrPrefix(m.authority),
    headers: stringMatches(m.headers),
    queryParams: stringMatches(m.queryParams),
    withoutHeaders: stringMatches(m.withoutHeaders),
  };
}

/** Whether every request `b` matches is already taken by `a` (Istio's coveredValidation). */
function covered(a: PrefixMatch, b: PrefixMatch): boolean {
  if (!b.prefix.startsWith(a.prefix) || a.port !== b.port) return false;
  if (a.method !== b.method && !a.method.startsWith(b.method)) return false;
  if (a.authority !== b.authority && !a.authority.startsWith(b.authority)) return false;
  for (const [am, bm] of [[a.headers, b.headers], [a.queryParams, b.queryParams], [a.withoutHeaders, b.withoutHeaders]] as const) {
    if (am.size !== bm.size) return false;
    for (const [k, v] of am) {
      const w = bm.get(k);
      if (w === undefined || (v !== w && !v.startsWith(w))) return false;
    }
  }
  return true;
}

/** A key for "the same match": JSON with sorted keys, default values (false, '', 0, null) dropped. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObj(v)) {
    const parts = Object.keys(v)
      .filter((k) => v[k] !== undefined && v[k] !== null && v[k] !== false && v[k] !== '' && v[k] !== 0)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
