/**
 * Small Node upstreams for proxy tests, on 127.0.0.1 port 0. Each answers with JSON naming itself
 * and echoing what it received (method, url, headers, body), so a test can see which upstream a
 * proxy chose and what it forwarded. Paths with behaviour:
 *   /status/NNN         answer NNN
 *   /delay/MS           answer after MS milliseconds
 *   /reset              destroy the connection before answering
 *   /reset-mid          send headers and part of the body, then destroy
 *   /chunked            a chunked response in three parts
 *   /header/NAME/VALUE  set a response header
 * Setting `failWith` on an upstream (e.g. 503) makes it answer that status to every request until
 * it is set back to 0 (a switchable failing host for outlier detection tests).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface Upstream {
  name: string;
  port: number;
  server: Server;
  requests: number;
  /** When non-zero, every request is answered with this status (and the usual echo body). */
  failWith: number;
  close(): Promise<void>;
}

export interface Echo {
  upstream: string;
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export async function startUpstream(name: string): Promise<Upstream> {
  const sockets = new Set<Socket>();
  const up: Upstream = { name, port: 0, server: undefined as never, requests: 0, failWith: 0, close: async () => {} };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    up.requests++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '/';
      const body = JSON.stringify({ upstream: name, method: req.method ?? "", url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') } satisfies Echo);
      const m = /^\/(status|delay|header)\/([^/?]+)(?:\/([^/?]+))?/.exec(url);
      res.setHeader('x-upstream', name);
      if (up.failWith) {
        res.writeHead(up.failWith, { 'content-type': 'application/json' });
        return void res.end(body);
      }
      if (url.startsWith('/reset-mid')) {
        res.writeHead(200, { 'content-length': '1000' });
        res.write('partial');
        setTimeout(() => req.socket.destroy(), 20);
        return;
      }
      if (url.startsWith('/reset')) return void req.socket.destroy();
      if (url.startsWith('/chunked')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('one ');
        setTimeout(() => { res.write('two '); setTimeout(() => res.end('three'), 5); }, 5);
        return;
      }
      if (m?.[1] === 'status') {
        res.writeHead(Number(m[2]), { 'content-type': 'application/json' });
        return void res.end(body);
      }
      if (m?.[1] === 'delay') {
        const t = setTimeout(() => { if (!res.destroyed) res.end(body); }, Number(m[2]));
        res.on('close', () => clearTimeout(t));
        return;
      }
      if (m?.[1] === 'header') res.setHeader(m[2], decodeURIComponent(m[3] ?? ''));
      res.setHeader('content-type', 'application/json');
      res.end(body);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  up.port = (server.address() as { port: number }).port;
  up.server = server;
  up.close = () => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  });
  return up;
}
