// Processes the benchmark starts (fortio server, Envoy, spar proxy), CPU pinning, and what /proc says
// about them. Everything started here is killed on exit, also when the run fails or is interrupted.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';

const live = new Set();
let hooked = false;
function hookExit() {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      process.exit(130);
    });
  }
}

/** Path of a command: $ENVVAR, then PATH, then extra candidates; undefined when none exists. */
export function findCommand(name, { env, extra = [] } = {}) {
  if (env && process.env[env]) return process.env[env];
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return extra.find((p) => existsSync(p));
}

export const fortioPath = () => findCommand('fortio', { env: 'FORTIO', extra: [join(homedir(), 'go', 'bin', 'fortio')] });
export const envoyPath = () => findCommand('envoy', { env: 'ENVOY' });

/** CPUs this process may run on (sched affinity, as taskset sees it). */
export function availableCpus() {
  try {
    const out = execFileSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' });
    const list = out.split(':').pop().trim();
    const cpus = [];
    for (const part of list.split(',')) {
      const [a, b] = part.split('-').map(Number);
      for (let i = a; i <= (b ?? a); i++) cpus.push(i);
    }
    return cpus;
  } catch {
    return [];
  }
}

/**
 * The pinning plan: the load generator alone on the first CPU, server and proxies on the rest
 * (on a 2-core machine: client on CPU 0; server and every proxy share CPU 1). No plan with one CPU
 * or without taskset.
 */
export function pinningPlan() {
  const cpus = availableCpus();
  if (cpus.length < 2 || !findCommand('taskset')) return { client: null, server: null, proxies: null, cpus };
  const rest = cpus.slice(1).join(',');
  return { client: String(cpus[0]), server: rest, proxies: rest, cpus };
}

/** Starts `cmd args` (under `taskset -c cpus` when given); the pid is the command's own (taskset execs). */
export function start(name, cmd, args, { cpus, env, cwd } = {}) {
  hookExit();
  const argv = cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];
  const child = spawn(argv[0], argv[1], { env: env ?? process.env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const log = [];
  const keep = (b) => {
    log.push(b.toString());
    if (log.length > 200) log.splice(0, log.length - 200);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('exit', () => live.delete(child));
  child.on('error', (e) => keep(Buffer.from(`spawn ${cmd}: ${e.message}\n`)));
  return { name, child, pid: child.pid, log: () => log.join('') };
}

/** Kills a started process and waits for it to go. */
export async function stop(proc) {
  const c = proc.child;
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((resolve) => c.once('exit', resolve));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 2000);
  await gone;
  clearTimeout(t);
}

/** `n` distinct free loopback ports (held open together while choosing, so they differ). */
export async function freePorts(n) {
  const servers = [];
  const ports = [];
  for (let i = 0; i < n; i++) {
    const s = net.createServer();
    await new Promise((resolve, reject) => {
      s.once('error', reject);
      s.listen(0, '127.0.0.1', resolve);
    });
    servers.push(s);
    ports.push(s.address().port);
  }
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** Resolves once host:port (default 127.0.0.1) accepts; rejects when the process exits first or after timeoutMs. */
export async function waitForPort(port, proc, timeoutMs = 15000, host = '127.0.0.1') {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
      throw new Error(`${proc.name} exited (${proc.child.exitCode ?? proc.child.signalCode}) before listening on ${port}: ${lastLines(proc.log())}`);
    }
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, host);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${proc?.name ?? 'process'} not listening on ${port} after ${timeoutMs} ms: ${lastLines(proc?.log() ?? '')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function lastLines(text, n = 3) {
  return text.trim().split('\n').slice(-n).join(' | ').slice(0, 400);
}

let ticks;
/** Clock ticks per second for /proc/<pid>/stat times. */
export function clockTicks() {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** User + system CPU seconds the process has used (/proc/<pid>/stat utime + stime); NaN once it is gone. */
export function cpuSeconds(pid) {
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return NaN; // the process is gone
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return (Number(fields[11]) + Number(fields[12])) / clockTicks();
}

/** Busy CPU seconds of the whole machine so far (/proc/stat: all but idle and iowait). */
export function machineBusySeconds() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return (user + nice + system + irq + softirq + (steal || 0)) / clockTicks();
}

/** Resident set size in bytes (/proc/<pid>/status VmRSS). */
export function rssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples the peak RSS of pids every intervalMs until stop() is called. */
export function rssPeakSampler(pids, intervalMs = 200) {
  const peak = new Map(pids.map((p) => [p, 0]));
  const sample = () => {
    for (const p of pids) peak.set(p, Math.max(peak.get(p), rssBytes(p) ?? 0));
  };
  sample();
  const t = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(t);
      sample();
      return pids.map((p) => peak.get(p));
    },
  };
}
