/**
 * `spar pilot` serving Bookinfo to real Envoy 1.40 — two sidecars and an ingress gateway, each
 * started with an Istio-shaped bootstrap (delta or SotW ADS, node id and metadata as pilot-agent sends them)
 * in its own network namespace so Istio's fixed ports (15001, 15006, 8080 ...) cannot collide.
 * Every file of samples/bookinfo/networking is applied in turn, then httpbin, tcp-echo and
 * helloworld with their gateways: after each step every proxy must be in sync with zero NACKs
 * (every *update_rejected counter 0), and /config_dump must hold the expected resources.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adsBootstrap, dumpNames, startEnvoy, warming, type Envoy, type Json } from '../helpers/envoy.js';
import { samplesDir } from '../helpers/shared.js';
import { INGRESS_GATEWAY_SERVICE, startSparPilot, startTestSds, type SparPilot } from './envoy-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'spar-bookinfo-'));
const cfg = join(dir, 'config');
let pilot: SparPilot;
let sds: { stop(): Promise<void> } | undefined;
const envoys: Record<string, Envoy> = {};

/** The productpage sidecar and the gateway use delta ADS (Istio's default), reviews state of the world. */
const NODES: Record<string, { id: string; metadata: Json; delta?: boolean }> = {
  productpage: { id: 'sidecar~10.88.0.5~productpage-v1-6b746f74dc-9stp7.default~default.svc.cluster.local', metadata: { LABELS: { app: 'productpage', version: 'v1' }, SERVICE_ACCOUNT: 'bookinfo-productpage', WORKLOAD_NAME: 'productpage-v1' } },
  reviews: { id: 'sidecar~10.88.0.9~reviews-v3-7d99fd7978-zhk8n.default~default.svc.cluster.local', metadata: { LABELS: { app: 'reviews', version: 'v3' }, SERVICE_ACCOUNT: 'bookinfo-reviews', WORKLOAD_NAME: 'reviews-v3' }, delta: false },
  gateway: { id: 'router~10.88.0.50~istio-ingressgateway-5d9c8b7f6-x2x7q.istio-system~istio-system.svc.cluster.local', metadata: { LABELS: { app: 'istio-ingressgateway', istio: 'ingressgateway' }, SERVICE_ACCOUNT: 'istio-ingressgateway-service-account' } },
};

before(async () => {
  const { mkdirSync } = await import('node:fs');
  mkdirSync(cfg);
  copyFileSync(join(samplesDir, 'bookinfo/platform/kube/bookinfo.yaml'), join(cfg, 'bookinfo.yaml'));
  copyFileSync(join(samplesDir, 'bookinfo/networking/destination-rule-all.yaml'), join(cfg, 'dr.yaml'));
  writeFileSync(join(cfg, 'ingress.yaml'), INGRESS_GATEWAY_SERVICE);
  const uds = join(dir, 'xds.sock');
  const sdsUds = join(dir, 'sds.sock');
  sds = await startTestSds(sdsUds);
  pilot = await startSparPilot(cfg, { uds });
  await Promise.all(Object.entries(NODES).map(async ([k, n]) => {
    envoys[k] = await startEnvoy({ bootstrap: adsBootstrap({ xds: `unix://${uds}`, nodeId: n.id, metadata: n.metadata, sdsUds, delta: n.delta }), isolateNetwork: true });
  }));
  await Promise.all(Object.values(envoys).map((e) => e.waitReady()));
  await pilot.waitSynced(undefined, 3);
});

after(async () => {
  await Promise.all(Object.values(envoys).map((e) => e.stop()));
  await pilot?.stop();
  await sds?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Zero NACKs anywhere: every proxy's types SYNCED or NOT SENT, every Envoy's *update_rejected 0. */
async function assertNoRejects(step: string): Promise<void> {
  const s = await pilot.syncz();
  for (const p of s) for (const [t, st] of Object.entries(p.types)) assert.notEqual(st.status, 'NACKED', `${step}: ${p.proxy} ${t} NACKED: ${st.nack?.message}`);
  for (const [k, e] of Object.entries(envoys)) {
    const rejected = await e.rejectedUpdates();
    assert.equal(rejected, 0, `${step}: ${k} rejected ${rejected} updates:\n${e.log().split('\n').filter((l) => /rejected|error/i.test(l)).slice(-5).join('\n')}`);
  }
}

async function apply(step: string, write: () => void): Promise<void> {
  const n = await pilot.pushCount();
  write();
  await pilot.waitSynced(n, 3).catch((e: Error) => {
    throw new Error(`${step}: ${e.message}`);
  });
  await assertNoRejects(step);
}

test('Bookinfo: every proxy ACKs the initial config; config_dump holds the listeners, clusters and routes', async () => {
  await assertNoRejects('initial');
  await envoys.productpage.waitFor(async () => warming(await envoys.productpage.configDump()).length === 0, 10_000, 'productpage done warming');
  const pp = await envoys.productpage.configDump('include_eds');
  const listeners = dumpNames(pp, 'listeners');
  for (const l of ['virtualOutbound', 'virtualInbound', '0.0.0.0_9080']) assert.ok(listeners.includes(l), `productpage listeners ${listeners.join()} lack ${l}`);
  const clusters = dumpNames(pp, 'clusters');
  for (const c of ['outbound|9080||reviews.default.svc.cluster.local', 'outbound|9080|v1|reviews.default.svc.cluster.local', 'outbound|9080|v3|reviews.default.svc.cluster.local', 'outbound|9080||details.default.svc.cluster.local', 'outbound|9080||ratings.default.svc.cluster.local', 'PassthroughCluster', 'BlackHoleCluster']) {
    assert.ok(clusters.includes(c), `productpage clusters lack ${c}`);
  }
  assert.ok(dumpNames(pp, 'routes').includes('9080'));
  assert.deepEqual(warming(pp), []);
  const endpoints = dumpNames(pp, 'endpoints');
  assert.ok(endpoints.includes('outbound|9080|v1|reviews.default.svc.cluster.local'));
});

test('each file of samples/bookinfo/networking applied in turn: zero NACKs', async () => {
  const netDir = join(samplesDir, 'bookinfo/networking');
  const files = readdirSync(netDir).filter((f) => f.endsWith('.yaml') && f !== 'destination-rule-all.yaml').sort();
  assert.ok(files.length >= 18);
  for (const f of files) {
    const isDr = f.startsWith('destination-rule');
    await apply(f, () => {
      if (existsSync(join(cfg, 'step.yaml'))) unlinkSync(join(cfg, 'step.yaml'));
      copyFileSync(join(netDir, f), join(cfg, isDr ? 'dr.yaml' : 'step.yaml'));
    });
    // A new listener warms until Envoy has asked for and received its routes, which can be just
    // after every type reads SYNCED: wait for the outcome rather than sample it once.
    if (f === 'bookinfo-gateway.yaml') {
      await envoys.gateway.waitFor(async () => {
        const gw = await envoys.gateway.configDump();
        return dumpNames(gw, 'listeners').includes('0.0.0.0_8080') && dumpNames(gw, 'routes').includes('http.8080');
      }, 10_000, 'gateway listener 0.0.0.0_8080 with routes http.8080');
    }
    if (f === 'virtual-service-reviews-80-20.yaml') {
      await envoys.productpage.waitFor(async () => /"weighted_clusters".*outbound\|9080\|v1\|reviews.*"weight":80.*outbound\|9080\|v2\|reviews.*"weight":20/s.test(JSON.stringify(await envoys.productpage.configDump('resource=dynamic_route_configs'))), 10_000, 'reviews 80/20 weighted clusters in productpage routes');
    }
    await assertNoRejects(f);
    if (isDr) copyFileSync(join(netDir, 'destination-rule-all.yaml'), join(cfg, 'dr.yaml'));
  }
});

test('httpbin, tcp-echo and helloworld with their gateways: zero NACKs, gateway serves their ports', async () => {
  await apply('samples', () => {
    if (existsSync(join(cfg, 'step.yaml'))) unlinkSync(join(cfg, 'step.yaml'));
    copyFileSync(join(samplesDir, 'bookinfo/networking/bookinfo-gateway.yaml'), join(cfg, 'bookinfo-gateway.yaml'));
    for (const f of ['httpbin/httpbin.yaml', 'httpbin/httpbin-gateway.yaml', 'tcp-echo/tcp-echo.yaml', 'tcp-echo/tcp-echo-all-v1.yaml', 'helloworld/helloworld.yaml', 'helloworld/helloworld-gateway.yaml']) {
      copyFileSync(join(samplesDir, f), join(cfg, f.replace('/', '-')));
    }
  });
  const wantListeners = ['0.0.0.0_8080', '0.0.0.0_31400'];
  const wantClusters = ['outbound|8000||httpbin.default.svc.cluster.local', 'outbound|9000|v1|tcp-echo.default.svc.cluster.local', 'outbound|5000||helloworld.default.svc.cluster.local', 'outbound|9080||productpage.default.svc.cluster.local'];
  await envoys.gateway.waitFor(async () => {
    const gw = await envoys.gateway.configDump();
    const listeners = dumpNames(gw, 'listeners');
    const clusters = dumpNames(gw, 'clusters');
    return wantListeners.every((l) => listeners.includes(l)) && wantClusters.every((c) => clusters.includes(c));
  }, 10_000, `gateway listeners ${wantListeners.join()} and clusters ${wantClusters.join()}`);
  await envoys.productpage.waitFor(async () => dumpNames(await envoys.productpage.configDump(), 'listeners').includes('0.0.0.0_8000'), 10_000, 'productpage outbound listener for httpbin (0.0.0.0_8000)');
  await assertNoRejects('samples');
  const drops = await pilot.get<{ droppedResources: unknown[] }>('/debug/push_status');
  assert.deepEqual(drops.droppedResources, []);
});
