/**
 * Host names and label selectors as Istio's analyzers compare them: short names completed to
 * `<name>.<namespace>.svc.cluster.local`, `*.` wildcards, namespace-scoped (`exportTo`) host keys,
 * and Kubernetes equality selectors (`app=reviews,version=v1`).
 */

export const CLUSTER_DOMAIN = 'svc.cluster.local';
export const EXPORT_ALL = '*';
export const EXPORT_LOCAL = '.';

/** `reviews` in `default` -> `reviews.default.svc.cluster.local`; wildcards and dotted names stay as written. */
export function toFqdn(namespace: string, host: string): string {
  if (host.startsWith('*') || host.includes('.')) return host;
  return `${host}.${namespace}.${CLUSTER_DOMAIN}`;
}

/** `<scope>/<fqdn>`: a host as seen from one namespace (`*` for every namespace). */
export function scopedFqdn(scope: string, namespace: string, host: string): string {
  return `${scope}/${toFqdn(namespace, host)}`;
}

export function splitScoped(s: string): { scope: string; fqdn: string } {
  const i = s.indexOf('/');
  return { scope: s.slice(0, i), fqdn: s.slice(i + 1) };
}

const FQDN_RE = /^(.+)\.(.+)\.svc\.cluster\.local$/;

/** `{namespace, name}` of a Kubernetes service host, the short form resolved in `defaultNamespace`. */
export function serviceNameOfHost(defaultNamespace: string, host: string): { namespace: string; name: string } {
  const m = FQDN_RE.exec(host);
  if (m) return { namespace: m[2], name: m[1] };
  return { namespace: defaultNamespace, name: host };
}

/** Istio's host.Name.Matches: equal names, or a `*` wildcard on either side covering the other. */
export function hostMatches(n: string, o: string): boolean {
  const nw = n.startsWith('*');
  const ow = o.startsWith('*');
  if (nw && ow) return n.length < o.length ? o.slice(1).endsWith(n.slice(1)) : n.slice(1).endsWith(o.slice(1));
  if (nw) return o.endsWith(n.slice(1));
  if (ow) return n.endsWith(o.slice(1));
  return n === o;
}

/** Gateway `hosts` entries visible from `namespace` (`ns/host`, `./host`, `*\/host`), namespace stripped. */
export function namesForNamespace(hosts: readonly string[], namespace: string): string[] {
  const out: string[] = [];
  for (const h of hosts) {
    const i = h.indexOf('/');
    if (i >= 0) {
      const ns = h.slice(0, i);
      if (ns !== namespace && ns !== '*') continue;
      out.push(h.slice(i + 1));
    } else out.push(h);
  }
  return out;
}

export type Labels = Readonly<Record<string, string>>;

/** An equality selector matches when every key is present with the same value (an empty one matches all). */
export function selectorMatches(selector: Labels | undefined, labels: Labels | undefined): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) {
    if (!labels || !Object.prototype.hasOwnProperty.call(labels, k) || labels[k] !== v) return false;
  }
  return true;
}

/** Kubernetes' selector string: keys sorted, `k=v` joined by commas (`''` for an empty selector). */
export function selectorString(selector: Labels | undefined): string {
  if (!selector) return '';
  return Object.keys(selector).sort().map((k) => `${k}=${selector[k]}`).join(',');
}

/** The first key of a selector string (Istio points its messages at that label's line). */
export function firstSelectorKey(selector: string): string {
  const i = selector.indexOf('=');
  return i < 0 ? '' : selector.slice(0, i);
}

/**
 * A Kubernetes LabelSelector (`matchLabels` and `matchExpressions`) against labels; an absent
 * selector matches everything, an invalid one (unknown operator, `In` without values) nothing.
 */
export function labelSelectorMatches(selector: unknown, labels: Labels | undefined): boolean {
  if (selector == null) return true;
  if (typeof selector !== 'object' || Array.isArray(selector)) return false;
  const sel = selector as { matchLabels?: unknown; matchExpressions?: unknown };
  const l = labels ?? {};
  const has = (k: string) => Object.prototype.hasOwnProperty.call(l, k);
  if (sel.matchLabels && typeof sel.matchLabels === 'object') {
    for (const [k, v] of Object.entries(sel.matchLabels as Record<string, unknown>)) if (!has(k) || l[k] !== String(v)) return false;
  }
  for (const e of Array.isArray(sel.matchExpressions) ? sel.matchExpressions : []) {
    const x = (e ?? {}) as { key?: unknown; operator?: unknown; values?: unknown };
    const key = String(x.key ?? '');
    const values = Array.isArray(x.values) ? x.values.map(String) : [];
    switch (x.operator) {
      case 'In':
        if (values.length === 0 || !has(key) || !values.includes(l[key])) return false;
        break;
      case 'NotIn':
        if (values.length === 0) return false;
        if (has(key) && values.includes(l[key])) return false;
        break;
      case 'Exists':
        if (values.length > 0 || !has(key)) return false;
        break;
      case 'DoesNotExist':
        if (values.length > 0 || has(key)) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}
