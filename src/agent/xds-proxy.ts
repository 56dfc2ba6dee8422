/**
 * The agent's xDS forwarder (Istio: the agent's XDS proxy on `./etc/istio/proxy/XDS`): the proxy
 * speaks ADS to the agent, locally, and the agent carries the bytes to the pilot. Here it is a
 * byte pipe — the pilot sees the proxy's own gRPC stream — which lets a proxy under UID 1337 reach
 * a pilot socket only root may open, and a proxy without Unix-socket support (`spar proxy`) reach a
 * pilot that listens on one.
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface XdsForwarderOptions {
  /** Where the proxy connects: `unix:///path` or `host:port`. */
  listen: string;
  /** The pilot: `unix:///path` or `host:port`. */
  upstream: string;
  /** How long a proxy's connection waits for the pilot to accept (default 60 s). */
  connectTimeoutMs?: number;
}

function parseAddress(a: string): { path: string } | { host: string; port: number } {
  if (a.startsWith('unix:')) return { path: a.replace(/^unix:(\/\/)?/, '') };
  const i = a.lastIndexOf(':');
  if (i < 0) throw new Error(`${a}: expected unix:///path or host:port`);
  return { host: a.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(a.slice(i + 1)) };
}

export class XdsForwarder {
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly o: XdsForwarderOptions) {
    this.o = { connectTimeoutMs: 60_000, ...o };
  }

  listen(): Promise<void> {
    const up = parseAddress(this.o.upstream);
    const at = parseAddress(this.o.listen);
    this.server = createServer((down) => {
      this.sockets.add(down);
      down.on('close', () => this.sockets.delete(down));
      down.on('error', () => down.destroy());
      // The proxy's bytes wait (paused) until the pilot answers: a pilot still starting looks like
      // a slow server to the proxy, not a refused connection that would put it in backoff.
      down.pause();
      const deadline = Date.now() + this.o.connectTimeoutMs!;
      const attempt = () => {
        if (down.destroyed) return;
        const upstream = 'path' in up ? connect(up.path) : connect(up.port, up.host);
        let connected = false;
        upstream.on('error', (e: NodeJS.ErrnoException) => {
          if (connected) down.destroy();
          else if (Date.now() < deadline && (e.code === 'ENOENT' || e.code === 'ECONNREFUSED')) setTimeout(attempt, 200);
          else down.destroy();
        });
        upstream.once('connect', () => {
          connected = true;
          this.sockets.add(upstream);
          upstream.on('close', () => this.sockets.delete(upstream));
          down.on('close', () => upstream.destroy());
          upstream.on('close', () => down.destroy());
          down.pipe(upstream);
          upstream.pipe(down);
          down.resume();
        });
      };
      attempt();
    });
    const server = this.server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      if ('path' in at) {
        if (existsSync(at.path)) unlinkSync(at.path);
        server.listen(at.path, () => {
          // The proxy runs as UID 1337.
          chmodSync(at.path, 0o666);
          resolve();
        });
      } else {
        server.listen(at.port, at.host, () => resolve());
      }
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
