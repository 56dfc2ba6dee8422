/**
 * An upstream whose answer to each attempt is scripted by the request, for retry, timeout and fault
 * tests. The request carries `x-key` (unique per test request) and `x-script`, a comma-separated
 * list of actions, one per attempt (attempts beyond the list get `ok`):
 *   ok          200 with a small JSON body
 *   NNN         that status
 *   reset       close the connection without answering
 *   dMS         answer 200 after MS milliseconds (dMS:NNN answers NNN after the delay)
 *   gN          200, content-type application/grpc, grpc-status N (a trailers-only gRPC answer)
 *   refuse      (HTTP/2 only) reset the stream with REFUSED_STREAM
 *   hang        never answer
 * Every attempt is recorded under its key (method, body length, the headers a retry test cares
 * about), so a test counts what reached the upstream, not what the proxy says it did.
 */
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createH2Server, constants, type Http2Server, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';

export interface Attempt {
  upstream: string;
  method: string;
  bodyLength: number;
  attemptCount?: string;
  expectedTimeout?: string;
  retryOn?: string;
  upstreamTimeout?: string;
  authority?: string;
  at: number;
}

export interface ScriptedUpstream {
  name: string;
  port: number;
  /** Attempts seen, by x-key. */
  seen: Map<string, Attempt[]>;
  close(): Promise<void>;
}

type Answer = (status: number, headers: Record<string, string>, body: string) => void;

function act(action: string, answer: Answer, reset: () => void, refuse: () => void): void {
  if (action === 'ok' || action === '') return answer(200, { 'content-type': 'application/json' }, '{"ok":true}');
  if (action === 'reset') return reset();
  if (action === 'refuse') return refuse();
  if (action === 'hang') return;
  const d = /^d(\d+)(?::(\d{3}))?$/.exec(action);
  if (d) {
    setTimeout(() => answer(Number(d[2] ?? 200), { 'content-type': 'application/json' }, '{"ok":"late"}'), Number(d[1]));
    return;
  }
  const g = /^g(\d+)$/.exec(action);
  if (g) return answer(200, { 'content-type': 'application/grpc', 'grpc-status': g[1], 'grpc-message': 'scripted' }, '');
  if (/^\d{3}$/.test(action)) return answer(Number(action), { 'content-type': 'application/json' }, `{"status":${action}}`);
  answer(500, {}, `unknown script action ${action}`);
}

function record(up: ScriptedUpstream, h: IncomingHttpHeaders | IncomingMessage['headers'], method: string, bodyLength: number): string {
  const key = String(h['x-key'] ?? '-');
  let list = up.seen.get(key);
  if (!list) up.seen.set(key, (list = []));
  list.push({
    upstream: up.name, method, bodyLength, at: Date.now(),
    attemptCount: h['x-envoy-attempt-count'] as string | undefined,
    expectedTimeout: h['x-envoy-expected-rq-timeout-ms'] as string | undefined,
    retryOn: h['x-envoy-retry-on'] as string | undefined,
    upstreamTimeout: h['x-envoy-upstream-rq-timeout-ms'] as string | undefined,
    authority: (h[':authority'] ?? h.host) as string | undefined,
  });
  const script = String(h['x-script'] ?? '').split(',');
  return script[list.length - 1] ?? 'ok';
}

/** An HTTP/1.1 scripted upstream on 127.0.0.1. */
export async function startScriptedUpstream(name: string): Promise<ScriptedUpstream> {
  const sockets = new Set<Socket>();
  const up: ScriptedUpstream = { name, port: 0, seen: new Map(), close: async () => {} };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => {
      const action = record(up, req.headers, req.method ?? '', n);
      act(action, (status, headers, body) => {
        if (res.destroyed) return;
        res.writeHead(status, { 'x-upstream': name, ...headers });
        res.end(body);
      }, () => req.socket.destroy(), () => req.socket.destroy());
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  up.port = (server.address() as { port: number }).port;
  up.close = () => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  });
  return up;
}

/** A cleartext HTTP/2 (h2c, prior knowledge) scripted upstream on 127.0.0.1. */
export async function startScriptedH2Upstream(name: string): Promise<ScriptedUpstream> {
  const up: ScriptedUpstream = { name, port: 0, seen: new Map(), close: async () => {} };
  const server: Http2Server = createH2Server();
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    let n = 0;
    stream.on('data', (c: Buffer) => (n += c.length));
    stream.on('error', () => {});
    stream.on('end', () => {
      const action = record(up, headers, String(headers[':method']), n);
      act(action, (status, h, body) => {
        if (stream.destroyed) return;
        stream.respond({ ':status': status, 'x-upstream': name, ...h });
        stream.end(body);
      }, () => stream.close(constants.NGHTTP2_INTERNAL_ERROR), () => stream.close(constants.NGHTTP2_REFUSED_STREAM));
    });
  });
  const sessions = new Set<import('node:http2').ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  up.port = (server.address() as { port: number }).port;
  up.close = () => new Promise<void>((r) => {
    for (const s of sessions) s.destroy();
    server.close(() => r());
  });
  return up;
}
