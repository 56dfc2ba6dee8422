/**
 * Keeps the benchmark scripts working: runs `node bench/run.mjs --smoke` (a few seconds of load, one
 * run per topology, every proxy configured by `spar pilot` over ADS) and checks the results files are complete and honest. Timings are never asserted;
 * the real benchmark (`npm run bench`) never runs in CI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/common/paths.js';

interface SummaryRow {
  protocol: string;
  topology: string;
  status: string;
  reason?: string;
  latencyMs?: Record<string, { median: number } | undefined>;
  cpuPer1k?: unknown[];
}

const onPath = (cmd: string) => (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, cmd)));
const haveFortio = Boolean(process.env.FORTIO) || onPath('fortio') || existsSync(join(homedir(), 'go', 'bin', 'fortio'));

test('bench/run.mjs --smoke writes complete results and never invents numbers', { skip: haveFortio ? undefined : 'fortio not installed (.ci/run installs it)', timeout: 240_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'spar-bench-smoke-'));
  try {
    const env = { ...process.env };
    delete env.SPAR_TSX;
    const r = spawnSync(process.execPath, [join(repoRoot, 'bench', 'run.mjs'), '--smoke', '--out', out], { cwd: repoRoot, env, encoding: 'utf8', timeout: 200_000 });
    assert.equal(r.status, 0, `bench failed:\n${r.stderr.slice(-3000)}`);
    const files = readdirSync(out);
    for (const ext of ['json', 'md', 'svg']) assert.ok(files.some((f) => f.startsWith('dataplane-smoke-') && f.endsWith(`.${ext}`)), `no dataplane .${ext} in ${files.join(', ')}`);
    assert.ok(files.some((f) => f.startsWith('cli-startup-smoke-') && f.endsWith('.json')));

    const result = JSON.parse(readFileSync(join(out, files.find((f) => f.startsWith('dataplane-smoke-') && f.endsWith('.json'))!), 'utf8')) as { summary: SummaryRow[]; settings: { configFrom: string }; istioConfig?: string };
    const rows = result.summary;
    // The proxies are configured by `spar pilot` from Istio YAML (Sidecar captureMode NONE), as in the full run.
    assert.equal(result.settings.configFrom, 'pilot');
    assert.match(result.istioConfig ?? '', /kind: Sidecar[\s\S]*captureMode: NONE/);
    for (const protocol of ['http1', 'tcp']) {
      const direct = rows.find((x) => x.protocol === protocol && x.topology === 'direct');
      assert.equal(direct?.status, 'measured', `direct ${protocol} not measured`);
      assert.ok((direct?.latencyMs?.p50?.median ?? 0) > 0);
      if (onPath('envoy') || process.env.ENVOY) {
        const envoy = rows.find((x) => x.protocol === protocol && x.topology === 'envoy-2');
        assert.equal(envoy?.status, 'measured', `envoy-2 ${protocol}: ${envoy?.reason}`);
        assert.equal(envoy?.cpuPer1k?.length, 2, 'one CPU figure per proxy process');
      }
    }
    // spar rows are either measured or say plainly that they are not available yet, with a reason.
    for (const row of rows.filter((x) => x.topology.startsWith('spar'))) {
      if (row.status !== 'measured') {
        assert.ok(['not available yet', 'failed'].includes(row.status), row.status);
        assert.ok(row.reason && row.reason.length > 0);
        assert.equal(row.latencyMs, undefined);
      }
    }
    const md = readFileSync(join(out, files.find((f) => f.startsWith('dataplane-smoke-') && f.endsWith('.md'))!), 'utf8');
    assert.match(md, /\| direct \(client → server\) \|/);
    const svg = readFileSync(join(out, files.find((f) => f.startsWith('dataplane-smoke-') && f.endsWith('.svg'))!), 'utf8');
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
