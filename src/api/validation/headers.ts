/**
 * HTTP header names and values in routes (VirtualService headers, matches, CORS, JWT output
 * headers). Header values may carry Envoy's `%VARIABLE%` substitutions, so a lone `%` must be
 * escaped as `%%`; the small state machine below accepts exactly what Envoy's header formatter
 * parser accepts (`%HOSTNAME%`, `%REQ(x-foo)%`, `%DYNAMIC_METADATA(["a", "b"])%`), as Istio's
 * header_value_validator does.
 */

const TCHARS = "!#$%&'*+\\-.^_`|~A-Za-z0-9";
const VALID_HEADER_NAME = new RegExp(`^[${TCHARS}]+$`);
const VALID_STRICT_HEADER_NAME = /^[-_A-Za-z0-9]+$/;
const VALID_PROBE_HEADER_NAME = /^[-A-Za-z0-9]+$/;
// eslint-disable-next-line no-control-regex
const VALID_HEADER_VALUE = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
const PSEUDO_HEADERS = new Set([':method', ':scheme', ':authority', ':path', ':status']);
export const JWT_CLAIM_PREFIX = '@request.auth.claims';

/** Whether a header-match key is Istio's JWT claim routing key (`@request.auth.claims.sub`, `...[a][b]`). */
export function isJwtClaimRoute(name: string): boolean {
  if (!name.toLowerCase().startsWith(JWT_CLAIM_PREFIX)) return false;
  const rest = name.slice(JWT_CLAIM_PREFIX.length);
  if (rest.startsWith('.') && rest.length > 1) return true;
  return rest.startsWith('[') && rest.endsWith(']') && rest.length > 2;
}

export function isInternalHeader(name: string): boolean {
  return name.startsWith(':') || name.toLowerCase() === 'host';
}

export function isAuthorityHeader(name: string): boolean {
  const n = name.toLowerCase();
  return n === ':authority' || n === 'host';
}

/** Header names in matches: tokens, pseudo headers, or JWT claim keys. */
export function validateMatchHeaderName(name: string): string | undefined {
  if (name === '') return 'header name cannot be empty';
  if (isJwtClaimRoute(name) || PSEUDO_HEADERS.has(name)) return undefined;
  return VALID_HEADER_NAME.test(name) ? undefined : `header name ${name} is not a valid header name`;
}

/** Request headers to add/set: `:authority` may be set, other pseudo headers and Host may not. */
export function validateRequestHeaderOperationName(name: string): string | undefined {
  if (name === '') return 'header name cannot be empty';
  if (isInternalHeader(name) && !isAuthorityHeader(name)) return `invalid header "${name}": header cannot have ":" prefix`;
  return undefined;
}

/** Headers to remove, and response headers: no Host, no pseudo headers. */
export function validateHeaderOperationName(name: string): string | undefined {
  if (name === '') return 'header name cannot be empty';
  if (name.toLowerCase() === 'host') return `invalid header "${name}": cannot set Host header`;
  if (isInternalHeader(name)) return `invalid header "${name}": header cannot have ":" prefix`;
  return undefined;
}

/** CORS allow/expose header names (`*` allowed). */
export function validateCorsHeaderName(name: string): string | undefined {
  if (name === '') return 'header name cannot be empty';
  if (name === '*') return undefined;
  return VALID_HEADER_NAME.test(name) ? undefined : `header name ${name} is not a valid header name`;
}

/** JWT outputClaimToHeaders header names: letters, digits, `-` and `_` only. */
export function validateStrictHeaderName(name: string): string | undefined {
  if (name === '') return 'header name cannot be empty';
  return VALID_STRICT_HEADER_NAME.test(name) ? undefined : `header name ${name} is not a valid header name`;
}

/** Readiness probe header names (WorkloadGroup). */
export function validateProbeHeaderName(name: string): string | undefined {
  if (name === '') return 'header name cannot be empty';
  return VALID_PROBE_HEADER_NAME.test(name) ? undefined : `header name ${name} is not a valid header name`;
}

/** A header value to add or set: no control characters, `%` only as `%%` or around a variable. */
export function validateHeaderValue(value: string): string | undefined {
  if (!VALID_HEADER_VALUE.test(value)) return `header value configuration ${value} is invalid`;
  const err = formatterError(value);
  return err ? `header value configuration ${value} is invalid: ${err}` : undefined;
}

type State = 'literal' | 'varName' | 'expectArray' | 'expectString' | 'string' | 'expectDelimOrEnd' | 'expectArgsEnd' | 'expectVarEnd';

function formatterError(v: string): string | undefined {
  let state: State = 'literal';
  for (let pos = 0; pos < v.length; pos++) {
    const ch = v[pos];
    const hasNext = pos + 1 < v.length;
    switch (state) {
      case 'literal':
        if (ch !== '%') break;
        if (!hasNext) return 'invalid header configuration. Un-escaped %';
        if (v[pos + 1] === '%') pos++;
        else state = 'varName';
        break;
      case 'varName':
        if (ch === '%') state = 'literal';
        else if (ch === '(') state = 'expectArray';
        break;
      case 'expectArray':
        if (ch === '[') state = 'expectString';
        else if (ch !== ' ') state = 'string';
        break;
      case 'expectDelimOrEnd':
        if (ch === ',') state = 'expectString';
        else if (ch === ']') state = 'expectArgsEnd';
        else if (ch !== ' ') return "invalid header configuration. Expecting ',', ']', or whitespace";
        break;
      case 'expectString':
        if (ch === '"') state = 'string';
        else if (ch !== ' ') return 'invalid header configuration. Expecting \'"\'';
        break;
      case 'string':
        if (ch === '\\') {
          if (!hasNext) return 'invalid header configuration. Un-terminated backslash in JSON string';
          pos++;
        } else if (ch === ')') state = 'expectVarEnd';
        else if (ch === '"') state = 'expectDelimOrEnd';
        break;
      case 'expectArgsEnd':
        if (ch === ')') state = 'expectVarEnd';
        else if (ch !== ' ') return "invalid header configuration. Expecting ')' or whitespace";
        break;
      case 'expectVarEnd':
        if (ch === '%') state = 'literal';
        else if (ch !== ' ') return "invalid header configuration. Expecting '%' or whitespace after";
        break;
    }
  }
  if (state !== 'literal') return `invalid header configuration. Un-terminated variable expression '${v}'`;
  return undefined;
}
