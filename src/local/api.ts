/**
 * The runtime's API: HTTP/1.1 on the Unix socket `<state>/spar.sock` (root-only, like the state
 * dir). `spar apply|delete|get|down` are its clients; `spar logs` and `spar exec` read state.json
 * and the pod folders directly and need no running runtime.
 *
 *   GET  /status            pods, services, ingress address
 *   POST /apply   {docs}    add or replace objects → kubectl-style lines
 *   POST /delete  {docs}    remove objects
 *   POST /shutdown          stop everything; the runtime exits
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { LocalRuntime } from './runtime.js';

export function serveApi(runtime: LocalRuntime, socket: string, onShutdown: () => void): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      void (async () => {
        try {
          const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { docs?: Array<Record<string, unknown>> }) : {};
          if (req.method === 'GET' && req.url === '/status') return reply(200, runtime.status());
          if (req.method === 'POST' && req.url === '/apply') return reply(200, { lines: await runtime.apply(body.docs ?? []) });
          if (req.method === 'POST' && req.url === '/delete') return reply(200, { lines: await runtime.delete(body.docs ?? []) });
          if (req.method === 'POST' && req.url === '/shutdown') {
            reply(200, { ok: true });
            onShutdown();
            return;
          }
          reply(404, { error: `no ${req.method} ${req.url}` });
        } catch (e) {
          reply(500, { error: (e as Error).message });
        }
      })();
    });
  });
  if (existsSync(socket)) unlinkSync(socket);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => {
      chmodSync(socket, 0o600);
      resolve(server);
    });
  });
}

/** One API call; rejects with ECONNREFUSED/ENOENT when no runtime is listening. */
export function callApi<T>(socket: string, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 120_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, headers: { 'content-type': 'application/json' }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          const v = JSON.parse(text) as T & { error?: string };
          if ((res.statusCode ?? 500) >= 400) reject(new Error(v.error ?? text));
          else resolve(v);
        } catch {
          reject(new Error(`bad answer from the runtime: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`the runtime did not answer ${path} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
