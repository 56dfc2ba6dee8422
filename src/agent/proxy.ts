/**
 * Starts and supervises the proxy as Istio's agent does (pkg/envoy): one child process under the
 * proxy's UID/GID (1337, so capture lets its traffic through), restarted with backoff when it
 * exits unasked, and on shutdown drained — `POST /drain_listeners?inboundonly&graceful` on its
 * admin port, a drain period, then SIGTERM (SIGKILL if it lingers).
 *
 * `spar proxy` (default) runs through this very Node binary; `--proxy envoy` runs `envoy` from PATH
 * (or $ENVOY_BIN) with hot restart disabled (pods in other namespaces share the host's /dev/shm).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../common/paths.js';
import { getLocal } from './status.js';

export type ProxyKind = 'spar' | 'envoy';

export interface ProxySupervisorOptions {
  kind: ProxyKind;
  bootstrapPath: string;
  /** The envoy binary (default $ENVOY_BIN, then `envoy` on PATH). */
  envoyBin?: string;
  uid?: number;
  gid?: number;
  adminPort: number;
  /** Seconds between the drain call and SIGTERM. */
  drainDurationS: number;
  logLevel: string;
  /** Where the proxy's stdout/stderr go (default: this process's). */
  stdio?: 'inherit' | 'pipe';
  log: (msg: string) => void;
}

/** argv for the proxy process. */
export function proxyCommand(o: Pick<ProxySupervisorOptions, 'kind' | 'bootstrapPath' | 'drainDurationS' | 'logLevel' | 'envoyBin'>): { cmd: string; args: string[]; env: NodeJS.ProcessEnv } {
  if (o.kind === 'envoy') {
    return {
      cmd: o.envoyBin ?? process.env.ENVOY_BIN ?? 'envoy',
      args: ['-c', o.bootstrapPath, '--drain-time-s', String(o.drainDurationS), '--drain-strategy', 'immediate', '--disable-hot-restart', '--log-level', o.logLevel, '--concurrency', '2', '--local-address-ip-version', 'v4'],
      env: process.env,
    };
  }
  const fromSource = import.meta.url.endsWith('.ts');
  return {
    cmd: process.execPath,
    args: [join(repoRoot, 'bin', 'spar.js'), 'proxy', '-c', o.bootstrapPath, '--drain-time-s', String(o.drainDurationS), '--log-level', o.logLevel === 'warning' ? 'warning' : o.logLevel],
    env: { ...process.env, ...(fromSource ? { SPAR_TSX: '1' } : {}) },
  };
}

export class ProxySupervisor {
  private child?: ChildProcess;
  private stopping = false;
  private restarts = 0;
  private startedAt = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly o: ProxySupervisorOptions) {}

  /** The running proxy's pid. */
  get pid(): number | undefined {
    return this.child?.exitCode === null ? this.child.pid : undefined;
  }

  get up(): boolean {
    return !this.stopping && this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get restartCount(): number {
    return this.restarts;
  }

  start(): void {
    const { cmd, args, env } = proxyCommand(this.o);
    this.startedAt = Date.now();
    // Envoy (and Istio's access logs) reopen /dev/stdout by path, which a process under another UID
    // may not do with the agent's stdout; so the proxy writes into a pipe its own UID creates (a
    // shell's `| cat`), and cat passes the lines on. The group (detached) is signalled as one.
    const child = spawn('/bin/sh', ['-c', 'exec "$0" "$@" 2>&1 | cat', cmd, ...args], {
      env, stdio: ['ignore', this.o.stdio ?? 'inherit', this.o.stdio ?? 'inherit'], uid: this.o.uid, gid: this.o.gid, detached: true,
    });
    this.child = child;
    this.o.log(`proxy started (${this.o.kind}, pid ${child.pid}${this.o.uid !== undefined ? `, uid ${this.o.uid}` : ''})`);
    child.on('error', (e) => this.o.log(`proxy: ${e.message}`));
    child.on('exit', (code, signal) => {
      if (this.stopping) return;
      // A proxy that ran for a while starts again at once; one that keeps dying backs off to 10 s.
      if (Date.now() - this.startedAt > 30_000) this.restarts = 0;
      const delay = Math.min(10_000, 200 * 2 ** this.restarts);
      this.restarts++;
      this.o.log(`proxy exited (${signal ?? `code ${code}`}); restarting in ${delay} ms`);
      this.timer = setTimeout(() => this.start(), delay);
    });
  }

  /** Drains and stops the proxy; resolves when it has exited. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (this.o.drainDurationS > 0) {
      await getLocal(this.o.adminPort, '/drain_listeners?inboundonly&graceful', 1000, 'POST');
      await Promise.race([exited, new Promise((r) => setTimeout(r, this.o.drainDurationS * 1000))]);
    }
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        // already gone
      }
    };
    if (child.exitCode === null && child.signalCode === null) signal('SIGTERM');
    const killer = setTimeout(() => signal('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  }
}
