/**
 * A disk cache for the two costly steps of meeting a kind for the first time: parsing its schema
 * out of the CRD bundle's YAML (~20–150 ms a version) and compiling it with Ajv (~10–100 ms).
 * The parsed schema is kept as JSON and Ajv's validator as the standalone code Ajv generates for
 * it, so a later process loads both in a few milliseconds.
 *
 * Entries are named by a hash of exactly what produced them (the version's YAML text; the schema
 * Ajv compiled plus Ajv's version and options), so a changed bundle or a changed transformation
 * simply misses. The cache lives beside the installed packages (`node_modules/.cache/spar-schema`,
 * as other tools keep theirs; the code in it is generated from Spar's own inputs and is trusted as
 * much as node_modules is), or in $SPAR_CACHE_DIR; SPAR_NO_CACHE=1 turns it off. Every failure to
 * read or write is ignored: the cache only ever saves time.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../common/paths.js';

const dir = process.env.SPAR_CACHE_DIR || join(repoRoot, 'node_modules', '.cache', 'spar-schema');
const enabled = process.env.SPAR_NO_CACHE !== '1';

/** A short content hash naming a cache entry. */
export function cacheKey(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 32);
}

/** The cached text for `name`, or undefined. */
export function readCache(name: string): string | undefined {
  if (!enabled) return undefined;
  try {
    return readFileSync(join(dir, name), 'utf8');
  } catch {
    return undefined;
  }
}

/** Stores `text` under `name` (atomically: concurrent processes never see half a file). */
export function writeCache(name: string, text: string): void {
  if (!enabled) return;
  try {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, name);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch {
    // read-only install, full disk ...: run without the cache
  }
}
