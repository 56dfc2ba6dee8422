/**
 * Starts Spar's sample apps as child processes on free loopback ports (port 0; the port is read
 * from the app's `listening on …:<port>` line), plus small in-process stubs that record what they
 * are sent, and stops everything a test started. From TypeScript sources the samples run through
 * tsx; from dist/ the compiled samples run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { repoRoot } from '../../src/common/paths.js';
import { sampleArgv } from '../../samples/images.js';

export const fromSource = import.meta.url.endsWith('.ts');

export interface RunningSample {
  app: string;
  /** The first listening port. */
  port: number;
  /** Every listening port, in the order printed. */
  ports: number[];
  proc: ChildProcess;
  /** Everything the process printed so far. */
  output(): string;
  stop(): Promise<void>;
}

const running = new Set<RunningSample>();

/** Starts samples/<app> with `args` (a `--host 127.0.0.1 --port 0` is added unless `raw`) and `env`. */
export function startSample(app: string, opts: { args?: string[]; env?: Record<string, string>; raw?: boolean; listenLines?: number } = {}): Promise<RunningSample> {
  const argv = [...sampleArgv(app, { repoRoot, fromSource }), ...(opts.raw ? [] : ['--host', '127.0.0.1', '--port', '0']), ...(opts.args ?? [])];
  const proc = spawn(argv[0]!, argv.slice(1), { cwd: repoRoot, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${app} did not start within 30 s:\n${out}`));
    }, 30_000);
    const sample: RunningSample = {
      app,
      port: 0,
      ports: [],
      proc,
      output: () => out,
      stop: () =>
        new Promise<void>((done) => {
          running.delete(sample);
          if (proc.exitCode !== null || proc.signalCode !== null) return done();
          const kill = setTimeout(() => proc.kill('SIGKILL'), 2000);
          proc.once('exit', () => {
            clearTimeout(kill);
            done();
          });
          proc.kill('SIGTERM');
        }),
    };
    const onData = (b: Buffer): void => {
      out += b.toString('utf8');
      const ports = [...out.matchAll(/listening on [^\n]*?:(\d+)/g)].map((m) => Number(m[1]));
      if (ports.length >= (opts.listenLines ?? 1) && sample.port === 0) {
        sample.ports = ports;
        sample.port = ports[0]!;
        clearTimeout(timer);
        running.add(sample);
        resolve(sample);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (b: Buffer) => (out += b.toString('utf8')));
    proc.once('exit', (code, signal) => {
      if (sample.port === 0) {
        clearTimeout(timer);
        reject(new Error(`${app} exited (${code ?? signal}) before listening:\n${out}`));
      }
    });
  });
}

/** Stops every sample and stub still running (call from `after`). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop()));
  await Promise.all([...stubs].map((s) => s.close()));
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface Stub {
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

const stubs = new Set<Stub>();

/** An in-process HTTP server on 127.0.0.1 that records requests and answers with `handler`. */
export async function startStub(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Stub> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const stub: Stub = {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((r) => {
        stubs.delete(stub);
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  stubs.add(stub);
  return stub;
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  ms: number;
}

/** One HTTP request to 127.0.0.1:port, no redirects followed, no connection reuse. */
export function http(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpResult> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8'), ms: performance.now() - start }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Occurrences of `needle` in `haystack`. */
export function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}
