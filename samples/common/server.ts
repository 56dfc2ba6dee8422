/**
 * What every sample server shares: reading its port the way the Istio image does (a positional
 * argument, an env var, or a default), binding dual-stack like the images (`::`, falling back to
 * 0.0.0.0 where IPv6 is off, as in a pod network namespace without it), printing one
 * `listening on <host>:<port>` line (tests and `spar up` read the real port from it when the port
 * is 0), and stopping cleanly on SIGTERM/SIGINT the way a kubelet stops a pod.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';

/** Command-line options every sample understands, besides its own positional arguments. */
export interface CommonArgs {
  /** Positional arguments (what the image's CMD/args pass, e.g. `9080`). */
  positional: string[];
  /** `--port N`, when given. */
  port?: number;
  /** `--host H`, when given. */
  host?: string;
}

/** Splits argv into positionals and the `--port` / `--host` flags (also `--port=N`). */
export function parseCommonArgs(argv: string[]): CommonArgs {
  const out: CommonArgs = { positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? (eq > 0 ? a.slice(2, eq) : a.slice(2)) : '';
    if (name === 'port' || name === 'host') {
      const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
      if (name === 'port') out.port = parsePort(value, `--port`);
      else out.host = value;
    } else {
      out.positional.push(a);
    }
  }
  return out;
}

/** A TCP port number 0..65535 (0 asks the kernel for a free one), or an error naming where it came from. */
export function parsePort(value: string, where: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new Error(`${where}: "${value}" is not a port number (0-65535)`);
  return n;
}

/** Port precedence: --port, then the first positional argument (the images' `CMD [..., "9080"]`), then env, then default. */
export function resolvePort(args: CommonArgs, envValue: string | undefined, envName: string, fallback: number): number {
  if (args.port !== undefined) return args.port;
  if (args.positional[0] !== undefined && /^\d+$/.test(args.positional[0])) return parsePort(args.positional[0], 'port argument');
  if (envValue !== undefined && envValue !== '') return parsePort(envValue, envName);
  return fallback;
}

/** Binds `server` on host:port; with no host, `::` (dual-stack) and then 0.0.0.0 if IPv6 is unavailable. */
export function listen(server: NetServer, port: number, host?: string): Promise<AddressInfo> {
  const attempt = (h: string): Promise<AddressInfo> =>
    new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen(port, h, () => {
        server.off('error', onError);
        resolve(server.address() as AddressInfo);
      });
    });
  if (host !== undefined) return attempt(host);
  return attempt('::').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL') return attempt('0.0.0.0');
    throw err;
  });
}

/** `host:port` as Go and Python print it (`[::]:9080` for IPv6). */
export function formatAddress(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** Stops the servers on SIGTERM/SIGINT: refuse new connections, drop idle ones, exit 0. */
export function exitOnSignals(servers: NetServer[]): void {
  const stop = (): void => {
    for (const s of servers) {
      s.close();
      if ('closeAllConnections' in s) (s as Server).closeAllConnections();
    }
    // Connections that hang (a delayed response) must not keep a stopped pod alive.
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/** Starts an HTTP sample: parses argv/env for the port, listens, prints the listening line, handles signals. */
export async function startHttpSample(opts: {
  name: string;
  handler: RequestListener;
  argv?: string[];
  portEnv?: string;
  defaultPort: number;
}): Promise<Server> {
  const args = parseCommonArgs(opts.argv ?? process.argv.slice(2));
  const port = resolvePort(args, opts.portEnv ? process.env[opts.portEnv] : undefined, opts.portEnv ?? 'PORT', opts.defaultPort);
  const host = args.host;
  const server = createServer(opts.handler);
  // Keep-alive like the images' servers, but never longer than a proxy's idle timeout.
  server.keepAliveTimeout = 5_000;
  const addr = await listen(server, port, host);
  process.stdout.write(`${opts.name} listening on ${formatAddress(addr)}\n`);
  exitOnSignals([server]);
  return server;
}

/** Writes a complete response. */
export function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  // setHeader (not writeHead's object) so that loggers can read the headers back with getHeader.
  res.setHeader('content-type', contentType);
  res.setHeader('content-length', String(buf.length));
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.writeHead(status);
  res.end(buf);
}

/** Reads the whole request body, refusing more than `limit` bytes. */
export function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size > limit) {
        reject(new Error(`request body larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      parts.push(b);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

/** Runs `main`, printing a startup error and exiting 1 the way a crashing container would. */
export function runMain(main: () => Promise<unknown>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
