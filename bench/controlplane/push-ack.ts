/**
 * Push-to-ACK latency of `spar pilot` for many connected proxies after a VirtualService change.
 *
 * Starts `spar pilot` (a child process, as users run it) on a copy of Bookinfo, connects N
 * simulated sidecars (real gRPC ADS streams that subscribe like Envoy and ACK every response),
 * then rewrites the reviews VirtualService K times. For each change and proxy it records the time
 * from the file write to that proxy receiving (and ACKing) the new routes, which includes the file
 * watch, the 100 ms debounce, building the push context, generation and the send. Prints p50/p99.
 *
 *   node --import tsx bench/controlplane/push-ack.ts [--proxies 100] [--changes 20] [--delta]
 *
 * Not a timed test: numbers depend on the machine; run it to compare changes.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot, istioDir } from '../../src/common/paths.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { SimulatedProxy } from '../../src/xds/server/client.js';

const { values } = parseArgs({ options: { proxies: { type: 'string', default: '100' }, changes: { type: 'string', default: '20' }, delta: { type: 'boolean', default: false } } });
const N = Number(values.proxies);
const K = Number(values.changes);

const dir = mkdtempSync(join(tmpdir(), 'spar-bench-'));
copyFileSync(join(istioDir, 'samples/bookinfo/platform/kube/bookinfo.yaml'), join(dir, 'bookinfo.yaml'));
copyFileSync(join(istioDir, 'samples/bookinfo/networking/destination-rule-all.yaml'), join(dir, 'dr.yaml'));
const vs = (subset: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: ${subset}}
`;
writeFileSync(join(dir, 'vs.yaml'), vs('v1'));

const fromSource = import.meta.url.endsWith('.ts');
const pilot = spawn(process.execPath, [join(repoRoot, 'bin', 'spar.js'), 'pilot', '--config', dir, '--port', '0', '--debug-port', '0', '--host', '127.0.0.1', '--log-level', 'info'], {
  env: { ...process.env, ...(fromSource ? { SPAR_TSX: '1' } : {}) },
  stdio: ['ignore', 'ignore', 'pipe'],
});
const proxies: SimulatedProxy[] = [];
try {
  let log = '';
  const ports = await new Promise<{ xdsPort: number; debugPort: number }>((resolve, reject) => {
    pilot.stderr.on('data', (b: Buffer) => {
      log += b.toString();
      if (log.length > 100_000) log = log.slice(-50_000);
      const m = /"xdsPort":(\d+),"debugPort":(\d+)/.exec(log);
      if (m) resolve({ xdsPort: Number(m[1]), debugPort: Number(m[2]) });
    });
    pilot.once('exit', (c) => reject(new Error(`spar pilot exited ${c}: ${log}`)));
  });
  const apps = ['productpage', 'reviews', 'ratings', 'details'];
  for (let i = 0; i < N; i++) {
    const app = apps[i % apps.length];
    const p = new SimulatedProxy(`127.0.0.1:${ports.xdsPort}`, {
      id: `sidecar~10.88.1.${i % 250}~${app}-v1-bench${i}.default~default.svc.cluster.local`,
      metadata: { NAMESPACE: 'default', LABELS: { app, version: 'v1' }, ISTIO_VERSION: '1.28.0' },
    }, { delta: values.delta });
    p.on('error', () => {});
    p.subscribe(TypeUrl.Cluster);
    p.subscribe(TypeUrl.Listener);
    proxies.push(p);
  }

  const hasRoutes = (p: SimulatedProxy, subset: string) => p.received.some((r) => r.typeUrl === TypeUrl.RouteConfiguration && r.raw.some((x) => Buffer.from(x.value).includes(`|${subset}|reviews.`)));
  const t0 = Date.now();
  while (!proxies.every((p) => hasRoutes(p, 'v1'))) {
    if (Date.now() - t0 > 60_000) throw new Error('proxies did not converge in 60 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log(`${N} proxies (${values.delta ? 'delta' : 'SotW'}) connected and converged in ${Date.now() - t0} ms`);

  const latencies: number[] = [];
  const subsets = ['v2', 'v3', 'v1'];
  for (let k = 0; k < K; k++) {
    const subset = subsets[k % 3];
    for (const p of proxies) p.received.length = 0;
    const start = Date.now();
    writeFileSync(join(dir, 'vs.yaml'), vs(subset));
    const got = new Map<SimulatedProxy, number>();
    while (got.size < N) {
      for (const p of proxies) {
        if (got.has(p)) continue;
        const r = p.received.find((x) => x.typeUrl === TypeUrl.RouteConfiguration && x.raw.some((y) => Buffer.from(y.value).includes(`|${subset}|reviews.`)));
        if (r) got.set(p, r.receivedAt - start);
      }
      if (Date.now() - start > 20_000) throw new Error(`change ${k}: only ${got.size}/${N} proxies got the new routes in 20 s`);
      await new Promise((r) => setTimeout(r, 2));
    }
    latencies.push(...got.values());
    await new Promise((r) => setTimeout(r, 200));
  }

  const sorted = [...latencies].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  console.log(`VirtualService change -> new routes ACKed, ${K} changes x ${N} proxies (${latencies.length} samples; includes the 100 ms debounce):`);
  console.log(`  p50 ${q(0.5)} ms   p90 ${q(0.9)} ms   p99 ${q(0.99)} ms   max ${sorted.at(-1)} ms`);
  const metrics = await (await fetch(`http://127.0.0.1:${ports.debugPort}/metrics`)).text();
  const ps = (await (await fetch(`http://127.0.0.1:${ports.debugPort}/debug/push_status`)).json()) as { pushes: { buildMs: number; sendMs?: number; reason: string }[] };
  const recent = ps.pushes.filter((x) => x.reason.includes('VirtualService')).slice(-K);
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`  pilot side (median of ${recent.length} pushes): push context ${med(recent.map((x) => x.buildMs))} ms, generate+send to all ${N} proxies ${med(recent.map((x) => x.sendMs ?? NaN))} ms`);
  const rejectLines = metrics.split('\n').filter((l) => l.startsWith('pilot_total_xds_rejects'));
  const rejects = rejectLines.length ? rejectLines.join(', ') : 'pilot_total_xds_rejects 0';
  console.log(`  ${rejects}; pushes: ${metrics.split('\n').filter((l) => l.startsWith('pilot_xds_pushes')).join(', ')}`);
} finally {
  for (const p of proxies) p.close();
  pilot.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
