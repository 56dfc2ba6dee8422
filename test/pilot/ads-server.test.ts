/**
 * The ADS server against simulated proxies over real gRPC streams (SotW and delta), with a static
 * generator: push order, ACK/NACK bookkeeping, warming answers for EDS/RDS, scoped pushes, shared
 * encodings, and bad resources dropped before they reach a proxy.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { decodeDiscovery, encodeResource, type EnvoyJson } from '../../src/xds/codec.js';
import { TypeUrl, SHORT_NAME, type ResourceTypeUrl } from '../../src/xds/resource-types.js';
import { XdsServer } from '../../src/xds/server/server.js';
import { SimulatedProxy, type ReceivedResponse } from '../../src/xds/server/client.js';
import { syncStatus } from '../../src/xds/server/status.js';
import { frameDiscoveryResponse, frameDeltaDiscoveryResponse } from '../../src/xds/server/wire.js';
import { staticGenerator, edsCluster, endpoints, httpListener, routeConfig, node, type StaticPush, type TestProxy } from './ads-fixtures.js';

const REVIEWS = 'outbound|9080||reviews.default.svc.cluster.local';
const RATINGS = 'outbound|9080||ratings.default.svc.cluster.local';

function basePush(): StaticPush {
  return {
    [TypeUrl.Cluster]: [edsCluster(REVIEWS), edsCluster(RATINGS)],
    [TypeUrl.ClusterLoadAssignment]: [endpoints(REVIEWS, [['10.88.0.5', 9080]])],
    [TypeUrl.Listener]: [httpListener('0.0.0.0_9080', '0.0.0.0', 9080, '9080')],
    [TypeUrl.RouteConfiguration]: [routeConfig('9080', [{ name: 'reviews', domains: ['reviews'], cluster: REVIEWS }])],
  };
}

const servers: XdsServer<TestProxy, StaticPush>[] = [];
const proxies: SimulatedProxy[] = [];
after(async () => {
  for (const p of proxies) p.close();
  for (const s of servers) await s.close();
});

async function start(push = basePush()): Promise<{ server: XdsServer<TestProxy, StaticPush>; addr: string }> {
  const server = new XdsServer<TestProxy, StaticPush>({ generator: staticGenerator });
  server.setPushContext(push);
  const counts = new Map<string, number>();
  server.on('push', (e) => counts.set(e.con.nodeId, (counts.get(e.con.nodeId) ?? 0) + 1));
  sentCounts.set(server, counts);
  const port = await server.listen(0, '127.0.0.1');
  servers.push(server);
  serverAddr.set(server, `127.0.0.1:${port}`);
  return { server, addr: `127.0.0.1:${port}` };
}

function connect(addr: string, pod: string, opts: ConstructorParameters<typeof SimulatedProxy>[2] = {}): SimulatedProxy {
  const p = new SimulatedProxy(addr, node(pod), opts);
  proxies.push(p);
  proxyAddr.set(p, addr);
  return p;
}

/** Subscribes to CDS and LDS and waits until all four types were answered and ACKed. */
async function converge(server: XdsServer<TestProxy, StaticPush>, p: SimulatedProxy): Promise<void> {
  p.subscribe(TypeUrl.Cluster);
  p.subscribe(TypeUrl.Listener);
  await until(() => {
    const con = [...server.connections.values()].find((c) => c.nodeId === p.node.id);
    if (!con) return false;
    return [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration].every((t) => {
      const w = con.watches.get(t);
      return w && w.nonceSent && (con.delta ? w.pending.size === 0 : w.nonceAcked === w.nonceSent);
    });
  });
}

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sentCounts = new WeakMap<object, Map<string, number>>();
const serverAddr = new WeakMap<object, string>();
const proxyAddr = new Map<SimulatedProxy, string>();
/** Waits until the push queue is drained and every response the server wrote reached its proxy. */
async function settle(server: XdsServer<TestProxy, StaticPush>): Promise<void> {
  await server.pushed();
  const counts = sentCounts.get(server) ?? new Map<string, number>();
  const mine = proxies.filter((p) => proxyAddr.get(p) === serverAddr.get(server));
  await until(() => mine.every((p) => p.received.length >= (counts.get(String(p.node.id)) ?? 0)), 10_000);
}
const typesOf = (rs: ReceivedResponse[]) => rs.map((r) => SHORT_NAME[r.typeUrl as ResourceTypeUrl]);
const names = (r: ReceivedResponse) => r.resources().map((x) => String(x.name ?? x.cluster_name)).sort();

test('framing pre-encoded resources gives what the codec decodes', () => {
  const c = encodeResource(edsCluster(REVIEWS));
  const sotw = decodeDiscovery('DiscoveryResponse', frameDiscoveryResponse({ versionInfo: 'v1', typeUrl: TypeUrl.Cluster, nonce: 'n', resources: [c, c], controlPlane: 'spar' }));
  assert.deepEqual(sotw, { version_info: 'v1', type_url: TypeUrl.Cluster, nonce: 'n', resources: [edsCluster(REVIEWS), edsCluster(REVIEWS)], control_plane: { identifier: 'spar' } });
  const delta = decodeDiscovery('DeltaDiscoveryResponse', frameDeltaDiscoveryResponse({ systemVersionInfo: 'v2', typeUrl: TypeUrl.Cluster, nonce: 'm', resources: [{ name: REVIEWS, version: 'h1', resource: c }], removed: ['gone'] }));
  assert.deepEqual(delta, { system_version_info: 'v2', type_url: TypeUrl.Cluster, nonce: 'm', resources: [{ name: REVIEWS, version: 'h1', resource: edsCluster(REVIEWS) }], removed_resources: ['gone'] });
});

test('SotW: CDS, EDS (with an empty assignment for a cluster without endpoints), LDS, RDS; all ACKed and SYNCED', async () => {
  const { server, addr } = await start();
  const p = connect(addr, 'productpage-v1-abc');
  await converge(server, p);
  const [cds, eds, lds, rds] = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration].map((t) => p.received.filter((r) => r.typeUrl === t).at(-1)!);
  assert.deepEqual(names(cds), [RATINGS, REVIEWS].sort());
  const cla = eds.resources();
  assert.deepEqual(cla.map((x) => x.cluster_name).sort(), [RATINGS, REVIEWS].sort());
  assert.deepEqual(cla.find((x) => x.cluster_name === RATINGS), { '@type': TypeUrl.ClusterLoadAssignment, cluster_name: RATINGS });
  assert.deepEqual(names(lds), ['0.0.0.0_9080']);
  assert.deepEqual(names(rds), ['9080']);
  const st = syncStatus(server)[0];
  assert.equal(st.proxy, 'productpage-v1-abc.default');
  for (const t of ['CDS', 'EDS', 'LDS', 'RDS'] as const) assert.equal(st.types[t].status, 'SYNCED', t);
  assert.equal(st.types.SDS.status, 'NOT SENT');
});

test('pushes are scoped: a route change sends RDS only, an unchanged type nothing, an endpoint change EDS for that service only', async () => {
  const { server, addr } = await start();
  const p = connect(addr, 'productpage-v1-abc');
  await converge(server, p);

  let before = p.received.length;
  const push = basePush();
  push[TypeUrl.RouteConfiguration] = [routeConfig('9080', [{ name: 'reviews', domains: ['reviews', 'reviews.default'], cluster: REVIEWS }])];
  server.pushAll(push, { full: true, kinds: new Set(['VirtualService']), start: Date.now(), reason: 'test' });
  await settle(server);
  assert.deepEqual(typesOf(p.received.slice(before)), ['RDS']);

  before = p.received.length;
  server.pushAll(push, { full: true, kinds: new Set(['DestinationRule']), start: Date.now(), reason: 'no-op' });
  await settle(server);
  assert.deepEqual(typesOf(p.received.slice(before)), [], 'clusters did not change: nothing sent');

  before = p.received.length;
  const push2 = { ...push, [TypeUrl.ClusterLoadAssignment]: [endpoints(REVIEWS, [['10.88.0.5', 9080], ['10.88.0.6', 9080]]), endpoints(RATINGS, [['10.88.0.7', 9080]])] };
  server.pushAll(push2, { full: false, kinds: new Set(['EndpointSlice']), edsHosts: new Set(['reviews.default.svc.cluster.local']), start: Date.now(), reason: 'endpoints' });
  await settle(server);
  const got = p.received.slice(before);
  assert.deepEqual(typesOf(got), ['EDS']);
  assert.deepEqual(got[0].resources().map((r) => r.cluster_name), [REVIEWS]);
  assert.equal((got[0].resources()[0].endpoints as EnvoyJson[])[0].lb_endpoints instanceof Array, true);
});

test('a cluster change re-sends endpoints, in CDS-then-EDS order', async () => {
  const { server, addr } = await start();
  const p = connect(addr, 'productpage-v1-abc');
  await converge(server, p);
  const before = p.received.length;
  const push = basePush();
  push[TypeUrl.Cluster] = [{ ...edsCluster(REVIEWS), connect_timeout: '2s' }, edsCluster(RATINGS)];
  server.pushAll(push, { full: true, kinds: new Set(['DestinationRule']), start: Date.now(), reason: 'dr' });
  await settle(server);
  assert.deepEqual(typesOf(p.received.slice(before)), ['CDS', 'EDS']);
});

test('one encoding per distinct resource, shared by every proxy', async () => {
  const { server, addr } = await start();
  const ps = Array.from({ length: 10 }, (_, i) => connect(addr, `sleep-${i}`));
  await Promise.all(ps.map((p) => converge(server, p)));
  // 2 clusters + 1 CLA + 1 placeholder CLA + 1 listener + 1 route
  assert.equal(server.cache.encodes, 6);
});

test('a resource Envoy would reject is dropped before the push; the proxy keeps the rest and its last good version', async () => {
  const { server, addr } = await start();
  const p = connect(addr, 'productpage-v1-abc');
  await converge(server, p);
  const drops: string[] = [];
  server.on('drop', (d) => drops.push(d.name));
  const push = basePush();
  const badListener = httpListener('0.0.0.0_9080', '0.0.0.0', 9080, '9080');
  // router not last: Envoy refuses the whole listener
  const hcm = ((badListener.filter_chains as EnvoyJson[])[0].filters as EnvoyJson[])[0].typed_config as EnvoyJson;
  hcm.http_filters = [...(hcm.http_filters as EnvoyJson[]), { name: 'envoy.filters.http.fault', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault' } }];
  push[TypeUrl.Listener] = [badListener, httpListener('0.0.0.0_9090', '0.0.0.0', 9090, '9090')];
  push[TypeUrl.Cluster] = [edsCluster(REVIEWS), edsCluster(RATINGS), { ...edsCluster('outbound|1||typo'), conect_timeout: '1s' }];
  push[TypeUrl.RouteConfiguration] = [routeConfig('9080', [{ name: 'a', domains: ['x'], cluster: REVIEWS }, { name: 'b', domains: ['x'], cluster: RATINGS }])];
  const before = p.received.length;
  server.pushAll(push, { full: true, kinds: new Set(), start: Date.now(), reason: 'bad' });
  await settle(server);
  assert.deepEqual(drops.sort(), ['0.0.0.0_9080', '9080', 'outbound|1||typo']);
  const got = p.received.slice(before);
  const lds = got.find((r) => r.typeUrl === TypeUrl.Listener)!;
  const listeners = lds.resources();
  assert.deepEqual(listeners.map((l) => l.name).sort(), ['0.0.0.0_9080', '0.0.0.0_9090']);
  // the old good 0.0.0.0_9080 (router last) is what was sent
  const kept = listeners.find((l) => l.name === '0.0.0.0_9080')!;
  assert.equal(((((kept.filter_chains as EnvoyJson[])[0].filters as EnvoyJson[])[0].typed_config as EnvoyJson).http_filters as EnvoyJson[]).length, 1);
  assert.ok(!got.some((r) => r.typeUrl === TypeUrl.Cluster), 'clusters unchanged once the bad one is dropped');
  assert.ok([...server.dropped.values()].some((d) => /duplicate entry of domain x/.test(d.error)));
  assert.ok([...server.dropped.values()].some((d) => /conect_timeout/.test(d.error)));
});

test('a NACK is recorded with Envoy\'s error, shows as NACKED, is not answered with the same config, and clears on the next ACK', async () => {
  const { server, addr } = await start();
  let rejectRoutes = false;
  const p = connect(addr, 'reviews-v1-xyz', { reject: (r) => (rejectRoutes && r.typeUrl === TypeUrl.RouteConfiguration ? 'Only unique values for domains are permitted' : undefined) });
  await converge(server, p);
  const nacks: string[] = [];
  server.on('nack', (e) => nacks.push(e.error));
  rejectRoutes = true;
  const push = basePush();
  push[TypeUrl.RouteConfiguration] = [routeConfig('9080', [{ name: 'reviews', domains: ['reviews', 'r2'], cluster: REVIEWS }])];
  server.pushAll(push, { full: true, kinds: new Set(['VirtualService']), start: Date.now(), reason: 'vs' });
  await until(() => nacks.length === 1);
  const before = p.received.length;
  await settle(server);
  assert.equal(p.received.length, before, 'no re-push after a NACK');
  const st = syncStatus(server)[0];
  assert.equal(st.types.RDS.status, 'NACKED');
  assert.match(st.types.RDS.nack?.message ?? '', /unique values for domains/);
  rejectRoutes = false;
  push[TypeUrl.RouteConfiguration] = [routeConfig('9080', [{ name: 'reviews', domains: ['reviews', 'r3'], cluster: REVIEWS }])];
  server.pushAll(push, { full: true, kinds: new Set(['VirtualService']), start: Date.now(), reason: 'vs fixed' });
  await until(() => syncStatus(server)[0].types.RDS.status === 'SYNCED');
});

test('delta: wildcard CDS, named EDS; later pushes carry only what changed and name what was removed', async () => {
  const { server, addr } = await start();
  const p = connect(addr, 'details-v1-q', { delta: true });
  await converge(server, p);
  const cds = p.received.find((r) => r.typeUrl === TypeUrl.Cluster)!;
  assert.deepEqual(cds.raw.map((r) => r.name).sort(), [RATINGS, REVIEWS].sort());
  const before = p.received.length;
  const push = basePush();
  push[TypeUrl.Cluster] = [{ ...edsCluster(REVIEWS), connect_timeout: '3s' }];
  server.pushAll(push, { full: true, kinds: new Set(['DestinationRule']), start: Date.now(), reason: 'dr' });
  await settle(server);
  const got = p.received.slice(before);
  assert.deepEqual(typesOf(got), ['CDS', 'EDS']);
  assert.deepEqual(got[0].raw.map((r) => r.name), [REVIEWS]);
  assert.deepEqual(got[0].removed, [RATINGS]);
  // The proxy ACKs on receipt; the server sees that ACK a moment later (it was once read too early: STALE).
  await until(() => syncStatus(server)[0].types.CDS.status === 'SYNCED');
});

test('a stream whose node id is unusable is refused', async () => {
  const { server, addr } = await start();
  const p = new SimulatedProxy(addr, { id: 'nonsense' });
  proxies.push(p);
  const err = await new Promise<Error>((resolve) => {
    p.on('error', resolve);
    p.subscribe(TypeUrl.Cluster);
  });
  assert.match(err.message, /INVALID_ARGUMENT|not type~ip/);
  assert.equal(server.connections.size, 0);
});

test('pushes that arrive while proxies are still queued merge: each proxy gets one response per type, from the newest push context', async () => {
  const { server, addr } = await start();
  const ps = Array.from({ length: 5 }, (_, i) => connect(addr, `merge-${i}`));
  await Promise.all(ps.map((p) => converge(server, p)));
  const before = ps.map((p) => p.received.length);
  const a = basePush();
  a[TypeUrl.RouteConfiguration] = [routeConfig('9080', [{ name: 'reviews', domains: ['a'], cluster: REVIEWS }])];
  const b = basePush();
  b[TypeUrl.RouteConfiguration] = [routeConfig('9080', [{ name: 'reviews', domains: ['b'], cluster: REVIEWS }])];
  server.pushAll(a, { full: true, kinds: new Set(['VirtualService']), start: Date.now(), reason: 'a' });
  server.pushAll(b, { full: true, kinds: new Set(['VirtualService']), start: Date.now(), reason: 'b' });
  await server.pushed();
  await settle(server);
  ps.forEach((p, i) => {
    const got = p.received.slice(before[i]);
    assert.deepEqual(typesOf(got), ['RDS']);
    assert.deepEqual((got[0].resources()[0].virtual_hosts as EnvoyJson[])[0].domains, ['b']);
  });
});

test('a generator that throws leaves the proxy with its config and the stream open', async () => {
  const { server, addr } = await start();
  const p = connect(addr, 'throws-1');
  await converge(server, p);
  const errors: string[] = [];
  server.on('generatorError', (e) => errors.push(e.error));
  const before = p.received.length;
  const orig = staticGenerator.generate;
  staticGenerator.generate = () => {
    throw new Error('boom');
  };
  try {
    server.pushAll(basePush(), { full: true, kinds: new Set(), start: Date.now(), reason: 'boom' });
    await server.pushed();
  } finally {
    staticGenerator.generate = orig;
  }
  assert.ok(errors.length > 0 && errors.every((e) => e === 'boom'));
  assert.equal(p.received.length, before);
  const push = basePush();
  push[TypeUrl.RouteConfiguration] = [routeConfig('9080', [{ name: 'reviews', domains: ['after'], cluster: REVIEWS }])];
  server.pushAll(push, { full: true, kinds: new Set(['VirtualService']), start: Date.now(), reason: 'after' });
  await p.next((r) => r.typeUrl === TypeUrl.RouteConfiguration);
});
