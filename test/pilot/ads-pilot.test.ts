/**
 * `spar pilot` end to end with simulated proxies: a config folder served and watched, changes
 * debounced into one push, pushes scoped by what changed (a VirtualService → routes; an
 * EndpointSlice → EDS for that service only), invalid config skipped and reported, NACKs in
 * metrics and `spar proxy-status`, and the debug endpoints.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TypeUrl, SHORT_NAME, type ResourceTypeUrl } from '../../src/xds/resource-types.js';
import { SimulatedProxy, type ReceivedResponse } from '../../src/xds/server/client.js';
import { Pilot } from '../../src/pilot/pilot.js';
import { Debouncer } from '../../src/pilot/debounce.js';
import type { PushRequest } from '../../src/xds/server/generator.js';
import type { ProxySyncStatus } from '../../src/xds/server/status.js';
import { run as runProxyStatus } from '../../src/cli/proxy-status.js';
import { runSpar } from '../helpers/cli.js';
import { samplesDir } from '../helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'spar-pilot-'));
let pilot: Pilot;
let proxy: SimulatedProxy;
let rejectRoutes = false;
const debugUrl = () => `http://127.0.0.1:${pilot.debugPort}`;
const getJson = async <T>(path: string): Promise<T> => (await (await fetch(debugUrl() + path)).json()) as T;

before(async () => {
  copyFileSync(join(samplesDir, 'bookinfo/platform/kube/bookinfo.yaml'), join(dir, 'bookinfo.yaml'));
  copyFileSync(join(samplesDir, 'bookinfo/networking/destination-rule-all.yaml'), join(dir, 'destination-rule-all.yaml'));
  pilot = new Pilot({ configDir: dir, port: 0, host: '127.0.0.1', debugPort: 0, debounceMs: 100 });
  await pilot.start();
  proxy = new SimulatedProxy(`127.0.0.1:${pilot.xdsPort}`, {
    id: 'sidecar~10.88.0.99~productpage-v1-test.default~default.svc.cluster.local',
    metadata: { NAMESPACE: 'default', LABELS: { app: 'productpage', version: 'v1' }, ISTIO_VERSION: '1.28.0', CLUSTER_ID: 'Kubernetes' },
  }, { reject: (r) => (rejectRoutes && r.typeUrl === TypeUrl.RouteConfiguration ? 'Only unique values for domains are permitted. Duplicate entry of domain reviews' : undefined) });
  proxy.subscribe(TypeUrl.Cluster);
  proxy.subscribe(TypeUrl.Listener);
  await until(async () => {
    const s = await getJson<ProxySyncStatus[]>('/debug/syncz');
    return s.length === 1 && (['CDS', 'EDS', 'LDS', 'RDS'] as const).every((t) => s[0].types[t].status === 'SYNCED');
  });
});

after(async () => {
  proxy?.close();
  await pilot?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function until(cond: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const typesOf = (rs: ReceivedResponse[]) => rs.map((r) => SHORT_NAME[r.typeUrl as ResourceTypeUrl]);

const vs = (subset: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: ${subset}}
`;

test('config changes in quick succession are debounced into one push context and one push, scoped to routes', async () => {
  const pushesBefore = pilot.pushes.length;
  const received = proxy.received.length;
  for (const s of ['v1', 'v2', 'v3']) writeFileSync(join(dir, 'vs-reviews.yaml'), vs(s));
  await until(() => pilot.pushes.length > pushesBefore);
  await sleep(400);
  assert.equal(pilot.pushes.length, pushesBefore + 1, JSON.stringify(pilot.pushes.slice(pushesBefore)));
  const rec = pilot.pushes.at(-1)!;
  assert.deepEqual(rec.kinds, ['VirtualService']);
  const got = typesOf(proxy.received.slice(received));
  assert.ok(got.includes('RDS'), got.join());
  assert.ok(!got.includes('CDS') && !got.includes('EDS'), `clusters and endpoints unchanged: ${got.join()}`);
  const rds = proxy.received.slice(received).filter((r) => r.typeUrl === TypeUrl.RouteConfiguration).at(-1)!;
  assert.match(JSON.stringify(rds.resources()), /outbound\|9080\|v3\|reviews\.default\.svc\.cluster\.local/);
});

test('a file deleted and re-created at once is noticed (regression: Node 20\'s recursive fs.watch on Linux misses it)', async () => {
  for (const subset of ['v1', 'v2']) {
    const before = pilot.pushCount;
    unlinkSync(join(dir, 'vs-reviews.yaml'));
    writeFileSync(join(dir, 'vs-reviews.yaml'), vs(subset));
    await until(() => pilot.pushCount > before, 3000);
    await until(() => proxy.received.some((r) => r.typeUrl === TypeUrl.RouteConfiguration && JSON.stringify(r.resources()).includes(`|${subset}|reviews.`)), 3000);
  }
});

test('an EndpointSlice change pushes EDS alone, for that service\'s clusters only', async () => {
  const received = proxy.received.length;
  writeFileSync(join(dir, 'reviews-slice.yaml'), `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: reviews-abc
  labels: {kubernetes.io/service-name: reviews}
addressType: IPv4
ports: [{name: http, port: 9080, protocol: TCP}]
endpoints:
- addresses: [10.88.7.7]
  conditions: {ready: true}
`);
  await until(() => proxy.received.length > received);
  await sleep(300);
  const got = proxy.received.slice(received);
  assert.deepEqual(typesOf(got), ['EDS']);
  const clusters = got[0].resources().map((r) => String(r.cluster_name));
  assert.ok(clusters.length > 0 && clusters.every((c) => c.endsWith('|reviews.default.svc.cluster.local')), clusters.join());
  assert.match(JSON.stringify(got[0].resources()), /10\.88\.7\.7/);
  assert.equal(pilot.pushes.at(-1)!.full, false);
});

test('an invalid resource or file is reported and skipped; the rest is still served', async () => {
  writeFileSync(join(dir, 'bad.yaml'), `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: broken}
spec:
  hosts: [ratings]
  http:
  - route:
    - destination: {host: ratings}
      weight: -5
`);
  writeFileSync(join(dir, 'not-yaml.yaml'), 'kind: [unclosed\n');
  await until(async () => {
    const c = await getJson<{ rejected: { name: string }[]; fileErrors: { file: string }[] }>('/debug/configz');
    return c.rejected.some((r) => r.name === 'broken') && c.fileErrors.some((f) => f.file.endsWith('not-yaml.yaml'));
  });
  const cz = await getJson<{ served: { kind: string; name: string }[]; rejected: { name: string; errors: string[] }[] }>('/debug/configz');
  assert.ok(cz.served.some((r) => r.kind === 'VirtualService' && r.name === 'reviews'));
  assert.ok(!cz.served.some((r) => r.name === 'broken'));
  assert.ok(cz.rejected.find((r) => r.name === 'broken')!.errors.length > 0);
  assert.match(await (await fetch(debugUrl() + '/metrics')).text(), /pilot_total_rejected_configs 1/);
});

test('debug endpoints: syncz, adsz, config_dump, push_status, metrics with Istio\'s names', async () => {
  const ads = await getJson<{ totalClients: number; clients: { proxy: string; watches: Record<string, string[]> }[] }>('/debug/adsz');
  assert.equal(ads.totalClients, 1);
  assert.deepEqual(ads.clients[0].watches.CDS, ['*']);
  assert.ok(ads.clients[0].watches.EDS.length > 0);
  const dump = await getJson<{ configs: Record<string, unknown>[] }>('/debug/config_dump?proxyID=productpage-v1-test.default');
  const types = dump.configs.map((c) => String(c['@type']).split('.').pop());
  assert.deepEqual(types, ['ClustersConfigDump', 'EndpointsConfigDump', 'ListenersConfigDump', 'RoutesConfigDump']);
  assert.equal((await fetch(debugUrl() + '/debug/config_dump?proxyID=nobody.default')).status, 404);
  const ps = await getJson<{ pushes: { reason: string }[]; droppedResources: unknown[] }>('/debug/push_status');
  assert.ok(ps.pushes.length >= 3);
  const metrics = await (await fetch(debugUrl() + '/metrics')).text();
  for (const m of ['pilot_xds{version="0.1.0"} 1', 'pilot_xds_pushes{type="cds"}', 'pilot_xds_pushes{type="rds"}', 'pilot_proxy_convergence_time_bucket', 'pilot_xds_push_time_bucket', 'pilot_push_triggers{type="endpoint"} 1']) {
    assert.ok(metrics.includes(m), `metrics lack ${m}`);
  }
});

test('a NACK shows in metrics and `spar proxy-status` with Envoy\'s error; the next good push clears it', async () => {
  rejectRoutes = true;
  writeFileSync(join(dir, 'vs-reviews.yaml'), vs('v1'));
  await until(async () => (await getJson<ProxySyncStatus[]>('/debug/syncz'))[0].types.RDS.status === 'NACKED');
  const metrics = await (await fetch(debugUrl() + '/metrics')).text();
  assert.match(metrics, /pilot_total_xds_rejects\{type="rds"\} 1/);
  assert.match(metrics, /pilot_xds_rds_reject\{.*err="Only unique values for domains.*\} 1/);
  const out = await runSpar(['proxy-status', '--pilot', debugUrl()]);
  assert.equal(out.code, 0, out.stderr);
  const lines = out.stdout.split('\n');
  assert.match(lines[0], /^NAME\s+CLUSTER\s+CDS\s+LDS\s+EDS\s+RDS\s+ISTIOD\s+VERSION$/);
  assert.match(lines[1], /^productpage-v1-test\.default\s+Kubernetes\s+SYNCED\s+SYNCED\s+SYNCED\s+NACKED\s+spar-pilot-\d+\s+1\.28\.0$/);
  assert.match(out.stdout, /productpage-v1-test\.default RDS NACKED .*Only unique values for domains/);
  rejectRoutes = false;
  writeFileSync(join(dir, 'vs-reviews.yaml'), vs('v2'));
  await until(async () => (await getJson<ProxySyncStatus[]>('/debug/syncz'))[0].types.RDS.status === 'SYNCED');
  assert.doesNotMatch(await (await fetch(debugUrl() + '/metrics')).text(), /pilot_xds_rds_reject\{/);
});

test('proxy-status explains an unreachable pilot', async () => {
  await assert.rejects(runProxyStatus({ pilot: 'http://127.0.0.1:1', output: 'text' }), /cannot read sync status from http:\/\/127\.0\.0\.1:1\/debug\/syncz/);
});

test('the debouncer merges requests that come within the quiet period, and flushes by the max wait at the latest', async () => {
  const flushed: { req: PushRequest; events: number }[] = [];
  const d = new Debouncer(60, 150, (req, events) => flushed.push({ req, events }));
  const req = (kind: string, full = true, host?: string): PushRequest => ({ full, kinds: new Set([kind]), edsHosts: host ? new Set([host]) : undefined, start: Date.now(), reason: kind });
  d.add(req('EndpointSlice', false, 'a'));
  d.add(req('EndpointSlice', false, 'b'));
  d.add(req('VirtualService'));
  await until(() => flushed.length > 0);
  await sleep(100);
  assert.equal(flushed.length, 1);
  assert.equal(flushed[0].events, 3);
  assert.equal(flushed[0].req.full, true);
  assert.deepEqual([...flushed[0].req.kinds].sort(), ['EndpointSlice', 'VirtualService']);
  // a steady stream of changes is still pushed once maxMs has passed
  flushed.length = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < 400) {
    d.add(req('EndpointSlice', false, 'c'));
    await sleep(30);
  }
  d.stop();
  assert.ok(flushed.length >= 2, `flushed ${flushed.length} times in 400 ms of changes every 30 ms`);
  assert.deepEqual([...(flushed[0].req.edsHosts ?? [])], ['c']);
  assert.equal(flushed[0].req.full, false);
});
