/**
 * One VirtualService HTTP route, as istiod's validateHTTPRoute checks it: what may be combined
 * (route, redirect, direct response, delegate, mirror/mirrors), matches (header names, RE2
 * regexes, non-empty prefixes), header manipulation, fault injection, retries, redirects,
 * rewrites, CORS, mirrors, timeouts and the weighted destinations.
 */
import { hasSubSecond, validateDuration } from './duration.js';
import { isDNS1123Label, validateGatewayNames, validateWildcardDomain } from './hosts.js';
import {
  isAuthorityHeader, validateCorsHeaderName, validateHeaderOperationName, validateHeaderValue, validateMatchHeaderName,
  validateRequestHeaderOperationName,
} from './headers.js';
import { validateLabels } from './labels.js';
import { validatePort } from './ports.js';
import { validateRegex } from './regex.js';
import { at, key, entries, goFloat, has, isObj, list, num, str, type Obj, type Report } from './report.js';

const SUPPORTED_CORS_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', '*']);
const GRPC_STATUSES = new Set([
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
]);
const RETRY_ON = new Set([
  '5xx', 'gateway-error', 'reset', 'reset-before-request', 'connect-failure', 'retriable-4xx', 'refused-stream', 'retriable-status-codes',
  'retriable-headers', 'envoy-ratelimited', 'http3-post-connect-failure', 'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
]);
/** Status codes Go's net/http has a text for (a numeric retryOn entry must be one of them). */
const HTTP_STATUS_CODES = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308,
  400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451,
  500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);
const KB = 1024;
const MB = 1024 * KB;

/** Routes in a delegate VirtualService, routes that delegate, and ordinary routes differ. */
type RouteType = 'independent' | 'root' | 'delegate';

export function validateHTTPRoute(rep: Report, path: string, http: Obj, isDelegateVS: boolean, gatewaySemantics: boolean): void {
  const type: RouteType = isDelegateVS ? 'delegate' : has(http.delegate) ? 'root' : 'independent';
  validateConflicts(rep, path, http, type);
  validateMatches(rep, path, http);
  validateHeaderOps(rep, at(path, 'headers'), http.headers);
  validateCors(rep, at(path, 'corsPolicy'), http.corsPolicy);
  validateFault(rep, at(path, 'fault'), http.fault);
  for (const key of ['mirrorPercent', 'mirror_percent']) {
    if (!has(http[key])) continue;
    const v = num(http[key]);
    if (v > 100) rep.error(at(path, key), `mirror_percent must have a max value of 100 (it has ${v})`);
    rep.warn(at(path, key), 'using deprecated setting "mirrorPercent", use "mirrorPercentage" instead');
  }
  if (isObj(http.mirrorPercentage)) {
    const v = num(http.mirrorPercentage.value);
    const p = at(path, 'mirrorPercentage');
    if (v > 100) rep.error(p, `mirror_percentage must have a max value of 100 (it has ${goFloat(v)})`);
    if (v < 0) rep.error(p, `mirror_percentage must have a min value of 0 (it has ${goFloat(v)})`);
  }
  if (isObj(http.mirror)) validateDestination(rep, at(path, 'mirror'), http.mirror);
  list<unknown>(http.mirrors).forEach((m, i) => validateMirror(rep, at(at(path, 'mirrors'), i), m));
  validateRedirect(rep, at(path, 'redirect'), http.redirect, list<unknown>(http.match));
  validateDirectResponse(rep, at(path, 'directResponse'), http.directResponse);
  validateRetries(rep, at(path, 'retries'), http.retries);
  validateRewrite(rep, at(path, 'rewrite'), http.rewrite);
  validateAuthorityRewrite(rep, path, http);
  validateHTTPRouteDestinations(rep, at(path, 'route'), http.route, gatewaySemantics);
  if (has(http.timeout)) rep.check(at(path, 'timeout'), validateDuration(http.timeout));
}

function validateConflicts(rep: Report, path: string, http: Obj, type: RouteType): void {
  const name = str(http.name);
  if (type === 'root') {
    if (has(http.redirect)) rep.error(at(path, 'redirect'), `root HTTP route ${name} must not specify redirect`);
    if (has(http.route)) rep.error(at(path, 'route'), `root HTTP route ${name} must not specify route`);
    return;
  }
  if (type === 'delegate' && has(http.delegate)) rep.error(at(path, 'delegate'), 'delegate HTTP route cannot contain delegate');
  const routes = list(http.route).length;
  if (has(http.redirect)) {
    if (routes > 0) rep.error(at(path, 'redirect'), 'HTTP route cannot contain both route and redirect');
    if (has(http.fault)) rep.error(at(path, 'fault'), 'HTTP route cannot contain both fault and redirect');
    if (has(http.rewrite)) rep.error(at(path, 'rewrite'), 'HTTP route rule cannot contain both rewrite and redirect');
    if (has(http.directResponse)) rep.error(at(path, 'directResponse'), 'HTTP route rule cannot contain both direct_response and redirect');
  } else if (has(http.directResponse)) {
    if (routes > 0) rep.error(at(path, 'directResponse'), 'HTTP route cannot contain both route and direct_response');
    if (has(http.fault)) rep.error(at(path, 'fault'), 'HTTP route cannot contain both fault and direct_response');
    if (has(http.rewrite)) rep.error(at(path, 'rewrite'), 'HTTP route rule cannot contain both rewrite and direct_response');
  } else if (routes === 0) {
    rep.error(path, 'HTTP route, redirect or direct_response is required');
  }
  if (has(http.mirror) && list(http.mirrors).length > 0) rep.error(at(path, 'mirrors'), 'HTTP route cannot contain both mirror and mirrors');
}

/** Istio's validateStringMatch: a prefix must not be empty; a regex must compile under RE2. */
export function validateStringMatch(rep: Report, path: string, sm: unknown, where: string, prefixToo = true): void {
  if (!isObj(sm)) return;
  if (prefixToo && has(sm.prefix) && str(sm.prefix) === '') rep.error(at(path, 'prefix'), `"${where}": prefix string match should not be empty`);
  if (has(sm.regex)) {
    const re = str(sm.regex);
    if (re === '') rep.error(at(path, 'regex'), `"${where}": regex string match should not be empty`);
    else rep.check(at(path, 'regex'), validateRegex(re, where));
  }
}

function validateMatches(rep: Report, path: string, http: Obj): void {
  list<unknown>(http.match).forEach((m, j) => {
    if (!isObj(m)) return;
    const p = at(at(path, 'match'), j);
    for (const [name, header] of entries(m.headers)) {
      const hp = key(at(p, 'headers'), name);
      if (!has(header)) rep.error(hp, `header match ${name} cannot be null`);
      rep.check(hp, validateMatchHeaderName(name));
      validateStringMatch(rep, hp, header, 'headers');
    }
    for (const [name, header] of entries(m.withoutHeaders)) {
      const hp = key(at(p, 'withoutHeaders'), name);
      rep.check(hp, validateMatchHeaderName(name));
      if (isObj(header) && str(header.regex) !== '*') validateStringMatch(rep, hp, header, 'withoutHeaders');
    }
    validateStringMatch(rep, at(p, 'uri'), m.uri, 'uri', false);
    for (const f of ['scheme', 'method', 'authority']) validateStringMatch(rep, at(p, f), m[f], f);
    for (const [name, qp] of entries(m.queryParams)) validateStringMatch(rep, key(at(p, 'queryParams'), name), qp, 'queryParams');
    if (num(m.port) !== 0) rep.check(at(p, 'port'), validatePort(num(m.port)));
    validateLabels(rep, at(p, 'sourceLabels'), m.sourceLabels);
    validateGatewayNames(rep, at(p, 'gateways'), m.gateways, false);
    const sourceNamespace = str(m.sourceNamespace);
    if (sourceNamespace !== '' && !isDNS1123Label(sourceNamespace)) rep.error(at(p, 'sourceNamespace'), `sourceNamespace match ${sourceNamespace} is invalid`);
  });
}

/** `headers: {request: {set, add, remove}, response: {...}}` of a route or a destination. */
function validateHeaderOps(rep: Report, path: string, headers: unknown): void {
  if (!isObj(headers)) return;
  const req = isObj(headers.request) ? headers.request : {};
  const res = isObj(headers.response) ? headers.response : {};
  for (const op of ['add', 'set']) {
    for (const [name, val] of entries(req[op])) {
      const p = key(at(at(path, 'request'), op), name);
      rep.check(p, validateRequestHeaderOperationName(name));
      rep.check(p, validateHeaderValue(str(val)));
    }
  }
  list<unknown>(req.remove).forEach((n, i) => rep.check(at(at(at(path, 'request'), 'remove'), i), validateHeaderOperationName(str(n))));
  for (const op of ['add', 'set']) {
    for (const [name, val] of entries(res[op])) {
      const p = key(at(at(path, 'response'), op), name);
      rep.check(p, validateHeaderOperationName(name));
      rep.check(p, validateHeaderValue(str(val)));
    }
  }
  list<unknown>(res.remove).forEach((n, i) => rep.check(at(at(at(path, 'response'), 'remove'), i), validateHeaderOperationName(str(n))));
}

function validateCors(rep: Report, path: string, cors: unknown): void {
  if (!isObj(cors)) return;
  list<unknown>(cors.allowOrigins).forEach((o, i) => {
    const p = at(at(path, 'allowOrigins'), i);
    if (!isObj(o)) return;
    const match = str(o.exact) || str(o.prefix) || str(o.regex);
    if (match === '') rep.error(p, `'' is not a valid match type for CORS allow origins`);
    else validateStringMatch(rep, p, o, 'corsPolicy.allowOrigins', false);
  });
  list<unknown>(cors.allowMethods).forEach((m, i) => {
    if (!SUPPORTED_CORS_METHODS.has(str(m))) rep.error(at(at(path, 'allowMethods'), i), `"${str(m)}" is not a supported HTTP method`);
  });
  for (const f of ['allowHeaders', 'exposeHeaders']) {
    list<unknown>(cors[f]).forEach((h, i) => rep.check(at(at(path, f), i), validateCorsHeaderName(str(h))));
  }
  if (has(cors.maxAge)) {
    const p = at(path, 'maxAge');
    rep.check(p, validateDuration(cors.maxAge));
    if (hasSubSecond(str(cors.maxAge))) rep.error(p, 'max_age duration is accurate only to seconds precision');
  }
}

/** Istio's validatePercentage for fault injection: 0, or within [0.0001, 100]. */
function validatePercentage(rep: Report, path: string, pct: unknown): void {
  if (!isObj(pct)) return;
  const v = num(pct.value);
  if (v < 0 || v > 100 || (v > 0 && v < 0.0001)) rep.error(at(path, 'value'), `percentage ${v} is neither 0.0, nor in range [0.0001, 100.0]`);
}

function validateHTTPStatus(status: number): string | undefined {
  return status < 200 || status > 600 ? `HTTP status ${status} is not in range 200-599` : undefined;
}

function validateFault(rep: Report, path: string, fault: unknown): void {
  if (!isObj(fault)) return;
  if (!has(fault.abort) && !has(fault.delay)) rep.error(path, 'HTTP fault injection must have an abort and/or a delay');
  if (isObj(fault.abort)) {
    const a = fault.abort;
    const p = at(path, 'abort');
    validatePercentage(rep, at(p, 'percentage'), a.percentage);
    if (has(a.grpcStatus)) {
      const s = str(a.grpcStatus);
      if (!GRPC_STATUSES.has(s)) {
        rep.error(at(p, 'grpcStatus'), `gRPC status "${s}" is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'`);
      }
    } else if (has(a.http2Error)) {
      rep.error(at(p, 'http2Error'), 'HTTP/2 abort fault injection not supported yet');
    } else if (has(a.httpStatus)) {
      rep.check(at(p, 'httpStatus'), validateHTTPStatus(num(a.httpStatus)));
    } else {
      rep.warn(p, 'abort configured, but error type not set');
    }
  }
  if (isObj(fault.delay)) {
    const d = fault.delay;
    const p = at(path, 'delay');
    validatePercentage(rep, at(p, 'percentage'), d.percentage);
    if (has(d.fixedDelay)) rep.check(at(p, 'fixedDelay'), validateDuration(d.fixedDelay));
    else if (has(d.exponentialDelay)) {
      rep.check(at(p, 'exponentialDelay'), validateDuration(d.exponentialDelay));
      rep.error(at(p, 'exponentialDelay'), 'exponentialDelay not supported yet');
    }
  }
}

/** Istio's validateDestination: host (not `*`), subset name, port number. */
export function validateDestination(rep: Report, path: string, dest: Obj): void {
  const host = str(dest.host);
  if (host === '*') rep.error(at(path, 'host'), `invalid destination host ${host}`);
  else rep.check(at(path, 'host'), validateWildcardDomain(host));
  if (str(dest.subset) !== '') rep.check(at(path, 'subset'), validateSubsetName(str(dest.subset)));
  if (isObj(dest.port)) rep.check(at(at(path, 'port'), 'number'), validatePort(num(dest.port.number)));
}

export function validateSubsetName(name: string): string | undefined {
  if (name.length === 0) return 'subset name cannot be empty';
  return isDNS1123Label(name) ? undefined : `subset name is invalid: ${name}`;
}

function validateMirror(rep: Report, path: string, m: unknown): void {
  if (!isObj(m)) {
    rep.error(path, 'mirror cannot be null');
    return;
  }
  if (!isObj(m.destination)) {
    rep.error(at(path, 'destination'), 'destination is required for mirrors');
    return;
  }
  validateDestination(rep, at(path, 'destination'), m.destination);
  if (isObj(m.percentage)) {
    const v = num(m.percentage.value);
    if (v > 100) rep.error(at(path, 'percentage'), `mirror percentage must have a max value of 100 (it has ${goFloat(v)})`);
    if (v < 0) rep.error(at(path, 'percentage'), `mirror percentage must have a min value of 0 (it has ${goFloat(v)})`);
  }
}

function validateRedirect(rep: Report, path: string, redirect: unknown, matches: unknown[]): void {
  if (!isObj(redirect)) return;
  const uri = str(redirect.uri);
  const prefixRewrite = str(redirect.prefixRewrite);
  if (uri && prefixRewrite) return rep.error(path, 'redirect may only specify one of uri or prefix_rewrite');
  if (prefixRewrite && matches.some((m) => isObj(m) && isObj(m.uri) && !has(m.uri.prefix))) {
    return rep.error(at(path, 'prefixRewrite'), 'redirect prefix_rewrite requires all URI matches to use prefix match type');
  }
  if (!uri && !prefixRewrite && !str(redirect.authority) && !has(redirect.port) && !has(redirect.derivePort) && !str(redirect.scheme)) {
    return rep.error(path, 'redirect must specify URI, authority, scheme, or port');
  }
  const code = num(redirect.redirectCode);
  if (code !== 0 && (code < 300 || code > 399)) return rep.error(at(path, 'redirectCode'), `${code} is not a valid redirect code, must be 3xx`);
  const scheme = str(redirect.scheme);
  if (scheme && scheme !== 'http' && scheme !== 'https') return rep.error(at(path, 'scheme'), 'invalid redirect scheme, must be "http" or "https"');
  if (num(redirect.port) > 0) rep.check(at(path, 'port'), validatePort(num(redirect.port)));
}

function validateDirectResponse(rep: Report, path: string, dr: unknown): void {
  if (!isObj(dr)) return;
  if (isObj(dr.body)) {
    const body = has(dr.body.string) ? Buffer.byteLength(str(dr.body.string)) : Math.floor((str(dr.body.bytes).length * 3) / 4);
    if (body > MB) rep.error(at(path, 'body'), 'large direct_responses may impact control plane performance, must be less than 1MB');
    else if (body > 100 * KB) rep.warn(at(path, 'body'), 'large direct_responses may impact control plane performance');
  }
  rep.check(at(path, 'status'), validateHTTPStatus(num(dr.status)));
}

function validateRetries(rep: Report, path: string, retries: unknown): void {
  if (!isObj(retries)) return;
  const attempts = num(retries.attempts);
  if (attempts < 0) rep.error(at(path, 'attempts'), 'attempts cannot be negative');
  if (attempts === 0 && (has(retries.perTryTimeout) || str(retries.retryOn) !== '' || has(retries.retryRemoteLocalities))) {
    rep.error(at(path, 'attempts'), 'http retry policy configured when attempts are set to 0 (disabled)');
  }
  if (has(retries.perTryTimeout)) rep.check(at(path, 'perTryTimeout'), validateDuration(retries.perTryTimeout));
  const retryOn = str(retries.retryOn);
  if (retryOn !== '') {
    for (const policy of retryOn.split(',')) {
      const code = /^[+-]?\d+$/.test(policy) ? Number(policy) : 0;
      if (!HTTP_STATUS_CODES.has(code) && !RETRY_ON.has(policy)) rep.error(at(path, 'retryOn'), `"${policy}" is not a valid retryOn policy`);
    }
  }
  if (has(retries.backoff)) rep.check(at(path, 'backoff'), validateDuration(retries.backoff));
}

function validateRewrite(rep: Report, path: string, rewrite: unknown): void {
  if (!isObj(rewrite)) return;
  const uri = str(rewrite.uri);
  const rr = rewrite.uriRegexRewrite;
  if (uri && has(rr)) return rep.error(path, 'rewrite may only contain one of URI or UriRegexRewrite');
  if (!uri && !has(rr) && !str(rewrite.authority)) {
    return rep.error(path, 'rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or UriRegexRewrite may be specified');
  }
  if (isObj(rr)) {
    const p = at(path, 'uriRegexRewrite');
    if (!str(rr.match) || !str(rr.rewrite)) return rep.error(p, 'UriRegexRewrite has errors\nUriRegexRewrite requires both Rewrite and Match fields to be specified');
    const err = validateRegex(str(rr.match), 'HTTPRewrite.UriRegexRewrite.Match');
    if (err) rep.error(at(p, 'match'), `UriRegexRewrite has errors\n${err}`);
  }
}

/** `:authority` may be set once: by rewrite.authority or by one request header operation. */
function validateAuthorityRewrite(rep: Report, path: string, http: Obj): void {
  let current = isObj(http.rewrite) ? str(http.rewrite.authority) : '';
  const req = isObj(http.headers) && isObj(http.headers.request) ? http.headers.request : {};
  for (const op of ['set', 'add']) {
    for (const [k, v] of entries(req[op])) {
      if (!isAuthorityHeader(k)) continue;
      if (current !== '') {
        rep.error(key(at(at(at(path, 'headers'), 'request'), op), k), `authority header cannot be set multiple times: have "${current}", attempting to set "${str(v)}"`);
        return;
      }
      current = str(v);
    }
  }
}

function validateHTTPRouteDestinations(rep: Report, path: string, route: unknown, gatewaySemantics: boolean): void {
  const dests = list<unknown>(route);
  let total = 0;
  dests.forEach((d, i) => {
    const p = at(path, i);
    if (!isObj(d)) return rep.error(p, 'weight may not be nil');
    if (!isObj(d.destination)) rep.error(at(p, 'destination'), 'destination is required');
    validateHeaderOps(rep, at(p, 'headers'), d.headers);
    if (!gatewaySemantics && isObj(d.destination)) validateDestination(rep, at(p, 'destination'), d.destination);
    const w = num(d.weight);
    if (w < 0) rep.error(at(p, 'weight'), `weight ${w} < 0`);
    total += w;
  });
  if (dests.length > 1 && total === 0) rep.error(path, 'total destination weight = 0');
}

/** Destinations of TCP and TLS routes (no headers). */
export function validateRouteDestinations(rep: Report, path: string, route: unknown, gatewaySemantics: boolean): void {
  const dests = list<unknown>(route);
  let total = 0;
  dests.forEach((d, i) => {
    const p = at(path, i);
    if (!isObj(d)) return rep.error(p, 'weight may not be nil');
    if (!isObj(d.destination)) rep.error(at(p, 'destination'), 'destination is required');
    else if (!gatewaySemantics) validateDestination(rep, at(p, 'destination'), d.destination);
    const w = num(d.weight);
    if (w < 0) rep.error(at(p, 'weight'), `weight ${w} < 0`);
    total += w;
  });
  if (dests.length > 1 && total === 0) rep.error(path, 'total destination weight = 0');
}
