/**
 * Unreachable VirtualService rules and ineffective matches (IST0130, IST0131): the checks istiod's
 * validating webhook runs as warnings (pkg/config/validation analyzeUnreachable*Rules), which
 * istioctl reports under their own codes.
 *
 * A rule is unreachable when a match-less (catch-all) rule comes before it or when every one of
 * its matches repeats an earlier one; a match is ineffective when an earlier rule has the same
 * match, or (HTTP) an earlier URI prefix that covers it with no narrower conditions.
 */
import type { Diagnostic } from '../../api/diagnostics.js';
import { register } from '../analyzer.js';
import { MSG, message } from '../messages.js';
import type { ConfigResource } from '../../config/resource.js';
import { arr, canonical, num, obj, str } from '../values.js';

const goQ = (s: string) => JSON.stringify(s);

function routeName(kind: string, route: Record<string, unknown>, n: number): string {
  const name = kind === 'http' ? str(route.name) : '';
  return name ? goQ(name) : `#${n}`;
}

function matchName(kind: string, match: Record<string, unknown>, n: number): string {
  const name = kind === 'http' ? str(match.name) : '';
  return name ? goQ(name) : `#${n}`;
}

/** A prefix match reduced to what decides overlap (Istio's OverlappingMatchValidationForHTTPRoute). */
interface PrefixMatch {
  route: string;
  match: string;
  prefix: string;
  port: number;
  method: string;
  authority: string;
  headers: Map<string, string>;
  query: Map<string, string>;
  without: Map<string, string>;
}

function exactOrPrefix(m: unknown): string {
  const o = obj(m);
  if (str(o.exact)) return `exact:${str(o.exact)}`;
  if (str(o.prefix)) return `prefix:${str(o.prefix)}`;
  return '';
}

function stringMatches(v: unknown): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, m] of Object.entries(obj(v))) out.set(k, exactOrPrefix(m));
  return out;
}

function prefixMatch(route: string, matchn: string, m: Record<string, unknown>): PrefixMatch | undefined {
  const prefix = str(obj(m.uri).prefix);
  if (!m.uri || prefix === '') return undefined;
  return {
    route, match: matchn, prefix, port: num(m.port),
    method: exactOrPrefix(m.method) || 'exact:GET',
    authority: exactOrPrefix(m.authority),
    headers: stringMatches(m.headers), query: stringMatches(m.queryParams), without: stringMatches(m.withoutHeaders),
  };
}

function mapCovered(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined) return false;
    if (v !== w && !v.startsWith(w)) return false;
  }
  return true;
}

/** Whether the earlier match `a` takes every request the later match `b` would. */
function covers(a: PrefixMatch, b: PrefixMatch): boolean {
  if (!b.prefix.startsWith(a.prefix)) return false;
  if (a.port !== b.port) return false;
  if (a.method !== b.method && !a.method.startsWith(b.method)) return false;
  if (a.authority !== b.authority && !a.authority.startsWith(b.authority)) return false;
  return mapCovered(a.headers, b.headers) && mapCovered(a.query, b.query) && mapCovered(a.without, b.without);
}

/** Reports for one list of rules (`http`, `tcp` or `tls`). */
export function unreachableRules(vs: ConfigResource, kind: 'http' | 'tcp' | 'tls'): Diagnostic[] {
  const out: Diagnostic[] = [];
  const rules = arr(vs.spec[kind]);
  const unused = (rule: string, reason: string, i: number) => out.push(message(MSG.VirtualServiceUnreachableRule, vs, [rule, reason], ['spec', kind, i]));
  const ineffective = (rule: string, m: string, dup: string, i: number) => out.push(message(MSG.VirtualServiceIneffectiveMatch, vs, [rule, m, dup], ['spec', kind, i]));
  const seen = new Map<string, number>();
  let catchAll = -1;
  const prefixes: PrefixMatch[] = [];
  rules.forEach((r0, rulen) => {
    if (r0 == null) return;
    const route = obj(r0);
    const matches = arr(route.match);
    const rname = routeName(kind, route, rulen);
    if (matches.length === 0) {
      if (catchAll >= 0) unused(rname, 'only the last rule can have no matches', rulen);
      catchAll = rulen;
      return;
    }
    let dups = 0;
    matches.forEach((m0, matchn) => {
      if (catchAll >= 0) {
        unused(rname, 'route without matches defined before', rulen);
        return;
      }
      const m = obj(m0);
      const key = canonical(kind === 'http' ? { ...m, name: undefined } : m);
      const dupn = seen.get(key);
      if (dupn !== undefined) {
        ineffective(rname, matchName(kind, m, matchn), routeName(kind, obj(rules[dupn]), dupn), rulen);
        dups++;
        return;
      }
      seen.set(key, rulen);
      if (kind === 'http') {
        const p = prefixMatch(rname, matchName(kind, m, matchn), m);
        if (p) prefixes.push(p);
      }
    });
    if (dups === matches.length) unused(rname, 'all matches used by prior rules', rulen);
  });
  for (let i = 0; i < prefixes.length; i++) {
    for (let j = i + 1; j < prefixes.length; j++) {
      const a = prefixes[i];
      const b = prefixes[j];
      if (a.prefix === b.prefix) continue;
      if (covers(a, b)) {
        const idx = rules.findIndex((r, n) => routeName(kind, obj(r), n) === b.route);
        ineffective(b.route, `${b.match} of prefix ${b.prefix}`, `${a.match} of prefix ${a.prefix} on ${a.route}`, Math.max(idx, 0));
      }
    }
  }
  return out;
}

register({
  name: 'virtualservice.UnreachableRulesAnalyzer',
  description: "Runs istiod's unreachable-rule checks on VirtualServices",
  inputs: ['VirtualService'],
  emits: [MSG.VirtualServiceUnreachableRule, MSG.VirtualServiceIneffectiveMatch],
  analyze({ snapshot, report }) {
    for (const vs of snapshot.of('VirtualService')) {
      for (const kind of ['http', 'tcp', 'tls'] as const) for (const d of unreachableRules(vs, kind)) report(d);
    }
  },
});
