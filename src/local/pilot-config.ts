/**
 * The pilot's view of the local cluster, as files in its watched config folder (`spar pilot
 * --config <state>/config --no-synthetic-addresses`): every applied resource as it came (Services
 * with the VIP the runtime gave them as `spec.clusterIP`), and every running pod as a Pod object
 * with `status.podIP` and its Ready condition — what an API server would hold. The pilot's kube
 * registry turns those into endpoints. Files are rewritten only when their content changes, so an
 * unchanged pod causes no push.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class PilotConfigDir {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  private fileOf(key: string): string {
    return join(this.dir, `${key.replace(/[^A-Za-z0-9_.-]+/g, '_')}.yaml`);
  }

  /** Writes one object (JSON is YAML) under `key` unless it is already there as is. */
  put(key: string, obj: unknown): boolean {
    const file = this.fileOf(key);
    const text = `${JSON.stringify(obj, null, 1)}\n`;
    if (existsSync(file) && readFileSync(file, 'utf8') === text) return false;
    // Write then rename: the pilot's watcher never reads half a file (it reads *.yaml only).
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
    return true;
  }

  remove(key: string): boolean {
    const file = this.fileOf(key);
    if (!existsSync(file)) return false;
    rmSync(file);
    return true;
  }

  /** Removes every file whose key is not in `keep`. */
  prune(keep: ReadonlySet<string>): number {
    const wanted = new Set([...keep].map((k) => this.fileOf(k)));
    let n = 0;
    for (const f of readdirSync(this.dir)) {
      const full = join(this.dir, f);
      if (!wanted.has(full)) {
        rmSync(full, { force: true });
        n++;
      }
    }
    return n;
  }
}
