#!/usr/bin/env node
// Runs every test file (test/**/*.test.ts, src/**/*.test.ts) with node's own test runner, from the
// TypeScript sources through tsx: tests find their fixtures beside them, and the CLI they spawn runs
// from the same sources (test/helpers/cli.ts). `npm test` type-checks and builds first.
// Node 20's runner does not expand globs, so the files are listed here.
// Usage: node scripts/run-tests.mjs [substring...]  (only files whose path contains a substring)
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir, out) {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const filters = process.argv.slice(2);
const files = [...walk('test', []), ...walk('src', [])].filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
if (files.length === 0) {
  console.error('run-tests: no test files found under test/ or src/');
  process.exit(1);
}
const started = Date.now();
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-force-exit', '--test-concurrency=2', '--test-timeout=600000', ...files], { stdio: 'inherit' });
console.error(`run-tests: ${files.length} files in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(r.status ?? 1);
