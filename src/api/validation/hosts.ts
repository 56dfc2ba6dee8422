/**
 * Host names as istiod's webhook checks them (pkg/config/validation/agent, pkg/config/host):
 * DNS-1123 labels, FQDNs, wildcard domains (`*.example.com`, and Istio's lenient `*foo` first
 * label, which the partial-wildcard rule then rejects where it matters), the `namespace/host` form
 * of Gateway and Sidecar hosts, IP addresses and CIDR blocks, and the wildcard host matching used
 * for "duplicate hosts" and "SNI host is a subset of the virtual service hosts".
 *
 * Also the references to Gateways from a VirtualService (`mesh`, `<namespace>/<name>`, a bare name;
 * the legacy dotted `name.namespace` still works but earns a warning).
 *
 * Each check returns Istio's error text, or undefined when the value is fine.
 */
import { isIP } from 'node:net';
import { at, list, str, type Report } from './report.js';

const DNS1123_LABEL = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const WILDCARD_LABEL = /^(?:\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)$/;
const MAX_LABEL = 63;

/** RFC 1123 label: letters, digits and inner dashes, at most 63 characters. */
export function isDNS1123Label(v: string): boolean {
  return v.length <= MAX_LABEL && DNS1123_LABEL.test(v);
}

/** A first label that may be `*`, `*foo` or `*-foo` (Istio's wildcard prefix). */
export function isWildcardDNS1123Label(v: string): boolean {
  return v.length <= MAX_LABEL && WILDCARD_LABEL.test(v);
}

/** An IPv4 or IPv6 address (a zone such as `fe80::1%eth0` is allowed, as Go's netip allows). */
export function isIPAddress(v: string): boolean {
  return isIP(v) !== 0;
}

function checkDNS1123Preconditions(name: string): string | undefined {
  if (name.length > 255) return `domain name "${name}" too long (max 255)`;
  if (name.length === 0) return 'empty domain name not allowed';
  return undefined;
}

/** Go's strconv.Atoi accepting the label (an all-numeric top-level domain is refused). */
function isAllNumeric(s: string): boolean {
  return /^[+-]?\d+$/.test(s);
}

/** `shown` is the name the message quotes (the whole host, where only its tail is checked here). */
function validateDNS1123Labels(domain: string, shown = domain): string | undefined {
  const parts = domain.split('.');
  const tld = parts[parts.length - 1];
  if (isAllNumeric(tld)) return `domain name "${shown}" invalid (top level domain "${tld}" cannot be all-numeric)`;
  for (let i = 0; i < parts.length; i++) {
    if (i === parts.length - 1 && parts[i] === '') return undefined; // a trailing dot is allowed
    if (!isDNS1123Label(parts[i])) return `domain name "${shown}" invalid (label "${parts[i]}" invalid)`;
  }
  return undefined;
}

/** A fully-qualified (or short, single-label) DNS name without wildcards. */
export function validateFQDN(fqdn: string): string | undefined {
  return checkDNS1123Preconditions(fqdn) ?? validateDNS1123Labels(fqdn);
}

/** A DNS name whose first label may be a wildcard (`*`, `*.example.com`). */
export function validateWildcardDomain(domain: string): string | undefined {
  const pre = checkDNS1123Preconditions(domain);
  if (pre) return pre;
  const dot = domain.indexOf('.');
  const first = dot < 0 ? domain : domain.slice(0, dot);
  if (!isWildcardDNS1123Label(first)) return `domain name "${domain}" invalid (label "${first}" invalid)`;
  return dot < 0 ? undefined : validateDNS1123Labels(domain.slice(dot + 1), domain);
}

const OUTBOUND_SNI_FORMAT = 'outbound_.<PORT>_._.<HOSTNAME>';

/**
 * Hosts of a virtual service bound to gateways: like `validateWildcardDomain`, but a TLS route may
 * also name Istio's auto-generated SNI (`outbound_.9080_._.reviews.default.svc.cluster.local`).
 */
export function validateWildcardDomainForGateway(sni: boolean, domain: string): string | undefined {
  const pre = checkDNS1123Preconditions(domain);
  if (pre) return pre;
  if (sni && domain.startsWith('outbound_')) {
    const parts = domain.split('_');
    if (parts.length < 4) return `domain name ${domain} invalid, should follow '${OUTBOUND_SNI_FORMAT}' format`;
    const port = parts[1].replace(/^\.+|\.+$/g, '');
    const hostname = parts[3].replace(/^\.+|\.+$/g, '');
    if (parts[0] !== 'outbound') return `domain name "${domain}" invalid (label "${parts[0]}" invalid)`;
    if (!/[0-9]/.test(port)) return `domain name "${domain}" invalid (label "${port}" invalid). should follow ${OUTBOUND_SNI_FORMAT} format`;
    if (!/[a-zA-Z]/.test(hostname)) return `domain name "${domain}" invalid (label "${hostname}" invalid). should follow ${OUTBOUND_SNI_FORMAT} format`;
    return undefined;
  }
  return validateWildcardDomain(domain);
}

/** `*` alone or `*.` as a whole first label; `*foo.com` and `foo.*.com` are partial wildcards. */
export function validatePartialWildcard(host: string): string | undefined {
  if (host.includes('*') && host.length !== 1 && !host.startsWith('*.')) return `partial wildcard "${host}" not allowed`;
  return undefined;
}

function validateSidecarOrGatewayHostnamePart(hostname: string, isGateway: boolean): string[] {
  const errs: string[] = [];
  if (hostname !== '*' && !hostname.includes('.')) errs.push('short names (non FQDN) are not allowed');
  const err = validateWildcardDomain(hostname);
  if (err) {
    if (!isGateway) errs.push(err);
    if (!isIPAddress(hostname)) errs.push(err);
  }
  const partial = validatePartialWildcard(hostname);
  if (partial) errs.push(partial);
  return [...new Set(errs)];
}

/**
 * Gateway server hosts (`foo.example.com`, `ns/foo.example.com`, `*∕*`, `./foo.example.com`) and
 * Sidecar egress hosts (always `namespace/dnsName`, `~` prefix allowed).
 */
export function validateNamespaceSlashWildcardHostname(hostname: string, isGateway: boolean, gatewaySemantics = false): string[] {
  const slash = hostname.indexOf('/');
  if (slash < 0) {
    if (isGateway) return validateSidecarOrGatewayHostnamePart(hostname, true);
    return ['host must be of form namespace/dnsName'];
  }
  const ns = hostname.slice(0, slash);
  const name = hostname.slice(slash + 1);
  const errs: string[] = [];
  if (ns.length === 0 || name.length === 0) errs.push('config namespace and dnsName in host entry cannot be empty');
  if (!isGateway) {
    const n = ns.startsWith('~') ? ns.slice(1) : ns;
    if (n !== '' && n !== '*' && n !== '.' && !isDNS1123Label(n)) errs.push(`invalid namespace value "${ns}" in sidecar`);
  } else if (ns !== '*' && ns !== '.' && (ns !== '~' || !gatewaySemantics)) {
    if (!isDNS1123Label(ns)) errs.push(`invalid namespace value "${ns}" in gateway`);
  }
  return errs.concat(validateSidecarOrGatewayHostnamePart(name, isGateway));
}

/** An IP address or a CIDR block. */
export function validateIPSubnet(subnet: string): string | undefined {
  if ((subnet.match(/\//g) ?? []).length === 1) return isCIDR(subnet) ? undefined : `${subnet} is not a valid CIDR block`;
  return isIPAddress(subnet) ? undefined : `${subnet} is not a valid IP`;
}

/** `10.0.0.0/8`, `2001:db8::/32`: an address and a prefix length within its family's bits. */
export function isCIDR(v: string): boolean {
  const i = v.indexOf('/');
  if (i < 0) return false;
  const ip = v.slice(0, i);
  const bits = v.slice(i + 1);
  const family = isIP(ip);
  if (family === 0 || ip.includes('%') || !/^\d{1,3}$/.test(bits)) return false;
  if (bits.length > 1 && bits.startsWith('0')) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

function isWildcarded(h: string): boolean {
  return h.startsWith('*');
}

/** Whether two hosts overlap (Istio's host.Name.Matches): either may be a wildcard. */
export function hostMatches(a: string, b: string): boolean {
  const aw = isWildcarded(a);
  const bw = isWildcarded(b);
  if (aw) {
    if (bw) return a.length < b.length ? b.slice(1).endsWith(a.slice(1)) : a.slice(1).endsWith(b.slice(1));
    return b.endsWith(a.slice(1));
  }
  if (bw) return a.endsWith(b.slice(1));
  return a === b;
}

/** Whether every name `a` stands for is also covered by `b` (Istio's host.Name.SubsetOf). */
export function hostSubsetOf(a: string, b: string): boolean {
  const aw = isWildcarded(a);
  const bw = isWildcarded(b);
  if (aw) {
    if (!bw) return false;
    if (a.length < b.length) return false;
    return a.slice(1).endsWith(b.slice(1));
  }
  if (bw) return a.endsWith(b.slice(1));
  return a === b;
}

/** `spec.gateways` / `match[].gateways` of a VirtualService. */
export function validateGatewayNames(rep: Report, path: string, names: unknown, gatewaySemantics: boolean): void {
  list<unknown>(names).forEach((raw, i) => {
    const name = str(raw);
    const p = at(path, i);
    const slash = name.indexOf('/');
    if (slash < 0) {
      if (name.includes('.')) {
        const parts = name.split('.');
        rep.warn(p, `using legacy gatewayName format "${name}"; prefer the <namespace>/<name> format: "${parts[1]}/${parts[0]}"`);
      }
      rep.check(p, validateFQDN(name));
      return;
    }
    const ns = name.slice(0, slash);
    const gw = name.slice(slash + 1);
    if (ns.length === 0 || gw.length === 0) rep.error(p, 'config namespace and gateway name cannot be empty');
    if (!isDNS1123Label(ns)) rep.error(p, `invalid value for namespace: "${ns}"`);
    if (!isDNS1123Label(gw) && !gatewaySemantics) rep.error(p, `invalid value for gateway name: "${gw}"`);
  });
}
