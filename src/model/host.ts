/**
 * Istio host-name matching: `*.example.com` covers `a.example.com` and `a.b.example.com`;
 * `*` covers everything. Used for VirtualService/DestinationRule/Sidecar hosts against services.
 */

/** Does pattern `a` (maybe a wildcard) cover host `b` (maybe a wildcard too)? */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern === host) return true;
  if (pattern.startsWith('*')) {
    const suffix = pattern.slice(1); // ".example.com"
    if (host.startsWith('*')) return host.slice(1).endsWith(suffix);
    return host.endsWith(suffix);
  }
  return false;
}

/** Either covers the other (used when a VirtualService host and a service host may both be wildcards). */
export function hostsOverlap(a: string, b: string): boolean {
  return hostMatches(a, b) || hostMatches(b, a);
}

/**
 * Resolves a short name used in a VirtualService/DestinationRule (`reviews`) to an FQDN in the
 * resource's namespace (`reviews.default.svc.cluster.local`), as Istio does. Names with a dot,
 * wildcards and `*` stay as they are.
 */
export function resolveShortName(host: string, namespace: string, dnsDomain: string): string {
  if (host === '*' || host.includes('.') || host.startsWith('*')) return host;
  return `${host}.${namespace}.svc.${dnsDomain}`;
}

/** Sorts hosts most specific first (exact before wildcard, longer wildcard first). */
export function bySpecificity(a: string, b: string): number {
  const wa = a.startsWith('*');
  const wb = b.startsWith('*');
  if (wa !== wb) return wa ? 1 : -1;
  return b.length - a.length;
}
