/**
 * A throw-away network namespace for capture tests: `ip netns add spar-t-XXXX`, loopback up, and a
 * teardown that deletes the namespace (its interfaces, routes and iptables rules go with it).
 * Nothing here routes or NATs anything off the machine: the namespace has no link to the host.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Why capture tests cannot run here, or undefined when they can (they need root for netns + iptables). */
export function captureSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'iptables capture is Linux-only';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'needs root (ip netns + iptables); CI runs as root';
  return undefined;
}

export interface TestNetns {
  readonly name: string;
  /** Runs a command inside the namespace and returns its stdout; throws with stderr on failure. */
  run(cmd: string, args: string[]): string;
  /** Starts a long-running process inside the namespace. */
  spawn(cmd: string, args: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv }): ChildProcess;
  /** Kills what spawn() started and deletes the namespace; safe to call twice. */
  destroy(): void;
}

const live = new Set<TestNetns>();
process.once('exit', () => {
  for (const ns of live) ns.destroy();
});

export function createNetns(): TestNetns {
  const name = `spar-t-${randomBytes(3).toString('hex')}`;
  const children: ChildProcess[] = [];
  const run = (cmd: string, args: string[]): string => {
    try {
      return execFileSync('ip', ['netns', 'exec', name, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`in netns ${name}: ${cmd} ${args.join(' ')}: ${err.stderr || err.message}`, { cause: e });
    }
  };
  execFileSync('ip', ['netns', 'add', name], { stdio: ['ignore', 'pipe', 'pipe'] });
  let destroyed = false;
  const ns: TestNetns = {
    name,
    run,
    spawn(cmd, args, opts = {}) {
      const child = spawn('ip', ['netns', 'exec', name, cmd, ...args], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      return child;
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      live.delete(ns);
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      try {
        execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    },
  };
  live.add(ns);
  try {
    run('ip', ['link', 'set', 'lo', 'up']);
  } catch (e) {
    ns.destroy();
    throw e;
  }
  return ns;
}

/** True when `ip netns list` still shows the namespace (for teardown assertions). */
export function netnsExists(name: string): boolean {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out.split('\n').some((l) => l.split(' ')[0] === name);
}
