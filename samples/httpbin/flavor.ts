/**
 * The two httpbins Istio's samples and docs use, and how their JSON differs:
 *  - `go`: mccutchen/go-httpbin (samples/httpbin/httpbin.yaml, v2.15.0): Go-canonical header
 *    names (`X-B3-Traceid`) with arrays of values, keys sorted, `origin` = the peer's `ip:port`,
 *    `application/json; charset=utf-8`, a slog line per request on stdout.
 *  - `kennethreitz`: the Python original (docker.io/kennethreitz/httpbin, used by the mirroring
 *    task): Title-Case header names with one string each, the hop/proxy headers it hides
 *    (X-Request-Id, X-Forwarded-For …) left out unless `?show_env=1`, `origin` = the client IP,
 *    `application/json`, and gunicorn's access log when started with `--access-logfile -`.
 */
import type { IncomingMessage } from 'node:http';

export type Flavor = 'go' | 'kennethreitz';

/** Go's textproto.CanonicalMIMEHeaderKey: upper-case the first letter and each letter after '-'. */
export function goCanonicalHeader(name: string): string {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) return name;
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, sep: string, c: string) => sep + c.toUpperCase());
}

/** Python's str.title() as Werkzeug applies it to header names: a letter after any non-letter is upper-cased. */
export function pythonTitle(name: string): string {
  return name.toLowerCase().replace(/(^|[^a-z])([a-z])/g, (_m, sep: string, c: string) => sep + c.toUpperCase());
}

/** Headers httpbin (Python) hides unless show_env is set: ones a hosting front end adds. */
const KENNETHREITZ_HIDDEN = new Set(
  [
    'X-Varnish',
    'X-Request-Start',
    'X-Heroku-Queue-Depth',
    'X-Real-Ip',
    'X-Forwarded-Proto',
    'X-Forwarded-Protocol',
    'X-Forwarded-Ssl',
    'X-Heroku-Queue-Wait-Time',
    'X-Forwarded-For',
    'X-Heroku-Dynos-In-Use',
    'X-Forwarded-Port',
    'X-Request-Id',
    'Via',
    'Total-Route-Time',
    'Connect-Time',
  ].map((h) => h.toLowerCase()),
);

function sortObject<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The request headers as the flavor reports them. */
export function requestHeaders(req: IncomingMessage, flavor: Flavor, showEnv: boolean): Record<string, string[] | string> {
  const raw = req.rawHeaders;
  if (flavor === 'go') {
    const out: Record<string, string[]> = {};
    let host = '';
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = goCanonicalHeader(raw[i]!);
      if (name === 'Host') {
        host = raw[i + 1]!;
        continue; // Go moves Host out of the header map; go-httpbin puts r.Host back
      }
      (out[name] ??= []).push(raw[i + 1]!);
    }
    out['Host'] = [host];
    return sortObject(out);
  }
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (!showEnv && KENNETHREITZ_HIDDEN.has(lower)) continue;
    const name = pythonTitle(lower);
    // WSGI folds repeated headers into one comma-joined value.
    out[name] = out[name] === undefined ? raw[i + 1]! : `${out[name]},${raw[i + 1]!}`;
  }
  return sortObject(out);
}

/** Query arguments: arrays for go (url.Values), a string or a list of strings for Python. */
export function queryArgs(params: URLSearchParams, flavor: Flavor): Record<string, string[] | string> {
  const multi: Record<string, string[]> = {};
  for (const [k, v] of params) (multi[k] ??= []).push(v);
  if (flavor === 'go') return sortObject(multi);
  const out: Record<string, string[] | string> = {};
  for (const [k, vs] of Object.entries(multi)) out[k] = vs.length === 1 ? vs[0]! : vs;
  return sortObject(out);
}

/** The client address: the first X-Forwarded-For entry, else the peer (go: `ip:port`, Python: `ip`). */
export function origin(req: IncomingMessage, flavor: Flavor): string {
  const xff = req.headers['x-forwarded-for'];
  const first = (Array.isArray(xff) ? xff[0] : xff)?.split(',')[0]?.trim();
  if (flavor === 'go') {
    for (const h of ['fly-client-ip', 'cf-connecting-ip', 'fastly-client-ip', 'true-client-ip']) {
      const v = req.headers[h];
      if (typeof v === 'string' && v !== '') return v;
    }
    if (first) return first;
    let addr = req.socket.remoteAddress ?? '';
    if (addr.startsWith('::ffff:')) addr = addr.slice(7);
    return addr.includes(':') ? `[${addr}]:${req.socket.remotePort}` : `${addr}:${req.socket.remotePort}`;
  }
  if (xff !== undefined) return Array.isArray(xff) ? xff.join(', ') : xff;
  const addr = req.socket.remoteAddress ?? '';
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}

/** The request URL as httpbin reports it (scheme from X-Forwarded-Proto, host from Host). */
export function fullUrl(req: IncomingMessage): string {
  const proto = req.headers['x-forwarded-proto'] ?? req.headers['x-forwarded-protocol'] ?? (req.headers['x-forwarded-ssl'] === 'on' ? 'https' : 'http');
  return `${Array.isArray(proto) ? proto[0] : proto}://${req.headers.host ?? ''}${req.url ?? '/'}`;
}

/** JSON as each flavor's encoder writes it (both indent by two spaces and end with a newline). */
export function jsonBody(v: unknown): string {
  return `${JSON.stringify(v, null, 2)}\n`;
}

export function jsonContentType(flavor: Flavor): string {
  return flavor === 'go' ? 'application/json; charset=utf-8' : 'application/json';
}
