/**
 * Go's `net/url` parser (`url.Parse` and `url.ParseRequestURI`), for the Kubernetes CEL URL
 * library (`url()`, `isURL()`, `getScheme()` ...) that Istio's CRD rules call.
 *
 * WHATWG `URL` (Node's) accepts and rejects different strings ("hTPp\\blah", "#%blah$#@",
 * relative paths, schemes with odd characters), and Istio's CEL rules were written against Go's
 * behaviour, so the parts of net/url that decide acceptance are ported here: control characters,
 * scheme syntax, request-URI form, authority (userinfo, host, port) and percent-escape checks.
 */

export interface GoURL {
  scheme: string;
  opaque: string;
  /** `user:pass` as written (undefined when there was no `@`). */
  user?: string;
  /** host[:port] as written. */
  host: string;
  path: string;
  rawPath: string;
  rawQuery: string;
  fragment: string;
}

/** A parse result: the URL, or Go's error text (`parse "x": net/url: invalid userinfo`). */
export type GoURLResult = { ok: true; url: GoURL } | { ok: false; error: string };

/** `url.Parse`: a fragment after `#` is split off first. */
export function goParseURL(raw: string): GoURLResult {
  const hash = raw.indexOf('#');
  const u = hash < 0 ? raw : raw.slice(0, hash);
  const r = parse(u, false);
  if (typeof r === 'string') return { ok: false, error: `parse ${goQuote(u)}: ${r}` };
  if (hash >= 0) {
    const frag = unescape(raw.slice(hash + 1), 'fragment');
    if (frag.error) return { ok: false, error: `parse ${goQuote(raw)}: ${frag.error}` };
    r.fragment = frag.value;
  }
  return { ok: true, url: r };
}

/** `url.ParseRequestURI`: an absolute URI or an absolute path, no fragment handling. */
export function goParseRequestURI(raw: string): GoURLResult {
  const r = parse(raw, true);
  return typeof r === 'string' ? { ok: false, error: `parse ${goQuote(raw)}: ${r}` } : { ok: true, url: r };
}

/** `u.Hostname()`: the host without port and brackets. */
export function hostname(u: GoURL): string {
  const { host } = splitHostPort(u.host);
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** `u.Port()`. */
export function port(u: GoURL): string {
  return splitHostPort(u.host).port;
}

function splitHostPort(hostport: string): { host: string; port: string } {
  const colon = hostport.lastIndexOf(':');
  if (colon < 0 || hostport.slice(colon).includes(']')) return { host: hostport, port: '' };
  return /^:\d*$/.test(hostport.slice(colon)) ? { host: hostport.slice(0, colon), port: hostport.slice(colon + 1) } : { host: hostport, port: '' };
}

function parse(raw: string, viaRequest: boolean): GoURL | string {
  if (hasControlByte(raw)) return 'net/url: invalid control character in URL';
  if (raw === '' && viaRequest) return 'empty url';
  const url: GoURL = { scheme: '', opaque: '', host: '', path: '', rawPath: '', rawQuery: '', fragment: '' };
  if (raw === '*') {
    url.path = '*';
    return url;
  }
  const s = getScheme(raw);
  if (typeof s === 'string') return s;
  url.scheme = s.scheme.toLowerCase();
  let rest = s.rest;
  if (rest.endsWith('?') && rest.split('?').length === 2) {
    rest = rest.slice(0, -1);
  } else {
    const q = rest.indexOf('?');
    if (q >= 0) {
      url.rawQuery = rest.slice(q + 1);
      rest = rest.slice(0, q);
    }
  }
  if (!rest.startsWith('/')) {
    if (url.scheme !== '') {
      url.opaque = rest; // a rootless path (RFC 3986) is opaque
      return url;
    }
    if (viaRequest) return 'invalid URI for request';
    const slash = rest.indexOf('/');
    if ((slash < 0 ? rest : rest.slice(0, slash)).includes(':')) return 'first path segment in URL cannot contain colon';
  }
  if ((url.scheme !== '' || (!viaRequest && !rest.startsWith('///'))) && rest.startsWith('//')) {
    let authority = rest.slice(2);
    rest = '';
    const slash = authority.indexOf('/');
    if (slash >= 0) {
      rest = authority.slice(slash);
      authority = authority.slice(0, slash);
    }
    const err = parseAuthority(authority, url);
    if (err) return err;
  }
  const p = unescape(rest, 'path');
  if (p.error) return p.error;
  url.path = p.value;
  url.rawPath = rest;
  return url;
}

function hasControlByte(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function getScheme(raw: string): { scheme: string; rest: string } | string {
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (/[a-zA-Z]/.test(c)) continue;
    if (/[0-9+\-.]/.test(c)) {
      if (i === 0) return { scheme: '', rest: raw };
      continue;
    }
    if (c === ':') {
      if (i === 0) return 'missing protocol scheme';
      return { scheme: raw.slice(0, i), rest: raw.slice(i + 1) };
    }
    return { scheme: '', rest: raw }; // an invalid character: there is no scheme
  }
  return { scheme: '', rest: raw };
}

function parseAuthority(authority: string, url: GoURL): string | undefined {
  const at = authority.lastIndexOf('@');
  const host = parseHost(at < 0 ? authority : authority.slice(at + 1));
  if (host.error) return host.error;
  url.host = host.value;
  if (at < 0) return undefined;
  const userinfo = authority.slice(0, at);
  if (!/^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(userinfo)) return 'net/url: invalid userinfo';
  for (const part of userinfo.split(':', 2)) {
    const u = unescape(part, 'user');
    if (u.error) return u.error;
  }
  url.user = userinfo;
  return undefined;
}

function parseHost(host: string): { value: string; error?: string } {
  if (host.startsWith('[')) {
    const close = host.lastIndexOf(']');
    if (close < 0) return { value: '', error: "missing ']' in host" };
    const colonPort = host.slice(close + 1);
    if (!validOptionalPort(colonPort)) return { value: '', error: `invalid port ${goQuote(colonPort)} after host` };
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0 && !validOptionalPort(host.slice(colon))) return { value: '', error: `invalid port ${goQuote(host.slice(colon))} after host` };
  }
  return unescape(host, 'host');
}

function validOptionalPort(p: string): boolean {
  return p === '' || /^:[0-9]*$/.test(p);
}

type Mode = 'path' | 'host' | 'user' | 'fragment';

/** Go's `unescape`: `%XX` must be two hex digits; a host allows only sub-delims besides unreserved. */
function unescape(s: string, mode: Mode): { value: string; error?: string } {
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '%') {
      const esc = s.slice(i, i + 3);
      if (!/^%[0-9a-fA-F]{2}$/.test(esc)) return { value: '', error: `invalid URL escape ${goQuote(esc)}` };
      if (mode === 'host' && parseInt(esc.slice(1, 2), 16) < 8 && esc !== '%25') return { value: '', error: `invalid URL escape ${goQuote(esc)}` };
      i += 2;
    } else if (mode === 'host' && c.charCodeAt(0) < 0x80 && !/[A-Za-z0-9\-_.~!$&'()*+,;=:[\]<>"]/.test(c)) {
      return { value: '', error: `invalid character ${goQuote(c)} in host name` };
    }
  }
  try {
    return { value: decodeURIComponent(s) };
  } catch {
    return { value: s };
  }
}

/** Go's `%q` for the ASCII strings URL errors quote. */
function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\\u00([0-9a-f]{2})/g, '\\x$1');
}
