/**
 * The agent's status server on 15020 (Istio: pilot-agent's status port):
 *
 * - `GET /healthz/ready`: 200 once the proxy says it is ready (its admin `/ready` answers 200, i.e.
 *   the first LDS/CDS arrived), 503 before and while draining. The proxy's own 15021 listener
 *   (written in the bootstrap) routes `/healthz/ready` here, which is what Kubernetes probes.
 * - `GET /app-health/<container>/livez|readyz|startupz`: the app's original probe, run by the
 *   agent (the probe rewrite, see probes.ts).
 * - `GET /stats/prometheus`: the proxy's Prometheus stats (Istio merges the app's in as well).
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { runProbe, type AppProbers } from './probes.js';

export interface StatusServerOptions {
  port: number;
  host?: string;
  /** The proxy's admin port on 127.0.0.1. */
  adminPort: number;
  podIp: string;
  probers: AppProbers;
  /** False while the agent drains or the proxy is down. */
  proxyUp: () => boolean;
}

/** GET http://127.0.0.1:<port><path> → status and body ('' on error). */
export function getLocal(port: number, path: string, timeoutMs = 1000, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => resolve({ status: 0, body: '' }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

export class StatusServer {
  private server?: Server;

  constructor(private readonly o: StatusServerOptions) {}

  /** Whether the proxy answers its admin /ready with 200. */
  async proxyReady(): Promise<boolean> {
    if (!this.o.proxyUp()) return false;
    const r = await getLocal(this.o.adminPort, '/ready', 1000);
    return r.status === 200;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/healthz/ready') {
      const ok = await this.proxyReady();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? '' : 'proxy not ready\n');
      return;
    }
    if (path.startsWith('/app-health/')) {
      const probe = this.o.probers[path];
      if (!probe) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`no probe for ${path}\n`);
        return;
      }
      const r = await runProbe(probe, this.o.podIp);
      res.writeHead(r.ok ? 200 : 500, { 'content-type': 'text/plain' }).end(r.ok ? '' : `${r.error ?? `app answered ${r.status}`}\n`);
      return;
    }
    if (path === '/stats/prometheus') {
      const r = await getLocal(this.o.adminPort, '/stats/prometheus', 5000);
      res.writeHead(r.status === 200 ? 200 : 503, { 'content-type': 'text/plain; version=0.0.4' }).end(r.body);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }

  listen(): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e: Error) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(`${e.message}\n`);
      });
    });
    const server = this.server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host ?? '0.0.0.0', () => resolve());
    });
  }

  close(): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
