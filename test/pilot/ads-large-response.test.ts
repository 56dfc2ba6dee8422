/**
 * A mesh of a few thousand services makes SotW CDS and EDS responses larger than gRPC's default
 * 4 MiB receive limit (the control-plane bench's N=2,000 mesh: a 4.9 MB CDS). Envoy and Istio's
 * agent receive xDS without a limit; Spar's simulated proxies must too, or the bench's proxies
 * never get their config. And a proxy that does cut its stream over a too-large response must be
 * visible on both sides: the client's stream error, the pilot's warning and counter.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { EnvoyJson } from '../../src/xds/codec.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { XdsServer, type PushEvent, type UnackedEvent } from '../../src/xds/server/server.js';
import { SimulatedProxy } from '../../src/xds/server/client.js';
import { GRPC_DEFAULT_MAX_RECEIVE } from '../../src/xds/server/service.js';
import { staticGenerator, node, type StaticPush, type TestProxy } from './ads-fixtures.js';

const SERVICES = 3000;

/** An outbound cluster shaped like Istio's (circuit breakers, outlier detection, TLS matches, metadata, protocol options): ~1.3 KB. */
function istioCluster(i: number, subset = ''): EnvoyJson {
  const host = `svc-${i}.ns-${Math.floor(i / 50)}.svc.cluster.local`;
  const name = `outbound|8080|${subset}|${host}`;
  return {
    '@type': TypeUrl.Cluster,
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' }, service_name: name },
    connect_timeout: '10s',
    lb_policy: 'LEAST_REQUEST',
    circuit_breakers: { thresholds: [{ max_connections: 4294967295, max_pending_requests: 4294967295, max_requests: 4294967295, max_retries: 4294967295, track_remaining: true }] },
    common_lb_config: { locality_weighted_lb_config: {} },
    outlier_detection: { consecutive_5xx: 5, interval: '10s', base_ejection_time: '30s', max_ejection_percent: 100, enforcing_consecutive_5xx: 100, enforcing_success_rate: 0 },
    metadata: { filter_metadata: { istio: { services: [{ host, name: `svc-${i}`, namespace: `ns-${Math.floor(i / 50)}` }], default_original_port: 8080 } } },
    transport_socket_matches: [
      { name: 'tlsMode-istio', match: { tlsMode: 'istio' }, transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' } } },
      { name: 'tlsMode-disabled', match: {}, transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' } } },
    ],
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        common_http_protocol_options: { idle_timeout: '3600s', max_requests_per_connection: 1000 },
        use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: { max_concurrent_streams: 1073741824 } },
      },
    },
  };
}

/** Each service's cluster and one subset's (a DestinationRule with a v1 subset on each, as Istio generates). */
const push: StaticPush = { [TypeUrl.Cluster]: Array.from({ length: SERVICES }, (_, i) => [istioCluster(i), istioCluster(i, 'v1')]).flat() };
const servers: XdsServer<TestProxy, StaticPush>[] = [];
const proxies: SimulatedProxy[] = [];
after(async () => {
  for (const p of proxies) p.close();
  for (const s of servers) await s.close();
});

type Started = { server: XdsServer<TestProxy, StaticPush>; addr: string; pushes: PushEvent[]; unacked: UnackedEvent[] };
let started: Promise<Started> | undefined;
/** One server for both tests: the resources are encoded once. */
const start = () => (started ??= startServer());

async function startServer(): Promise<Started> {
  const server = new XdsServer<TestProxy, StaticPush>({ generator: staticGenerator });
  server.setPushContext(push);
  server.on('drop', (d: { error: string }) => assert.fail(`the fixture cluster was dropped: ${d.error}`));
  const pushes: PushEvent[] = [];
  const unacked: UnackedEvent[] = [];
  server.on('push', (e: PushEvent) => pushes.push(e));
  server.on('unackedAtDisconnect', (e: UnackedEvent) => unacked.push(e));
  servers.push(server);
  const port = await server.listen(0, '127.0.0.1');
  return { server, addr: `127.0.0.1:${port}`, pushes, unacked };
}

async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test(`a CDS of ${SERVICES.toLocaleString('en-US')} services (over 4 MiB) reaches a simulated proxy over real gRPC and is ACKed`, async () => {
  const { server, addr, pushes } = await start();
  const p = new SimulatedProxy(addr, node('big-cds-1.default'), { follow: false });
  proxies.push(p);
  const errors: Error[] = [];
  p.on('error', (e: Error) => errors.push(e));
  p.subscribe(TypeUrl.Cluster);
  const got = p.next((r) => r.typeUrl === TypeUrl.Cluster, 15_000);
  const failed = new Promise<never>((_, reject) => p.once('error', reject));
  const r = await Promise.race([got, failed]);
  assert.equal(r.raw.length, 2 * SERVICES);
  const sent = pushes.find((e) => e.typeUrl === TypeUrl.Cluster);
  assert.ok(sent && sent.bytes > GRPC_DEFAULT_MAX_RECEIVE, `the CDS response is over 4 MiB (${sent?.bytes} bytes)`);
  await until(() => {
    const w = [...server.connections.values()].find((c) => c.nodeId === p.node.id)?.watches.get(TypeUrl.Cluster);
    return !!w && w.nonceAcked !== '' && w.nonceAcked === w.nonceSent;
  }, 'CDS ACKed');
  assert.deepEqual(errors, []);
});

test('a proxy whose receive limit is below the response gets a visible error, and the server reports the unACKed response', async () => {
  const { server, addr, unacked } = await start();
  const p = new SimulatedProxy(addr, node('small-limit-1.default'), { follow: false, channelOptions: { 'grpc.max_receive_message_length': GRPC_DEFAULT_MAX_RECEIVE } });
  proxies.push(p);
  const error = new Promise<Error>((resolve, reject) => {
    p.once('error', resolve);
    setTimeout(() => reject(new Error('no stream error in 15 s')), 15_000).unref();
  });
  p.subscribe(TypeUrl.Cluster);
  const e = await error;
  assert.match(e.message, /RESOURCE_EXHAUSTED/);
  await until(() => unacked.some((u) => u.con.nodeId === p.node.id), 'server saw the stream end');
  const u = unacked.find((x) => x.con.nodeId === p.node.id)!;
  assert.equal(u.typeUrl, TypeUrl.Cluster);
  assert.ok(u.largestBytes > GRPC_DEFAULT_MAX_RECEIVE);
  assert.ok(![...server.connections.values()].some((c) => c.nodeId === p.node.id));
});
