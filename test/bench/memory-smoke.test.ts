/**
 * Keeps the proxy memory step working: `node bench/dataplane/memory.mjs --smoke --sizes 20` (spar pilot
 * with a 20-service mesh, Envoy then spar proxy connected one at a time) and checks the results are
 * complete and honest. RSS is never asserted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/common/paths.js';

interface ProxyResult {
  ok: boolean;
  error?: string;
  rssMB?: number;
  adminClusters?: number;
  edsClusters?: number;
}

const onPath = (cmd: string) => (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, cmd)));
const haveEnvoy = Boolean(process.env.ENVOY) || onPath('envoy');

test('bench/dataplane/memory.mjs --smoke measures idle RSS once the pilot has every type ACKed', { timeout: 180_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'spar-bench-mem-'));
  try {
    const env = { ...process.env };
    delete env.SPAR_TSX;
    const r = spawnSync(process.execPath, [join(repoRoot, 'bench', 'dataplane', 'memory.mjs'), '--smoke', '--sizes', '20', '--out', out], { cwd: repoRoot, env, encoding: 'utf8', timeout: 150_000 });
    assert.equal(r.status, 0, `memory bench failed:\n${r.stderr.slice(-3000)}`);
    const files = readdirSync(out);
    const json = files.find((f) => f.startsWith('memory-smoke-') && f.endsWith('.json'));
    assert.ok(json && files.some((f) => f.startsWith('memory-smoke-') && f.endsWith('.md')), files.join(', '));
    const result = JSON.parse(readFileSync(join(out, json), 'utf8')) as { sizes: Array<{ services: number; error?: string; proxies: Record<string, ProxyResult> }> };
    assert.equal(result.sizes.length, 1);
    const row = result.sizes[0];
    assert.equal(row.services, 20);
    assert.equal(row.error, undefined, row.error);
    const envoy = row.proxies.envoy;
    if (haveEnvoy) {
      assert.equal(envoy?.ok, true, envoy?.error);
      assert.ok((envoy.rssMB ?? 0) > 0);
      // 20 services × (1 + 2 subsets on every 2nd) + gRPC ports: every EDS cluster is in the proxy.
      assert.ok((envoy.adminClusters ?? 0) >= (envoy.edsClusters ?? Infinity), `envoy holds ${envoy.adminClusters} of ${envoy.edsClusters} EDS clusters`);
    }
    const spar = row.proxies.spar;
    assert.ok(spar, 'spar proxy measured or failed with a reason');
    if (spar.ok) assert.ok((spar.rssMB ?? 0) > 0);
    else assert.ok(spar.error && spar.error.length > 0);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
