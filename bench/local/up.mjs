#!/usr/bin/env node
// `spar up` with Bookinfo (the app and its gateway) to the first product page served through the
// ingress gateway, then `spar down`, each repeated; from the built dist/. Also checks that `spar down`
// left nothing behind (network namespaces, the bridge, processes of the run).
// Target (issue "spar up"): a serving product page in under 15 s. Reported, never asserted.
//
// Usage: node bench/local/up.mjs [--runs N] [--out DIR]   (needs root, Linux, iproute2, iptables)
/* global fetch, AbortSignal */
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sharedDir = process.env.SPAR_SHARED ? resolve(process.env.SPAR_SHARED) : resolve(repoRoot, '..', 'shared');
const bookinfo = join(sharedDir, 'istio', 'samples', 'bookinfo');
const TARGET_MS = 15_000;
const log = (m) => process.stderr.write(`[up] ${m}\n`);

function median(xs) {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Runs spar with args; resolves with stdout when it exits 0. */
function spar(args) {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [join(repoRoot, 'bin', 'spar.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (b) => (out += b));
    p.stderr.on('data', (b) => (err += b));
    p.on('exit', (code) => (code === 0 ? res(out) : rej(new Error(`spar ${args[0]} exited ${code}: ${err.slice(-500)}`))));
  });
}

async function firstPage(url, deadline) {
  for (;;) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      const body = await r.text();
      if (r.status === 200 && body.includes('<title>Simple Bookstore App</title>')) return;
    } catch {
      // not serving yet
    }
    if (Date.now() > deadline) throw new Error(`${url}: no product page`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runUp({ runs = 3 } = {}) {
  const results = [];
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'spar-up-bench-'));
    chmodSync(dir, 0o755); // the sidecars run as UID 1337 and read below it
    const state = join(dir, 'state');
    const bridge = `spar-b${i}${Math.random().toString(16).slice(2, 5)}`;
    const t0 = Date.now();
    try {
      // --wait 0: return once started; the clock stops at the first product page, not at "ready".
      const out = await spar(['up', '--state-dir', state, '--port', '0', '--bridge', bridge, '--pod-cidr', `10.88.${200 + i}.0/24`, '--pilot-debug-port', '0', '--wait', '60',
        '-f', join(bookinfo, 'platform/kube/bookinfo.yaml'), '-f', join(bookinfo, 'networking/bookinfo-gateway.yaml')]);
      const port = /ingress gateway on 127\.0\.0\.1:(\d+)/.exec(out)?.[1] ?? /127\.0\.0\.1:(\d+)\/productpage/.exec(out)?.[1];
      if (!port) throw new Error(`no ingress port in spar up output:\n${out.slice(-800)}`);
      await firstPage(`http://127.0.0.1:${port}/productpage`, t0 + 120_000);
      const upMs = Date.now() - t0;
      const t1 = Date.now();
      await spar(['down', '--state-dir', state]);
      const downMs = Date.now() - t1;
      const left = [];
      if (execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' }).includes(bridge)) left.push(`bridge ${bridge}`);
      const procs = execFileSync('ps', ['-eo', 'stat,args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(state) && !/^Z/.test(l));
      if (procs.length) left.push(`${procs.length} processes`);
      results.push({ upMs, downMs, leftBehind: left });
      log(`run ${i + 1}/${runs}: product page after ${(upMs / 1000).toFixed(1)} s, down in ${(downMs / 1000).toFixed(1)} s${left.length ? `, LEFT: ${left.join(', ')}` : ', nothing left'}`);
    } catch (e) {
      results.push({ error: e.message });
      log(`run ${i + 1}/${runs}: ${e.message}`);
      await spar(['down', '--state-dir', state]).catch(() => undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const ok = results.filter((r) => r.upMs !== undefined);
  return {
    kind: 'spar-up-bench', targetMs: TARGET_MS,
    machine: { cpus: cpus().length, loadavg: loadavg().map((x) => +x.toFixed(2)) },
    runs: results,
    upMs: ok.length ? { median: median(ok.map((r) => r.upMs)), min: Math.min(...ok.map((r) => r.upMs)), max: Math.max(...ok.map((r) => r.upMs)) } : undefined,
    downMs: ok.length ? { median: median(ok.map((r) => r.downMs)) } : undefined,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, out: { type: 'string' } } });
  const r = await runUp({ runs: Number(values.runs) });
  const line = r.upMs
    ? `spar up → product page: median ${(r.upMs.median / 1000).toFixed(1)} s (min ${(r.upMs.min / 1000).toFixed(1)}, max ${(r.upMs.max / 1000).toFixed(1)}; target 15 s); spar down median ${(r.downMs.median / 1000).toFixed(1)} s; load ${r.machine.loadavg.join(' ')}`
    : 'no successful run';
  process.stdout.write(`${line}\n`);
  if (values.out) {
    mkdirSync(values.out, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:T]/g, '-').slice(0, 19);
    writeFileSync(join(values.out, `up-${stamp}.json`), `${JSON.stringify(r, null, 2)}\n`);
    writeFileSync(join(values.out, `up-${stamp}.md`), `# spar up, Bookinfo\n\n${line}\n`);
  }
}
