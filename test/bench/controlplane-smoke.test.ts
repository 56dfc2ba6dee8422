/**
 * Keeps the control-plane scale bench working: runs bench/controlplane/scale.ts --smoke (N=20
 * services, P=5 simulated proxies against a child `spar pilot`, each change once) and checks the
 * results files are complete: every change reached every proxy and every figure is a number.
 * Timings are never asserted; the real benchmark (`npm run bench`) never runs in CI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/common/paths.js';

interface Change {
  kind: string;
  p50: number;
  p99: number;
  pushes: number;
  bytes: number;
  pilotCpuMs: number;
  timedOut: number;
  runs: { proxies: number }[];
}

test('bench/controlplane/scale.ts --smoke measures every change on every proxy', { timeout: 90_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'spar-bench-cp-smoke-'));
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'controlplane', 'scale.ts'), '--smoke', '--out', out], { cwd: repoRoot, encoding: 'utf8', timeout: 80_000 });
    assert.equal(r.status, 0, `bench failed:\n${r.stderr.slice(-3000)}`);
    const files = readdirSync(out);
    const json = files.find((f) => f.startsWith('controlplane-smoke-') && f.endsWith('.json'));
    assert.ok(json, `no results JSON in ${files.join(', ')}`);
    assert.ok(files.some((f) => f.startsWith('controlplane-smoke-') && f.endsWith('.md')));
    const res = JSON.parse(readFileSync(join(out, json), 'utf8')) as { cells: { services: number; proxies: number; error?: string; changes: Change[]; pilot: Record<string, number>; gen: { perProxyColdMs: number } }[] };
    assert.equal(res.cells.length, 1);
    const cell = res.cells[0];
    assert.equal(cell.error, undefined);
    assert.deepEqual([cell.services, cell.proxies], [20, 5]);
    assert.deepEqual(cell.changes.map((c) => c.kind), ['vs-edit', 'endpoint-churn', 'new-service']);
    for (const c of cell.changes) {
      assert.equal(c.timedOut, 0, `${c.kind} timed out`);
      for (const run of c.runs) assert.equal(run.proxies, 5, `${c.kind}: not every proxy got the change`);
      for (const k of ['p50', 'p99', 'pushes', 'bytes', 'pilotCpuMs'] as const) assert.ok(Number.isFinite(c[k]) && c[k] >= 0, `${c.kind}.${k} = ${c[k]}`);
      assert.ok(c.pushes >= 5, `${c.kind}: ${c.pushes} pushes for 5 proxies`);
    }
    // An endpoint change is pushed as EDS alone; a new service as a full push.
    assert.ok(cell.changes[1].pushes < cell.changes[2].pushes);
    for (const k of ['rssIdleMb', 'heapIdleMb', 'rssPeakMb', 'initialConvergeMs', 'initialBytes']) assert.ok(Number.isFinite(cell.pilot[k]) && cell.pilot[k] > 0, `pilot.${k} = ${cell.pilot[k]}`);
    assert.ok(cell.gen.perProxyColdMs > 0);
    assert.match(readFileSync(join(out, json.replace(/\.json$/, '.md')), 'utf8'), /\| 20 \| 2 \| 5 \| vs-edit \|/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
