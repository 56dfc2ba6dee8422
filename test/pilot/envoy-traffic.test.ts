/**
 * Traffic through real Envoy configured by `spar pilot` goes where the Istio config says. The
 * client proxy has no traffic capture (INTERCEPTION_MODE NONE) and a Sidecar egress listener
 * bound on 127.0.0.1 (captureMode NONE), so no iptables is needed; the backends are small Node
 * servers on 127.0.0.2 / 127.0.0.3 registered as Pods behind a Service.
 *   header match → subset v2 · 80/20 weights within ±5 % over 2,000 requests · fault abort → 418
 *   · redirect → 301 to the new path
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, Agent, request, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adsBootstrap, freePort, httpGet, startEnvoy, type Envoy } from '../helpers/envoy.js';
import { startSparPilot, startTestSds, type SparPilot } from './envoy-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'spar-traffic-'));
let pilot: SparPilot;
let envoy: Envoy;
let sds: { stop(): Promise<void> };
const servers: Server[] = [];
let port = 0;

async function backend(name: string, host: string): Promise<number> {
  const s = createServer((req, res) => {
    res.setHeader('x-backend', name);
    res.end(`${name} ${req.url}`);
  });
  await new Promise<void>((r) => s.listen(0, host, r));
  servers.push(s);
  return (s.address() as { port: number }).port;
}

const pod = (name: string, version: string, ip: string, p: number) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels: {app: reviews, version: ${version}, security.istio.io/tlsMode: disabled}
spec:
  containers:
  - name: app
    image: reviews
    ports: [{name: http, containerPort: ${p}}]
status: {phase: Running, podIP: ${ip}}
`;

before(async () => {
  const [p1, p2] = [await backend('v1', '127.0.0.2'), await backend('v2', '127.0.0.3')];
  port = await freePort();
  const cfg = join(dir, 'config');
  mkdirSync(cfg);
  writeFileSync(join(cfg, 'reviews.yaml'), `apiVersion: v1
kind: Service
metadata: {name: reviews, labels: {app: reviews}}
spec:
  clusterIP: 10.96.50.1
  selector: {app: reviews}
  ports: [{name: http, port: ${port}, targetPort: http}]
---
${pod('reviews-v1-a', 'v1', '127.0.0.2', p1)}---
${pod('reviews-v2-a', 'v2', '127.0.0.3', p2)}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /fault}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: reviews, subset: v1}}]
  - match: [{uri: {exact: /old}}]
    redirect: {uri: /new}
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 80}
    - {destination: {host: reviews, subset: v2}, weight: 20}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: client}
spec:
  workloadSelector: {labels: {app: client}}
  egress:
  - port: {number: ${port}, protocol: HTTP, name: http}
    bind: 127.0.0.1
    captureMode: NONE
    hosts: ["./*"]
`);
  sds = await startTestSds(join(dir, 'sds.sock'));
  pilot = await startSparPilot(cfg, { args: ['--no-synthetic-addresses'] });
  envoy = await startEnvoy({
    bootstrap: adsBootstrap({
      xds: `127.0.0.1:${pilot.xdsPort}`,
      nodeId: 'sidecar~127.0.0.1~client-7f9c-abcde.default~default.svc.cluster.local',
      metadata: { LABELS: { app: 'client' }, INTERCEPTION_MODE: 'NONE' },
      sdsUds: join(dir, 'sds.sock'),
    }),
  });
  await envoy.waitReady();
  await envoy.waitFor(async () => (await httpGet(port, '/', { host: 'reviews' }).catch(() => ({ status: 0 }))).status === 200, 10_000, 'a route through the egress listener');
});

after(async () => {
  await envoy?.stop();
  await pilot?.stop();
  await sds?.stop();
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

test('no NACKs, and the egress listener is bound on 127.0.0.1', async () => {
  assert.equal(await envoy.rejectedUpdates(), 0);
  const dump = JSON.stringify(await envoy.configDump('resource=dynamic_listeners'));
  assert.match(dump, new RegExp(`"address":"127\\.0\\.0\\.1","port_value":${port}`));
});

test('a header match sends the request to the right subset', async () => {
  for (let i = 0; i < 20; i++) {
    const r = await httpGet(port, '/reviews/1', { host: 'reviews', 'end-user': 'jason' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-backend'], 'v2');
  }
});

test('80/20 weights land within ±5 % over 2,000 requests', async (t) => {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const counts: Record<string, number> = {};
  const one = () => new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/reviews/1', headers: { host: `reviews:${port}` }, agent }, (res) => {
      const b = String(res.headers['x-backend'] ?? res.statusCode);
      counts[b] = (counts[b] ?? 0) + 1;
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end();
  });
  const N = 2000;
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < N) {
      next++;
      await one();
    }
  }));
  agent.destroy();
  const v1 = (counts.v1 ?? 0) / N;
  t.diagnostic(`weights: v1 ${counts.v1} (${(v1 * 100).toFixed(1)} %), v2 ${counts.v2} of ${N}`);
  assert.equal((counts.v1 ?? 0) + (counts.v2 ?? 0), N, JSON.stringify(counts));
  assert.ok(Math.abs(v1 - 0.8) <= 0.05, `v1 got ${(v1 * 100).toFixed(1)} %`);
});

test('a fault abort returns the configured code', async () => {
  const r = await httpGet(port, '/fault/x', { host: 'reviews' });
  assert.equal(r.status, 418);
  assert.equal(r.body, 'fault filter abort');
});

test('a redirect redirects', async () => {
  const r = await httpGet(port, '/old', { host: 'reviews' });
  assert.equal(r.status, 301);
  assert.match(String(r.headers.location), /\/new$/);
});
