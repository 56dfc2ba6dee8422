/**
 * Keeps bench/profile/gc.mjs working: a one-second run of each variant (spar proxy as shipped, and
 * with V8's allocation-site pretenuring forced back on). Figures are never asserted; only that both
 * variants were measured from the proxy's own --trace-gc-nvp output and the results files are written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/common/paths.js';

// The bench's own lookup (PATH, $FORTIO, ~/go/bin), not a copy of it.
const { fortioPath } = await import(join(repoRoot, 'bench', 'dataplane', 'procs.mjs')) as { fortioPath(): string | undefined };
const haveFortio = Boolean(fortioPath());

test('bench/profile/gc.mjs measures both variants from the proxy\'s GC trace', { skip: haveFortio ? undefined : 'fortio not installed (.ci/run installs it)', timeout: 90_000 }, async () => {
  const { scavenges } = await import(join(repoRoot, 'bench', 'profile', 'gc.mjs')) as { scavenges(t: string): { pauseMs: number; promoted: number }[] };
  // The parser reads V8's --trace-gc-nvp scavenge lines and nothing else.
  assert.deepEqual(scavenges('[1:0x1]  12 ms: pause=2.1 mutator=0.1 gc=s reduce_memory=0 promoted=4096 semi_space_copied=1\n[1:0x1] 20 ms: pause=9.0 gc=mc promoted=1\nnoise'), [{ pauseMs: 2.1, promoted: 4096 }]);
  const out = mkdtempSync(join(tmpdir(), 'spar-gc-smoke-'));
  try {
    const r = spawnSync(process.execPath, [join(repoRoot, 'bench', 'profile', 'gc.mjs'), '--rate', '200', '--conns', '2', '--seconds', '1', '--repeats', '1', '--out', out], { cwd: repoRoot, encoding: 'utf8', timeout: 80_000 });
    assert.equal(r.status, 0, `gc bench failed:\n${r.stderr.slice(-3000)}`);
    const json = readdirSync(out).find((f) => f.startsWith('gc-') && f.endsWith('.json'));
    assert.ok(json && readdirSync(out).some((f) => f.startsWith('gc-') && f.endsWith('.md')));
    const res = JSON.parse(readFileSync(join(out, json), 'utf8')) as { summary: { variant: string; rps: number; cpuSecondsPer1kRequests: number }[] };
    assert.deepEqual(res.summary.map((s) => s.variant), ['shipped', 'pretenuring']);
    for (const s of res.summary) assert.ok(s.rps > 0 && s.cpuSecondsPer1kRequests > 0, JSON.stringify(s));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
