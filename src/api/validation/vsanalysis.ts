/**
 * Unreachable and ineffective VirtualService rules (Istio's pkg/config/validation
 * analyzeUnreachableHTTPRules / analyzeUnreachableTCPRules / analyzeUnreachableTLSRules, with
 * OverlappingMatchValidationForHTTPRoute): a rule after a match-less (catch-all) rule, a match
 * identical to an earlier one, and an HTTP URI-prefix match already covered by a shorter prefix
 * with the same other conditions.
 *
 * One analysis, two wordings: istiod's validating webhook gives these as warnings
 * (virtualservice.ts), `spar analyze` as IST0130 VirtualServiceUnreachableRule / IST0131
 * VirtualServiceIneffectiveMatch (analyze/analyzers/vsrules.ts), as istioctl's schema analyzer turns
 * the webhook's AnalysisAwareError into those messages. Both format the findings returned here, from
 * the same parameters (`findingParams`, Istio's AnalysisAwareError.Parameters).
 */
import { at, entries, isObj, list, num, size, str, type Obj } from './report.js';

export type RuleKind = 'http' | 'tcp' | 'tls';

interface FindingBase {
  /** Which list of rules: `spec.http`, `spec.tcp` or `spec.tls`. */
  kind: RuleKind;
  /** Index of the rule in that list. */
  rule: number;
  /** The rule as Istio names it: `"name"` (HTTP rules with a name) or `#n`. */
  ruleName: string;
  /** Field path the finding is about: the rule (unreachable) or the match (ineffective). */
  path: string;
}

/** IST0130 VirtualServiceUnreachableRule: no request can reach the rule. */
export interface UnreachableRule extends FindingBase {
  finding: 'unreachable';
  reason: 'only the last rule can have no matches' | 'route without matches defined before' | 'all matches used by prior rules';
}

/** IST0131 VirtualServiceIneffectiveMatch: an earlier rule takes every request this match would. */
export interface IneffectiveMatch extends FindingBase {
  finding: 'ineffective';
  /** Index of the match in the rule's `match` list. */
  match: number;
  /** The match as Istio names it: `"name"` (HTTP matches with a name) or `#n`. */
  matchName: string;
  /** Index and name of the earlier rule with the same match, or with the covering prefix. */
  duplicateRule: number;
  duplicateRuleName: string;
  /** Set when the match is not identical but its URI prefix is covered by a shorter one. */
  overlap?: { prefix: string; coveringPrefix: string; coveringMatchName: string };
}

export type RuleFinding = UnreachableRule | IneffectiveMatch;

/**
 * The parameters Istio reports (AnalysisAwareError.Parameters): `[rule, reason]` for an unreachable
 * rule, `[rule, match, duplicate rule]` for an ineffective match, where a prefix overlap reads
 * `#1 of prefix /ab` and `#0 of prefix /a on #0`.
 */
export function findingParams(f: RuleFinding): string[] {
  if (f.finding === 'unreachable') return [f.ruleName, f.reason];
  if (!f.overlap) return [f.ruleName, f.matchName, f.duplicateRuleName];
  const o = f.overlap;
  return [f.ruleName, `${f.matchName} of prefix ${o.prefix}`, `${o.coveringMatchName} of prefix ${o.coveringPrefix} on ${f.duplicateRuleName}`];
}

/** Runs the analysis for `spec.http`, `spec.tcp` and `spec.tls`, in that order. */
export function unreachableRuleFindings(spec: Obj): RuleFinding[] {
  const out: RuleFinding[] = [];
  for (const kind of ['http', 'tcp', 'tls'] as const) analyze(out, kind, list<unknown>(spec[kind]));
  return out;
}

/** Go's `%q` (strconv.Quote is close enough to JSON for route and match names). */
const goQ = (s: string) => JSON.stringify(s);

/** Istio's routeName: only HTTP rules have names. */
function routeName(kind: RuleKind, route: unknown, n: number): string {
  return kind === 'http' && isObj(route) && str(route.name) ? goQ(str(route.name)) : `#${n}`;
}

/** Istio's requestName: only HTTP matches have names. */
function matchName(kind: RuleKind, match: unknown, n: number): string {
  return kind === 'http' && isObj(match) && str(match.name) ? goQ(str(match.name)) : `#${n}`;
}

interface PrefixMatch {
  path: string;
  rule: number;
  ruleName: string;
  match: number;
  matchName: string;
  prefix: string;
  port: number;
  method: string;
  authority: string;
  headers: Map<string, string>;
  queryParams: Map<string, string>;
  withoutHeaders: Map<string, string>;
}

function analyze(out: RuleFinding[], kind: RuleKind, routes: unknown[]): void {
  const seen = new Map<string, number>();
  let catchAll = -1;
  const prefixes: PrefixMatch[] = [];
  const unreachable = (rule: number, reason: UnreachableRule['reason']) =>
    out.push({ finding: 'unreachable', kind, rule, ruleName: routeName(kind, routes[rule], rule), path: at(`spec.${kind}`, rule), reason });
  routes.forEach((route, rn) => {
    // Istio skips a nil rule; anything that is not an object could not have been decoded at all.
    if (!isObj(route)) return;
    const matches = list<unknown>(route.match);
    if (matches.length === 0) {
      if (catchAll >= 0) unreachable(rn, 'only the last rule can have no matches');
      catchAll = rn;
      return;
    }
    let dups = 0;
    matches.forEach((m, mn) => {
      if (catchAll >= 0) return unreachable(rn, 'route without matches defined before');
      const path = at(at(at(`spec.${kind}`, rn), 'match'), mn);
      const key = matchKey(kind === 'http' && isObj(m) ? { ...m, name: undefined } : m);
      const dupn = seen.get(key);
      if (dupn !== undefined) {
        out.push({
          finding: 'ineffective', kind, rule: rn, ruleName: routeName(kind, route, rn), path,
          match: mn, matchName: matchName(kind, m, mn), duplicateRule: dupn, duplicateRuleName: routeName(kind, routes[dupn], dupn),
        });
        dups++;
        return;
      }
      seen.set(key, rn);
      if (kind === 'http' && isObj(m)) {
        const pm = prefixMatch(m, path, rn, routeName(kind, route, rn), mn, matchName(kind, m, mn));
        if (pm) prefixes.push(pm);
      }
    });
    if (dups === matches.length) unreachable(rn, 'all matches used by prior rules');
  });
  for (let i = 0; i < prefixes.length; i++) {
    for (let j = i + 1; j < prefixes.length; j++) {
      const a = prefixes[i];
      const b = prefixes[j];
      if (a.prefix === b.prefix || !covered(a, b)) continue;
      out.push({
        finding: 'ineffective', kind, rule: b.rule, ruleName: b.ruleName, path: b.path, match: b.match, matchName: b.matchName,
        duplicateRule: a.rule, duplicateRuleName: a.ruleName, overlap: { prefix: b.prefix, coveringPrefix: a.prefix, coveringMatchName: a.matchName },
      });
    }
  }
}

/** Istio's assignExactOrPrefix for a StringMatch. */
function exactOrPrefix(sm: unknown): string {
  if (!isObj(sm)) return '';
  if (str(sm.exact)) return `exact:${str(sm.exact)}`;
  if (str(sm.prefix)) return `prefix:${str(sm.prefix)}`;
  return '';
}

function stringMatches(v: unknown): Map<string, string> {
  return new Map(entries(v).map(([k, sm]) => [k, exactOrPrefix(sm)]));
}

/** Istio's genMatchHTTPRoutes: the parts of a URI-prefix match that decide overlap. */
function prefixMatch(m: Obj, path: string, rule: number, ruleName: string, match: number, matchn: string): PrefixMatch | undefined {
  const prefix = isObj(m.uri) ? str(m.uri.prefix) : '';
  if (!prefix) return undefined;
  return {
    path, rule, ruleName, match, matchName: matchn, prefix,
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

/** The StringMatch message fields of an HTTP match: present even when empty (`{}`). */
const MESSAGE_FIELDS = new Set(['uri', 'scheme', 'method', 'authority']);

/**
 * A key for "the same match", as Istio's asJSON (Go's encoding/json of the match struct, keys in a
 * fixed order): zero scalars (false, '', 0), null, and empty lists and maps are left out
 * (`omitempty`), but a StringMatch that is present stays even when empty, as a map's entries do:
 * `headers: {x-canary: {}}` (header present) is not the same match as no headers, while
 * `gateways: []` is the same as no gateways.
 */
function matchKey(m: unknown): string {
  if (!isObj(m)) return value(m);
  const empty = (k: string, v: unknown) => (Array.isArray(v) || (isObj(v) && !MESSAGE_FIELDS.has(k))) && size(v) === 0;
  return value(Object.fromEntries(Object.entries(m).filter(([k, v]) => !empty(k, v))));
}

/** A nested value (a StringMatch, a map entry, a list) with its keys sorted and zero fields left out. */
function value(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(value).join(',')}]`;
  if (isObj(v)) {
    const parts = Object.keys(v)
      .filter((k) => v[k] !== undefined && v[k] !== null && v[k] !== false && v[k] !== '' && v[k] !== 0)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${value(v[k])}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
