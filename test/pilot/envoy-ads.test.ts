/**
 * The ADS server driving real Envoy (state of the world and delta), with a static generator: Envoy
 * becomes ready and ACKs everything, traffic follows an endpoint-only push, a resource Envoy would
 * reject never reaches it, and a resource Envoy does reject (a listener on a port already taken:
 * valid to every schema) is NACKed, recorded with Envoy's message, and leaves the old config serving;
 * when the pilot restarts, Envoy keeps serving and resyncs (delta: from its initial_resource_versions).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { XdsServer } from '../../src/xds/server/server.js';
import { syncStatus } from '../../src/xds/server/status.js';
import { adsBootstrap, dumpNames, freePort, httpGet, startEnvoy, type Envoy } from '../helpers/envoy.js';
import { staticGenerator, edsCluster, endpoints, httpListener, routeConfig, type StaticPush, type TestProxy } from './ads-fixtures.js';

const CLUSTER = 'outbound|8080||backend.default.svc.cluster.local';
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function backend(name: string): Promise<number> {
  const s: Server = createServer((req, res) => {
    res.setHeader('x-backend', name);
    res.end(name);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return (s.address() as { port: number }).port;
}

function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return httpGet(port, path, { host: 'backend' });
}

for (const delta of [false, true]) {
  test(`real Envoy over ${delta ? 'delta' : 'state-of-the-world'} ADS: ACKs, endpoint pushes, pre-push rejection, NACK handling`, async () => {
    const [portA, portB, listenPort, takenPort] = [await backend('a'), await backend('b'), await freePort(), await freePort()];
    const push = (eps: number, extra: Partial<StaticPush> = {}): StaticPush => ({
      [TypeUrl.Cluster]: [edsCluster(CLUSTER)],
      [TypeUrl.ClusterLoadAssignment]: [endpoints(CLUSTER, [['127.0.0.1', eps]])],
      [TypeUrl.Listener]: [httpListener('127.0.0.1_listen', '127.0.0.1', listenPort, 'backend')],
      [TypeUrl.RouteConfiguration]: [routeConfig('backend', [{ name: 'backend', domains: ['backend', 'backend:*'], cluster: CLUSTER }])],
      ...extra,
    });
    const server = new XdsServer<TestProxy, StaticPush>({ generator: staticGenerator });
    server.setPushContext(push(portA));
    const xdsPort = await server.listen(0, '127.0.0.1');
    cleanups.push(() => server.close());
    const envoy: Envoy = await startEnvoy({ bootstrap: adsBootstrap({ xds: `127.0.0.1:${xdsPort}`, nodeId: 'sidecar~127.0.0.1~client-1.default~default.svc.cluster.local', delta }) });
    cleanups.push(() => envoy.stop());
    await envoy.waitReady();
    await envoy.waitFor(async () => (await get(listenPort).catch(() => ({ status: 0, body: '' }))).body === 'a', 10_000, 'traffic to backend a');

    const dump = await envoy.configDump('include_eds');
    assert.deepEqual(dumpNames(dump, 'listeners'), ['127.0.0.1_listen']);
    assert.deepEqual(dumpNames(dump, 'clusters'), [CLUSTER]);
    assert.deepEqual(dumpNames(dump, 'routes'), ['backend']);
    assert.deepEqual(dumpNames(dump, 'endpoints'), [CLUSTER]);
    assert.equal(await envoy.rejectedUpdates(), 0);
    await envoy.waitFor(async () => Object.values(syncStatus(server)[0]?.types ?? {}).filter((t) => t.status === 'SYNCED').length === 4, 5000, 'SYNCED');

    // endpoint-only push: EDS alone, traffic moves
    const pushes: string[] = [];
    server.on('push', (e) => pushes.push(e.typeUrl));
    server.pushAll(push(portB), { full: false, kinds: new Set(['EndpointSlice']), edsHosts: new Set(['backend.default.svc.cluster.local']), start: Date.now(), reason: 'endpoints' });
    await envoy.waitFor(async () => (await get(listenPort)).body === 'b', 5000, 'traffic to backend b');
    assert.deepEqual(pushes, [TypeUrl.ClusterLoadAssignment]);

    // a route config with a duplicate domain: Envoy would reject it; it is dropped before the push
    server.pushAll(push(portB, { [TypeUrl.RouteConfiguration]: [routeConfig('backend', [{ name: 'x', domains: ['backend'], cluster: CLUSTER }, { name: 'y', domains: ['backend'], cluster: CLUSTER }])] }), { full: true, kinds: new Set(['VirtualService']), start: Date.now(), reason: 'dup domains' });
    await server.pushed();
    assert.ok([...server.dropped.values()].some((d) => d.name === 'backend' && /duplicate entry of domain backend/.test(d.error)));
    assert.equal(await envoy.rejectedUpdates(), 0);
    assert.equal((await get(listenPort)).body, 'b');

    // a listener on a port that is taken: fine by every schema, refused by Envoy -> NACK
    const holder: TcpServer = createTcpServer();
    await new Promise<void>((r) => holder.listen(takenPort, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => holder.close(() => r())));
    server.pushAll(push(portB, { [TypeUrl.Listener]: [httpListener('127.0.0.1_listen', '127.0.0.1', listenPort, 'backend'), httpListener('127.0.0.1_taken', '127.0.0.1', takenPort, 'backend')] }), { full: true, kinds: new Set(['Gateway']), start: Date.now(), reason: 'taken port' });
    await envoy.waitFor(async () => syncStatus(server)[0].types.LDS.status === 'NACKED', 5000, 'LDS NACKED');
    const nack = syncStatus(server)[0].types.LDS.nack!;
    assert.match(nack.message, /cannot bind|Address already in use/i);
    assert.ok((await envoy.stats('listener_manager.lds.update_rejected'))['listener_manager.lds.update_rejected'] >= 1);
    assert.equal((await get(listenPort)).body, 'b', 'the last good listener keeps serving');
    assert.equal(syncStatus(server)[0].types.CDS.status, 'SYNCED');

    // the pilot goes away: Envoy keeps serving; a new pilot on the same port resyncs it
    const rejectedBefore = await envoy.rejectedUpdates();
    await server.close();
    assert.equal((await get(listenPort)).body, 'b');
    const server2 = new XdsServer<TestProxy, StaticPush>({ generator: staticGenerator });
    server2.setPushContext(push(portA));
    await server2.listen(xdsPort, '127.0.0.1');
    cleanups.push(() => server2.close());
    await envoy.waitFor(async () => (await get(listenPort)).body === 'a', 15_000, 'resync after the pilot restarted');
    await envoy.waitFor(async () => Object.values(syncStatus(server2)[0]?.types ?? {}).filter((t) => t.status === 'SYNCED').length === 4, 5000, 'SYNCED with the new pilot');
    assert.equal(await envoy.rejectedUpdates(), rejectedBefore);
  });
}
