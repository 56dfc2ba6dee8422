/**
 * The state directory of `spar up` (default /run/spar; `--state-dir` or $SPAR_STATE_DIR):
 *
 *   state.json        what exists: bridge, every netns / veth / process created (written *before*
 *                     each is made, so a crash never leaves anything `spar down` does not know of)
 *   spar.sock         the runtime's API (HTTP on a Unix socket): apply, delete, get, shutdown
 *   runtime.log       the runtime's own log
 *   config/           the pilot's config folder (applied YAML, Services with their VIPs, Pods with their IPs)
 *   mesh.yaml, xds.sock, pilot.log
 *   pods/<ns>_<pod>/  pod.json for the agent, <container>.log, istio-proxy.log, proxy/ (bootstrap)
 *   bin/              a copy of envoy UID 1337 can run (--proxy envoy, when the one on PATH is closed to it)
 *
 * `cleanupState` removes everything state.json names, whether the runtime is alive or not.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { deleteBridge, deletePodNetwork, killNetnsProcesses, linkExists, netnsList, removeEtcNetns, shQuiet } from './network.js';

export const DEFAULT_STATE_DIR = '/run/spar';

export function stateDirFrom(opt?: string): string {
  return opt ?? process.env.SPAR_STATE_DIR ?? DEFAULT_STATE_DIR;
}

export interface PodRecord {
  name: string;
  namespace: string;
  deployment: string;
  ip: string;
  netns: string;
  veth: string;
  sidecar: boolean;
  gateway: boolean;
  labels: Record<string, string>;
  containers: string[];
  templateHash: string;
  /** Process group leaders started for this pod (agent, apps). */
  pids: number[];
  phase: 'Pending' | 'Running' | 'Failed' | 'Terminating';
  ready: boolean;
  restarts: number;
  createdAt: number;
  readyAt?: number;
  message?: string;
}

export interface ServiceRecord {
  name: string;
  namespace: string;
  vip: string;
  ports: Array<{ name?: string; port: number; targetPort?: number | string; protocol: string }>;
  selector?: Record<string, string>;
}

export interface RuntimeState {
  version: 1;
  instance: string;
  daemonPid?: number;
  pilotPid?: number;
  bridge?: string;
  /** A FORWARD accept rule for the bridge, when the host's FORWARD policy drops. */
  forwardRule?: boolean;
  proxy: 'spar' | 'envoy';
  ingress?: { host: string; port: number };
  startedAt: number;
  pods: Record<string, PodRecord>;
  services: Record<string, ServiceRecord>;
  /** Netns and links ever created and not yet removed (a superset of the pods'). */
  netns: Record<string, string>;
}

export const statePath = (dir: string): string => join(dir, 'state.json');
export const socketPath = (dir: string): string => join(dir, 'spar.sock');
export const podDir = (dir: string, ns: string, pod: string): string => join(dir, 'pods', `${ns}_${pod}`);

export function readState(dir: string): RuntimeState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(dir), 'utf8')) as RuntimeState;
  } catch {
    return undefined;
  }
}

export function writeState(dir: string, s: RuntimeState): void {
  mkdirSync(dir, { recursive: true });
  const tmp = `${statePath(dir)}.tmp`;
  writeFileSync(tmp, JSON.stringify(s, null, 1));
  renameSync(tmp, statePath(dir));
}

export function processAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Sends `signal` to a process group (falling back to the process). */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
}

export interface CleanupReport {
  processes: number;
  netns: string[];
  links: string[];
  etcNetns: string[];
  rules: number;
}

/**
 * Removes everything the state names: processes (SIGTERM, then SIGKILL), pod namespaces with their
 * veths and /etc/netns entries, the bridge, the FORWARD rule, and the runtime files. Safe to run twice.
 */
export async function cleanupState(dir: string): Promise<CleanupReport> {
  const report: CleanupReport = { processes: 0, netns: [], links: [], etcNetns: [], rules: 0 };
  const s = readState(dir);
  if (!s) return report;
  const pids = [s.daemonPid, s.pilotPid, ...Object.values(s.pods).flatMap((p) => p.pids)].filter((p): p is number => !!p && p !== process.pid);
  const alive = pids.filter(processAlive);
  for (const pid of alive) killGroup(pid, 'SIGTERM');
  const deadline = Date.now() + 3000;
  while (alive.some(processAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of alive.filter(processAlive)) killGroup(pid, 'SIGKILL');
  report.processes = alive.length;
  const existing = new Set(netnsList());
  for (const [netns, veth] of Object.entries(s.netns)) {
    if (existing.has(netns)) report.netns.push(netns);
    report.processes += killNetnsProcesses(netns);
    if (linkExists(veth)) report.links.push(veth);
    if (existsSync(join('/etc/netns', netns))) report.etcNetns.push(netns);
    deletePodNetwork({ netns, veth });
    removeEtcNetns(netns);
  }
  if (s.bridge && linkExists(s.bridge)) {
    report.links.push(s.bridge);
    deleteBridge(s.bridge);
  }
  if (s.forwardRule && s.bridge) {
    if (shQuiet('iptables', ['-D', 'FORWARD', '-i', s.bridge, '-o', s.bridge, '-m', 'comment', '--comment', 'spar', '-j', 'ACCEPT'])) report.rules++;
  }
  for (const f of ['state.json', 'spar.sock', 'xds.sock', 'mesh.yaml']) rmSync(join(dir, f), { force: true });
  for (const d of ['config', 'pods', 'bin']) rmSync(join(dir, d), { recursive: true, force: true });
  // Keep runtime.log and pilot.log for a post-mortem; nothing else.
  if (existsSync(dir) && readdirSync(dir).length === 0) rmSync(dir, { recursive: true, force: true });
  return report;
}
