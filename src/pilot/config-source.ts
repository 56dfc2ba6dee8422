/**
 * The pilot's config from a folder of YAML (Istio config plus Kubernetes Services, EndpointSlices,
 * Deployments ...): read with parsePaths, each resource validated as `spar validate` does — invalid
 * ones reported and skipped, the rest served — and watched with fs.watch; a change re-reads the
 * folder after a quiet period and reports what changed (Istio: the file config store).
 */
import { readdirSync, watch, type Dirent, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { Diagnostic } from '../api/diagnostics.js';
import { validateResource } from '../api/validate.js';
import { parsePaths } from '../config/parse.js';
import type { ConfigResource } from '../config/resource.js';

/** A resource refused by validation, with why. */
export interface RejectedConfig {
  kind: string;
  namespace: string;
  name: string;
  file?: string;
  errors: string[];
}

export interface ConfigSnapshot {
  resources: ConfigResource[];
  rejected: RejectedConfig[];
  /** Problems reading files (YAML errors, unreadable files). */
  fileErrors: Diagnostic[];
}

export const configKey = (r: { kind: string; namespace: string; name: string }): string => `${r.kind}/${r.namespace}/${r.name}`;

/**
 * Validation verdicts by resource content: a re-read after one file changed re-validates only
 * what changed (schema and webhook checks dominate the cost of a re-read).
 */
type Verdicts = Map<string, Diagnostic[]>;

/** Reads and validates every YAML file under `dir`; `verdicts` carries validation over from the last read. */
export function readConfigDir(dir: string, verdicts?: Verdicts): ConfigSnapshot {
  const parsed = parsePaths([dir]);
  const resources: ConfigResource[] = [];
  const rejected: RejectedConfig[] = [];
  const seen: Verdicts = new Map();
  for (const r of parsed.resources) {
    const key = JSON.stringify(r.raw);
    let diags = verdicts?.get(key) ?? seen.get(key);
    if (!diags) diags = validateResource(r);
    seen.set(key, diags);
    const errors = diags.filter((d) => d.level === 'Error');
    if (errors.length === 0) resources.push(r);
    else rejected.push({ kind: r.kind, namespace: r.namespace, name: r.name, file: r.source?.file, errors: errors.map((d) => (d.path ? `${d.path}: ${d.message}` : d.message)) });
  }
  if (verdicts) {
    verdicts.clear();
    for (const [k, v] of seen) verdicts.set(k, v);
  }
  return { resources, rejected, fileErrors: parsed.diagnostics };
}

export interface ConfigChange {
  /** Kinds with an added, changed or removed resource. */
  kinds: Set<string>;
  /** `Kind/namespace/name` of each change, for logs. */
  keys: string[];
}

/** What differs between two resource lists (by kind/namespace/name, then content). */
export function diffConfig(before: readonly ConfigResource[], after: readonly ConfigResource[]): ConfigChange {
  const old = new Map(before.map((r) => [configKey(r), JSON.stringify(r.raw)]));
  const out: ConfigChange = { kinds: new Set(), keys: [] };
  const seen = new Set<string>();
  for (const r of after) {
    const k = configKey(r);
    seen.add(k);
    if (old.get(k) !== JSON.stringify(r.raw)) {
      out.kinds.add(r.kind);
      out.keys.push(k);
    }
  }
  for (const r of before) {
    const k = configKey(r);
    if (!seen.has(k)) {
      out.kinds.add(r.kind);
      out.keys.push(k);
    }
  }
  return out;
}

/**
 * Watches `dir` and its subfolders and calls `onChange` after `quietMs` without further file
 * events. Editors write files in several steps (truncate, write, rename); the quiet period folds
 * them. Each folder gets its own plain (inotify) watcher: Node 20's `recursive` mode on Linux is
 * emulated and was seen to miss a file deleted and re-created in quick succession.
 */
export class DirectoryWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly dir: string, private readonly quietMs: number, private readonly onChange: () => void) {}

  start(): void {
    this.sync();
  }

  /** Watches every folder under `dir` not yet watched; forgets those that are gone. */
  private sync(): void {
    const seen = new Set<string>();
    const walk = (d: string) => {
      seen.add(d);
      if (!this.watchers.has(d)) {
        try {
          const w = watch(d, { persistent: false }, () => this.poke());
          w.on('error', () => this.poke());
          this.watchers.set(d, w);
        } catch {
          return; // vanished meanwhile
        }
      }
      let entries: Dirent[];
      try {
        entries = readdirSync(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) if (e.isDirectory()) walk(join(d, e.name));
    };
    walk(this.dir);
    for (const [d, w] of this.watchers) {
      if (!seen.has(d)) {
        w.close();
        this.watchers.delete(d);
      }
    }
  }

  private poke(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sync();
      this.onChange();
    }, this.quietMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}
