/**
 * The webhook rules never throw, whatever shape a spec has: every resource of the corpus, mutated
 * one field at a time (each value replaced by null, a number, a string, a list, a map), goes through
 * `semanticValidate` directly — without the schema in front, as `spar` may see it when the schema
 * is skipped or incomplete — and must come back as diagnostics, never as an internal error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parsePaths } from '../../src/config/parse.js';
import type { ConfigResource } from '../../src/config/resource.js';
import { semanticValidate } from '../../src/api/validation/index.js';
import { repoRoot } from '../../src/common/paths.js';

const REPLACEMENTS: unknown[] = [null, 0, -1, 'x', '', [], {}, [null], { a: null }, true];

/** Paths of every node under `spec` (objects and arrays included). */
function paths(v: unknown, base: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [base];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...base, i])));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...base, k]));
  return out;
}

function replaced(spec: unknown, path: (string | number)[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(spec) as Record<string, unknown>;
  if (path.length === 0) return (typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}) as Record<string, unknown>;
  let cur = copy as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) cur = cur[p] as Record<string | number, unknown>;
  cur[path[path.length - 1]] = value;
  return copy;
}

test('semanticValidate returns diagnostics, never an internal error, for mutated specs', () => {
  const { resources } = parsePaths([join(repoRoot, 'test', 'corpus')]);
  assert.ok(resources.length > 100);
  const internal: string[] = [];
  let runs = 0;
  for (const r of resources) {
    for (const path of paths(r.spec)) {
      for (const value of REPLACEMENTS) {
        const mutated: ConfigResource = { ...r, spec: replaced(r.spec, path, value) };
        runs++;
        for (const d of semanticValidate(mutated)) {
          if (d.message.startsWith('internal error')) internal.push(`${r.kind} ${r.name} ${JSON.stringify(path)}=${JSON.stringify(value)}: ${d.message}`);
        }
      }
    }
  }
  assert.ok(runs > 10_000, `${runs} mutations`);
  assert.deepEqual(internal.slice(0, 20), []);
});
