/**
 * The value checks of AuthorizationPolicy (Istio's pkg/config/security): no empty strings, service
 * accounts as `sa` or `ns/sa`, trust domains with at most one leading or trailing `*`, IPs and CIDR
 * blocks, ports, path templates (`{*}`, `{**}` last), and the condition keys of `when` with the
 * values each accepts.
 */
import { isCIDR, isIPAddress } from './hosts.js';

export function checkEmptyValues(key: string, values: string[]): string | undefined {
  return values.some((v) => v === '') ? `empty value not allowed, found in ${key}` : undefined;
}

function checkWildcardValues(key: string, values: string[]): string | undefined {
  const empty = checkEmptyValues(key, values);
  if (empty) return empty;
  for (const v of values) {
    const count = (v.match(/\*/g) ?? []).length;
    if (count > 1) return `at most one wildcard is allowed, found in ${key}: "${v}"`;
    if (count === 1 && v !== '*' && !v.startsWith('*') && !v.endsWith('*')) return `wildcard is only allowed at the start or end, found in ${key}: "${v}"`;
  }
  return undefined;
}

export function checkTrustDomainValues(key: string, values: string[]): string | undefined {
  const err = checkWildcardValues(key, values);
  if (err) return err;
  const bad = values.find((v) => v.includes('/'));
  return bad === undefined ? undefined : `trust domain must not contain '/', found in ${key}: "${bad}"`;
}

export function checkServiceAccounts(key: string, values: string[]): string | undefined {
  if (values.length > 16) return 'may not have more than 16 values';
  for (const v of values) {
    if (v === '') return `empty value not allowed, found in ${key}`;
    if (v.includes('*')) return `wildcard not allowed, found in ${key}`;
    const slashes = (v.match(/\//g) ?? []).length;
    if (slashes > 1) return `expected format 'serviceAccount' or 'namespace/serviceAccount', found "${v}" in ${key}`;
    if (v.length > 320) return `value cannot exceed 320 characters, found "${v}" in ${key}`;
    if (slashes === 1) {
      const [ns, sa] = v.split('/');
      if (ns === '') return `expected format 'serviceAccount' or 'namespace/serviceAccount', found empty namespace "${v}" in ${key}`;
      if (sa === '') return `expected format 'serviceAccount' or 'namespace/serviceAccount', found empty serviceAccount "${v}" in ${key}`;
    }
  }
  return undefined;
}

const MATCH_ONE = '{*}';
const MATCH_ANY = '{**}';
const VALID_LITERAL = /^[a-zA-Z0-9-._~%!$&'()+,;:@=]+$/;

export function checkValidPathTemplate(key: string, paths: string[]): string | undefined {
  for (const raw of paths) {
    const hasTemplate = raw.includes(MATCH_ONE) || raw.includes(MATCH_ANY);
    let foundAny = false;
    const path = raw.replace(/^\/+|\/+$/g, '');
    for (const glob of path.split('/')) {
      if (glob === MATCH_ONE && !foundAny) continue;
      if (glob === MATCH_ANY && !foundAny) {
        foundAny = true;
        continue;
      }
      if ((glob === MATCH_ANY || glob === MATCH_ONE) && foundAny) return `invalid or unsupported path ${path}, found in ${key}. {**} is not the last operator`;
      if (/[{}]/.test(glob)) return `invalid or unsupported path ${path}, found in ${key}. Contains '{' or '}' beyond a supported path template`;
      if (hasTemplate && !VALID_LITERAL.test(glob)) return `invalid or unsupported path ${path}, found in ${key}. Contains segment ${glob} with invalid string literal`;
    }
  }
  return undefined;
}

/** `bad IP address (x)` / `bad CIDR range (x): ...` for each bad entry. */
export function validateIPs(ips: string[]): string[] {
  const errs: string[] = [];
  for (const v of ips) {
    if (v.includes('/')) {
      if (!isCIDR(v)) errs.push(`bad CIDR range (${v}): netip.ParsePrefix("${v}"): invalid prefix`);
    } else if (!isIPAddress(v) || v.includes('%')) {
      errs.push(`bad IP address (${v})`);
    }
  }
  return errs;
}

export function validatePorts(ports: string[]): string[] {
  const errs: string[] = [];
  for (const p of ports) {
    if (!/^\d+$/.test(p)) errs.push(`bad port (${p}): strconv.ParseUint: parsing "${p}": invalid syntax`);
    else if (Number(p) > 65535) errs.push(`bad port (${p}): <nil>`);
  }
  return errs;
}

function validateMapKey(key: string): string | undefined {
  const open = key.indexOf('[');
  if (key.endsWith(']') && open > 0 && open < key.length - 2) return undefined;
  return `bad key (${key}): should have format a[b]`;
}

/** Istio's security.ValidateAttribute for one `when` condition. */
export function validateAttribute(key: string, values: string[]): string | undefined {
  const empty = checkEmptyValues(key, values);
  if (empty) return empty;
  const ips = () => validateIPs(values)[0];
  if (key.startsWith('request.headers')) return validateMapKey(key);
  switch (key) {
    case 'source.ip':
    case 'remote.ip':
    case 'destination.ip':
      return ips();
    case 'source.namespace':
    case 'source.principal':
    case 'request.auth.principal':
    case 'request.auth.audiences':
    case 'request.auth.presenter':
    case 'connection.sni':
      return undefined;
    case 'source.serviceAccount':
      return checkServiceAccounts(key, values);
    case 'source.trustDomain':
      return checkWildcardValues(key, values);
    case 'destination.port':
      return validatePorts(values)[0];
    case 'destination.namespace':
      return `attribute ${key} is replaced by the metadata.namespace`;
    case 'destination.name':
    case 'destination.user':
      return `deprecated attribute ${key}: only supported in v1alpha1`;
  }
  if (key.startsWith('request.auth.claims')) return validateMapKey(key);
  if (key.startsWith('experimental.envoy.filters.')) return validateMapKey(key);
  if (key.startsWith('destination.labels')) return `attribute ${key} is replaced by the workload selector`;
  return `unknown attribute: ${key}`;
}
