/**
 * What the `spar up|down|apply|delete|get|logs|exec` commands share: the root check, the state
 * directory, finding a pod by name, reading YAML into plain objects, and talking to the runtime.
 */
import { UserError } from '../common/errors.js';
import { parsePaths } from '../config/parse.js';
import { callApi } from './api.js';
import type { PodStatus } from './runtime.js';
import { readState, socketPath, stateDirFrom, type PodRecord, type ServiceRecord } from './state.js';

export const NEEDS_ROOT = (cmd: string): string =>
  `spar ${cmd} needs root, because it creates network namespaces, a bridge and iptables rules; run it as root, e.g. \`sudo spar ${cmd}\` (or \`sudo -E npx spar ${cmd}\` from the checkout).`;

/** Throws the one-sentence explanation when not root. */
export function requireRoot(cmd: string, uid: number | undefined = process.getuid?.()): void {
  if (uid !== undefined && uid !== 0) throw new UserError(NEEDS_ROOT(cmd), 77);
}

export interface StatusReply {
  pods: PodStatus[];
  services: ServiceRecord[];
  /** Every applied object (and the built-in ingress gateway's). */
  resources: Array<{ kind: string; namespace: string; name: string }>;
  ingress?: { host: string; port: number };
  proxy: string;
  startedAt: number;
  pilotDebugPort: number;
  /** starting, ready, or failed: why. */
  pilot: string;
}

/** The runtime's status, or undefined when none answers on the state dir's socket. */
export async function runtimeStatus(stateDir: string): Promise<StatusReply | undefined> {
  try {
    return await callApi<StatusReply>(socketPath(stateDir), 'GET', '/status', undefined, 5000);
  } catch {
    return undefined;
  }
}

/** Objects from files/folders (`-` for stdin); YAML errors are fatal, as with kubectl. */
export function readDocs(files: readonly string[]): Array<Record<string, unknown>> {
  const parsed = parsePaths(files, { defaultNamespace: 'default' });
  if (parsed.diagnostics.length > 0) {
    throw new UserError(parsed.diagnostics.map((d) => `${d.pos ? `${d.pos.file}:${d.pos.line}: ` : ''}${d.message}`).join('\n'), 1);
  }
  return parsed.resources.map((r) => {
    const raw = { ...(r.raw as Record<string, unknown>) };
    const md = { ...((raw.metadata ?? {}) as Record<string, unknown>) };
    if (!md.namespace && r.kind !== 'Namespace') md.namespace = r.namespace || 'default';
    raw.metadata = md;
    return raw;
  });
}

/** A pod by exact name, else by prefix (a Deployment name finds its first pod), in `namespace` unless `-A`. */
export function findPod(stateDir: string, name: string, namespace?: string): PodRecord {
  const s = readState(stateDir);
  if (!s) throw new UserError(`no pods: nothing is running (state ${stateDirFrom(stateDir)}); start with \`spar up\``, 1);
  const pods = Object.values(s.pods).filter((p) => namespace === undefined || p.namespace === namespace);
  const found = pods.find((p) => p.name === name) ?? pods.filter((p) => p.name.startsWith(`${name}-`)).sort((a, b) => a.name.localeCompare(b.name))[0];
  if (!found) {
    const names = pods.map((p) => `${p.namespace}/${p.name}`).join(', ') || 'none';
    throw new UserError(`pod "${name}" not found${namespace ? ` in namespace ${namespace}` : ''} (pods: ${names})`, 1);
  }
  return found;
}

/** `5s`, `3m`, `2h` since `t`. */
export function age(t: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h`;
}

/** Left-aligned columns, kubectl style (three spaces between). */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return `${rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('')).join('\n')}\n`;
}
