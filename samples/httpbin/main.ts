/**
 * An httpbin for the mesh's tests and Istio's tasks (circuit breaking, mirroring, ingress, egress
 * timeouts, authn/authz), answering like the image the YAML names (see flavor.ts):
 *   node main.js [--flavor go|kennethreitz] [--port N] [--host H]          (go: PORT/HOST env, 8080)
 *   node main.js --flavor kennethreitz [-b 0.0.0.0:80] [--access-logfile -] (gunicorn's flags; 80)
 * Endpoints: /get /post /put /patch /delete /anything[/...] /headers /ip /user-agent /uuid
 * /status/<code>[,<code>[:weight]...] /delay/<seconds> /response-headers?k=v /hostname /cookies /.
 * HTTPBIN_FLAVOR selects the flavor from the environment; MAX_DURATION (go) bounds /delay (10 s).
 */
import { randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { exitOnSignals, formatAddress, listen, parsePort, readBody, runMain, send } from '../common/server.js';
import { fullUrl, jsonBody, jsonContentType, origin, queryArgs, requestHeaders, type Flavor } from './flavor.js';

interface Options {
  flavor: Flavor;
  port: number;
  host?: string;
  accessLog: boolean;
  maxDelayMs: number;
}

function parseOptions(argv: string[]): Options {
  let flavor: Flavor = process.env.HTTPBIN_FLAVOR === 'kennethreitz' ? 'kennethreitz' : 'go';
  let port: number | undefined;
  let host: string | undefined;
  let accessLog = false;
  let maxDelayMs = 10_000;
  for (let i = 0; i < argv.length; i++) {
    // Go's flag package takes `-port 8080` as well as `--port 8080`.
    const a = /^-[a-z][a-z-]+/.test(argv[i]!) ? `-${argv[i]!}` : argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--flavor': {
        const f = value();
        if (f !== 'go' && f !== 'kennethreitz') throw new Error(`--flavor: "${f}" is not go or kennethreitz`);
        flavor = f;
        break;
      }
      case '--port':
        port = parsePort(value(), '--port');
        break;
      case '--host':
        host = value();
        break;
      case '-b':
      case '--bind': {
        const b = value();
        const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(b);
        if (!m) throw new Error(`${flag}: "${b}" is not HOST:PORT`);
        host = m[1] ?? (m[2] || undefined);
        port = parsePort(m[3]!, flag);
        break;
      }
      case '--access-logfile':
        accessLog = value() === '-';
        break;
      case '--max-duration':
        maxDelayMs = parseDurationMs(value()) ?? maxDelayMs;
        break;
      case '-k':
      case '-w':
      case '--workers':
      case '--worker-class':
        value(); // gunicorn options without meaning here
        break;
      default:
        if (a.startsWith('-')) throw new Error(`unknown flag ${a}`);
      // positional (gunicorn's `httpbin:app`) ignored
    }
  }
  if (flavor === 'go') {
    if (port === undefined && process.env.PORT) port = parsePort(process.env.PORT, 'PORT');
    if (host === undefined && process.env.HOST) host = process.env.HOST;
    if (process.env.MAX_DURATION) maxDelayMs = parseDurationMs(process.env.MAX_DURATION) ?? maxDelayMs;
  }
  return { flavor, port: port ?? (flavor === 'go' ? 8080 : 80), host, accessLog, maxDelayMs };
}

/** A Go duration ("1.5s", "300ms", "1m") or plain seconds ("2", "0.5"), in ms; undefined if neither. */
function parseDurationMs(s: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  return s.length > 0 ? total : undefined;
}

class Httpbin {
  constructor(private readonly o: Options) {}

  private json(res: ServerResponse, status: number, v: unknown, extra: Record<string, string> = {}): void {
    send(res, status, jsonContentType(this.o.flavor), jsonBody(v), extra);
  }

  private error(res: ServerResponse, status: number, detail?: string): void {
    if (this.o.flavor === 'go') this.json(res, status, { status_code: status, error: STATUS_CODES[status], ...(detail ? { detail } : {}) });
    else send(res, status, 'text/html; charset=utf-8', `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<title>${status} ${STATUS_CODES[status]}</title>\n<h1>${STATUS_CODES[status]}</h1>\n<p>${detail ?? ''}</p>\n`);
  }

  private notFound(res: ServerResponse): void {
    if (this.o.flavor === 'go') send(res, 404, 'text/plain; charset=utf-8', '404 page not found\n');
    else this.error(res, 404, 'The requested URL was not found on the server.  If you entered the URL manually please check your spelling and try again.');
  }

  private methodNotAllowed(res: ServerResponse, allow: string[]): void {
    const allowHeader = allow.includes('GET') ? [...allow, 'HEAD'] : allow;
    if (this.o.flavor === 'go') send(res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed\n', { allow: allowHeader.join(', ') });
    else send(res, 405, 'text/html; charset=utf-8', '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n', { allow: [...allowHeader, 'OPTIONS'].join(', ') });
  }

  private noBody(req: IncomingMessage, url: URL): Record<string, unknown> {
    const showEnv = url.searchParams.has('show_env');
    const r: Record<string, unknown> = {
      args: queryArgs(url.searchParams, this.o.flavor),
      headers: requestHeaders(req, this.o.flavor, showEnv),
      origin: origin(req, this.o.flavor),
      url: fullUrl(req),
    };
    if (this.o.flavor === 'go') return { args: r.args, headers: r.headers, method: req.method, origin: r.origin, url: r.url };
    return r;
  }

  private async withBody(req: IncomingMessage, url: URL, includeMethod: boolean): Promise<Record<string, unknown>> {
    const body = await readBody(req);
    const data = body.toString('utf8');
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    let form: Record<string, string[] | string> = {};
    let json: unknown = null;
    if (data !== '' && type === 'application/x-www-form-urlencoded') form = queryArgs(new URLSearchParams(data), this.o.flavor);
    if (data !== '' && type === 'application/json') {
      try {
        json = JSON.parse(data) as unknown;
      } catch {
        json = null;
      }
    }
    const base = this.noBody(req, url);
    if (this.o.flavor === 'go') return { ...base, data, files: {}, form, json };
    const r: Record<string, unknown> = { args: base.args, data, files: {}, form, headers: base.headers, json };
    if (includeMethod) r.method = req.method;
    r.origin = base.origin;
    r.url = base.url;
    return r;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://httpbin');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const only = (...allowed: string[]): boolean => {
      const ok = allowed.includes(method) || (allowed.includes('GET') && method === 'HEAD') || method === 'OPTIONS';
      if (!ok) this.methodNotAllowed(res, allowed);
      return ok;
    };
    const seg = path.split('/').slice(1);
    switch (true) {
      case path === '/':
        if (only('GET')) send(res, 200, 'text/html; charset=utf-8', '<!DOCTYPE html>\n<html><head><title>httpbin</title></head><body><h1>httpbin (Spar sample)</h1></body></html>\n');
        return;
      case path === '/get':
        if (only('GET')) this.json(res, 200, this.noBody(req, url));
        return;
      case path === '/post' || path === '/put' || path === '/patch' || path === '/delete':
        if (only(path.slice(1).toUpperCase())) this.json(res, 200, await this.withBody(req, url, false));
        return;
      case path === '/anything' || path.startsWith('/anything/'):
        if (method === 'HEAD') this.json(res, 200, this.noBody(req, url));
        else this.json(res, 200, await this.withBody(req, url, true));
        return;
      case path === '/headers':
        this.json(res, 200, { headers: requestHeaders(req, this.o.flavor, url.searchParams.has('show_env')) });
        return;
      case path === '/ip':
        this.json(res, 200, { origin: origin(req, this.o.flavor) });
        return;
      case path === '/user-agent':
        this.json(res, 200, { 'user-agent': req.headers['user-agent'] ?? (this.o.flavor === 'go' ? '' : null) });
        return;
      case path === '/uuid':
        this.json(res, 200, { uuid: randomUUID() });
        return;
      case path === '/hostname':
        this.json(res, 200, { hostname: process.env.HOSTNAME ?? hostname() });
        return;
      case path === '/cookies':
        this.json(res, 200, this.o.flavor === 'go' ? cookies(req) : { cookies: cookies(req) });
        return;
      case path === '/response-headers':
        return this.responseHeaders(res, url);
      case seg[0] === 'status' && seg.length === 2:
        return this.status(res, decodeURIComponent(seg[1]!));
      case seg[0] === 'delay' && seg.length === 2:
        return this.delay(req, res, url, decodeURIComponent(seg[1]!));
      default:
        this.notFound(res);
    }
  }

  private responseHeaders(res: ServerResponse, url: URL): void {
    const args = queryArgs(url.searchParams, this.o.flavor);
    for (const [k, v] of Object.entries(args)) {
      try {
        res.setHeader(k, v);
      } catch {
        // a name or value Node refuses is left out
      }
    }
    if (!res.hasHeader('content-type')) res.setHeader('content-type', jsonContentType(this.o.flavor));
    const body = jsonBody(args);
    res.setHeader('content-length', String(Buffer.byteLength(body)));
    res.writeHead(200);
    res.end(body);
  }

  private status(res: ServerResponse, raw: string): void {
    const choices: { code: number; weight: number }[] = [];
    for (const part of raw.split(',')) {
      const [c, w] = part.split(':');
      const code = Number(c);
      const weight = w === undefined ? 1 : Number(w);
      if (!/^\d+$/.test(c ?? '') || code < 100 || code > 599 || !Number.isFinite(weight) || weight < 0) {
        this.error(res, 400, `invalid status code: ${JSON.stringify(part)}`);
        return;
      }
      choices.push({ code, weight });
    }
    let code = choices[0]!.code;
    if (choices.length > 1) {
      const total = choices.reduce((s, c) => s + c.weight, 0);
      let r = Math.random() * total;
      for (const c of choices) {
        code = c.code;
        if ((r -= c.weight) < 0) break;
      }
    }
    const special: Record<number, [Record<string, string>, string]> = {
      301: [{ location: '/redirect/1' }, ''],
      302: [{ location: '/redirect/1' }, ''],
      303: [{ location: '/redirect/1' }, ''],
      307: [{ location: '/redirect/1' }, ''],
      401: [{ 'www-authenticate': 'Basic realm="Fake Realm"' }, ''],
      407: [{ 'proxy-authenticate': 'Basic realm="Fake Realm"' }, ''],
      418: [{ 'x-more-info': 'http://tools.ietf.org/html/rfc2324' }, "I'm a teapot!"],
    };
    const [headers, body] = special[code] ?? [{}, ''];
    send(res, code, this.o.flavor === 'go' ? 'text/plain; charset=utf-8' : 'text/html; charset=utf-8', body, headers);
  }

  private async delay(req: IncomingMessage, res: ServerResponse, url: URL, raw: string): Promise<void> {
    let ms = this.o.flavor === 'go' ? parseDurationMs(raw) : /^\d+(\.\d+)?$/.test(raw) ? Number(raw) * 1000 : undefined;
    if (ms === undefined) return this.error(res, 400, `invalid duration: ${JSON.stringify(raw)}`);
    if (this.o.flavor === 'go' && ms > this.o.maxDelayMs) return this.error(res, 400, `invalid duration: duration ${ms / 1000}s longer than ${this.o.maxDelayMs / 1000}s`);
    ms = Math.min(ms, this.o.maxDelayMs);
    const closed = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      res.once('close', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
    if (closed) return;
    const extra: Record<string, string> = this.o.flavor === 'go' ? { 'server-timing': `initial_delay;dur=${ms};desc="initial delay"` } : {};
    const body = await this.withBody(req, url, false);
    if (this.o.flavor === 'kennethreitz') delete body.json; // Python's /delay reports no `json`
    this.json(res, 200, body, extra);
  }
}

function cookies(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? '').split(/;\s*/)) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** One line per request: go-httpbin's slog text line, or gunicorn's access log line. */
function accessLog(o: Options, req: IncomingMessage, res: ServerResponse, start: bigint, size: number): void {
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const ua = String(req.headers['user-agent'] ?? '');
  if (o.flavor === 'go') {
    const q = (s: string): string => (/^[^\s"=]+$/.test(s) ? s : JSON.stringify(s));
    const level = res.statusCode >= 500 ? 'ERROR' : res.statusCode >= 400 ? 'WARN' : 'INFO';
    process.stdout.write(
      `time=${new Date().toISOString()} level=${level} msg=${q(`${res.statusCode} ${req.method} ${req.url} ${ms.toFixed(1)}ms`)} status=${res.statusCode} method=${req.method} uri=${q(req.url ?? '/')} size_bytes=${size} duration_ms=${ms.toFixed(3)} user_agent=${q(ua)} client_ip=${q(origin(req, 'go'))}\n`,
    );
  } else if (o.accessLog) {
    const d = new Date();
    const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    const p = (n: number): string => String(n).padStart(2, '0');
    const t = `${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
    const referer = String(req.headers.referer ?? '-');
    process.stdout.write(`${origin(req, 'kennethreitz')} - - [${t}] "${req.method} ${req.url} HTTP/${req.httpVersion}" ${res.statusCode} ${size} "${referer}" "${ua || '-'}"\n`);
  }
}

runMain(async () => {
  const o = parseOptions(process.argv.slice(2));
  const app = new Httpbin(o);
  const server = createServer((req, res) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => accessLog(o, req, res, start, Number(res.getHeader('content-length') ?? 0)));
    // CORS as go-httpbin's preflight middleware answers it.
    if (o.flavor === 'go') {
      res.setHeader('access-control-allow-origin', String(req.headers.origin ?? '*'));
      res.setHeader('access-control-allow-credentials', 'true');
      if (req.method === 'OPTIONS') {
        res.setHeader('access-control-allow-methods', 'GET, POST, HEAD, PUT, DELETE, PATCH, OPTIONS');
        res.setHeader('access-control-max-age', '3600');
        if (req.headers['access-control-request-headers']) res.setHeader('access-control-allow-headers', String(req.headers['access-control-request-headers']));
        res.writeHead(200);
        res.end();
        return;
      }
    }
    app.handle(req, res).catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  const addr = await listen(server, o.port, o.host);
  process.stdout.write(`httpbin (${o.flavor}) listening on ${formatAddress(addr)}\n`);
  exitOnSignals([server]);
});
