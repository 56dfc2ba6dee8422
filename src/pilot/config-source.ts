/**
 * The pilot's config from a folder of YAML (Istio config plus Kubernetes Services, EndpointSlices,
 * Deployments ...): read with parsePaths, each resource validated as `spar validate` does — invalid
 * ones reported and skipped, the rest served — and watched with fs.watch; a change re-reads the
 * folder after a quiet period and reports what changed (Istio: the file config store).
 */
import { readdirSync, readFileSync, statSync, watch, type Dirent, type FSWatcher } from 'node:fs';
import { extname, join } from 'node:path';
import type { Diagnostic } from '../api/diagnostics.js';
import { validateResource } from '../api/validate.js';
import { MAX_FILE_BYTES, parsePaths, parseText, type ParseResult } from '../config/parse.js';
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
 * What one read leaves for the next, so that a re-read after one file changed costs about that
 * file (Istio's informers likewise hand over only the objects that changed):
 * - `files`: each YAML file's parse, by path, kept while its size, mtime, ctime and inode stay
 *   the same; an unchanged file gives back the very same resource objects.
 * - `verdicts`: validation results by resource object and by content (schema and webhook checks
 *   dominate the cost of validating).
 */
export class ConfigReadCache {
  readonly files = new Map<string, { stamp: string; parsed: ParseResult }>();
  readonly verdicts = new Map<string, Diagnostic[]>();
  readonly byObject = new WeakMap<ConfigResource, Diagnostic[]>();
}

type Verdicts = Map<string, Diagnostic[]>;

/** Reads and validates every YAML file under `dir`; `cache` carries parses and verdicts over from the last read. */
export function readConfigDir(dir: string, cache?: ConfigReadCache | Verdicts): ConfigSnapshot {
  const rc = cache instanceof ConfigReadCache ? cache : undefined;
  const verdicts = rc ? rc.verdicts : (cache as Verdicts | undefined);
  const parsed = rc ? parseDirCached(dir, rc) : parsePaths([dir]);
  const resources: ConfigResource[] = [];
  const rejected: RejectedConfig[] = [];
  const seen: Verdicts = new Map();
  for (const r of parsed.resources) {
    let diags = rc?.byObject.get(r);
    if (!diags) {
      const key = JSON.stringify(r.raw);
      diags = verdicts?.get(key) ?? seen.get(key) ?? validateResource(r);
      seen.set(key, diags);
      rc?.byObject.set(r, diags);
    }
    const errors = diags.filter((d) => d.level === 'Error');
    if (errors.length === 0) resources.push(r);
    else rejected.push({ kind: r.kind, namespace: r.namespace, name: r.name, file: r.source?.file, errors: errors.map((d) => (d.path ? `${d.path}: ${d.message}` : d.message)) });
  }
  if (verdicts && !rc) {
    verdicts.clear();
    for (const [k, v] of seen) verdicts.set(k, v);
  } else if (verdicts) {
    // Objects of unchanged files keep their verdicts through `byObject`; content verdicts only grow
    // with what was validated, and are dropped when they outnumber the resources read.
    for (const [k, v] of seen) verdicts.set(k, v);
    if (verdicts.size > 2 * parsed.resources.length + 1000) verdicts.clear();
  }
  return { resources, rejected, fileErrors: parsed.diagnostics };
}

/**
 * parsePaths([dir]) with unchanged files' parses reused. A folder holding .json files is read
 * whole by parsePaths, which treats a .json file met in a folder leniently (data, not config).
 */
function parseDirCached(dir: string, rc: ConfigReadCache): ParseResult {
  const files: string[] = [];
  let json = false;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = join(d, e.name);
      const ext = extname(e.name).toLowerCase();
      if (e.isDirectory()) walk(full);
      else if (e.isFile() && (ext === '.yaml' || ext === '.yml')) files.push(full);
      else if (e.isFile() && ext === '.json') json = true;
    }
  };
  try {
    walk(dir);
  } catch {
    json = true; // let parsePaths report what is wrong with the folder
  }
  if (json) {
    rc.files.clear();
    return parsePaths([dir]);
  }
  const out: ParseResult = { resources: [], diagnostics: [], files: [] };
  const keep = new Set<string>();
  for (const f of files) {
    let stamp: string;
    try {
      const st = statSync(f);
      stamp = `${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}`;
      if (st.size > MAX_FILE_BYTES) throw new Error('large');
    } catch {
      const one = parsePaths([f]); // unreadable or too large: parsePaths says why
      out.files.push(...one.files);
      out.diagnostics.push(...one.diagnostics);
      continue;
    }
    keep.add(f);
    let hit = rc.files.get(f);
    if (!hit || hit.stamp !== stamp) {
      let parsed: ParseResult;
      try {
        parsed = parseText(f, readFileSync(f));
      } catch {
        parsed = parsePaths([f]);
      }
      hit = { stamp, parsed };
      rc.files.set(f, hit);
    }
    out.files.push(...hit.parsed.files);
    out.resources.push(...hit.parsed.resources);
    out.diagnostics.push(...hit.parsed.diagnostics);
  }
  for (const f of rc.files.keys()) if (!keep.has(f)) rc.files.delete(f);
  return out;
}

export interface ConfigChange {
  /** Kinds with an added, changed or removed resource. */
  kinds: Set<string>;
  /** `Kind/namespace/name` of each change, for logs. */
  keys: string[];
}

/** What differs between two resource lists (by kind/namespace/name, then content). */
export function diffConfig(before: readonly ConfigResource[], after: readonly ConfigResource[]): ConfigChange {
  const old = new Map(before.map((r) => [configKey(r), r]));
  const out: ConfigChange = { kinds: new Set(), keys: [] };
  const seen = new Set<string>();
  for (const r of after) {
    const k = configKey(r);
    seen.add(k);
    const prev = old.get(k);
    // The same object (an unchanged file's parse, reused) is unchanged; else compare content.
    if (prev !== r && (!prev || JSON.stringify(prev.raw) !== JSON.stringify(r.raw))) {
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
