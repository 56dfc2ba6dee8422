/**
 * `spar proxy` under an xDS control plane (in-process, SotW and delta): CDS+EDS warm before LDS,
 * LDS+RDS serve traffic, ACKs carry versions, an unsupported field is NACKed by name and changes
 * nothing, route updates do not drop an in-flight request, the proxy keeps serving when the control
 * plane goes away and resubscribes when it returns.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../helpers/envoy.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import type { EnvoyJson } from '../../src/xds/codec.js';
import { startProxy, type Envoy } from './helpers/proxies.js';
import { startUpstream, type Upstream, type Echo } from './helpers/upstreams.js';
import { ControlPlane } from './helpers/control-plane.js';
import { send } from './helpers/client.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

function edsCluster(name: string): EnvoyJson {
  return { name, type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name } };
}
function assignment(name: string, ports: number[]): EnvoyJson {
  return { cluster_name: name, endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } })) }] } as EnvoyJson;
}
function listener(port: number, extra: EnvoyJson = {}): EnvoyJson {
  return {
    name: 'http', address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: {
      '@type': HCM, stat_prefix: 'http', rds: { route_config_name: 'r1', config_source: { ads: {}, resource_api_version: 'V3' } },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
      ...extra,
    } }] }],
  } as EnvoyJson;
}
function routes(cluster: string): EnvoyJson {
  return { name: 'r1', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster, timeout: '5s' } }] }] } as EnvoyJson;
}

/** A minimal ADS bootstrap (the shared helper's grows Istio's SDS and runtime layers). */
function adsBootstrap(o: { xds: string; nodeId: string; delta: boolean }): EnvoyJson {
  const [host, p] = o.xds.split(':');
  return {
    node: { id: o.nodeId, cluster: 'app.default', metadata: { NAMESPACE: 'default' } },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    dynamic_resources: {
      lds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' },
      cds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' },
      ads_config: { api_type: o.delta ? 'DELTA_GRPC' : 'GRPC', set_node_on_first_message_only: true, transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] },
    },
    static_resources: {
      clusters: [{
        name: 'xds-grpc', type: 'STATIC', connect_timeout: '1s',
        load_assignment: { cluster_name: 'xds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: Number(p) } } } }] }] },
        typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } },
      }],
    },
  } as EnvoyJson;
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const delta of [false, true]) describe(delta ? 'delta xDS' : 'SotW xDS', () => {
  const mode = delta ? 'delta' : 'SotW';
  let cp: ControlPlane;
  let proxy: Envoy;
  let a: Upstream;
  let b: Upstream;
  let port: number;

  before(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    cp = new ControlPlane();
    await cp.start();
    port = await freePort();
    cp.set(TypeUrl.Cluster, [edsCluster('ca'), edsCluster('cb')]);
    cp.set(TypeUrl.ClusterLoadAssignment, [assignment('ca', [a.port]), assignment('cb', [b.port])]);
    cp.set(TypeUrl.Listener, [listener(port)]);
    cp.set(TypeUrl.RouteConfiguration, [routes('ca')]);
    proxy = await startProxy('spar', adsBootstrap({ xds: `127.0.0.1:${cp.port}`, nodeId: 'sidecar~127.0.0.1~app-1.default~default.svc.cluster.local', delta }));
  });
  after(async () => {
    await proxy?.stop();
    await cp?.stop();
    await a?.close();
    await b?.close();
  });

  test(`${mode}: CDS, EDS, LDS, RDS arrive, are ACKed, and serve traffic`, async () => {
    await proxy.waitReady(20_000);
    const r = await send(port, { path: '/x' });
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body) as Echo).upstream, 'a');
    for (const t of [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration]) {
      // SotW ACKs carry the version; delta ACKs only the nonce.
      assert.ok(delta ? cp.acked(t).length > 0 : cp.acked(t).includes('1'), `${t} ACKed`);
    }
    assert.equal(cp.nacks().length, 0);
    const eds = cp.requests.find((q) => q.type_url === TypeUrl.ClusterLoadAssignment && (q.resource_names?.length || q.resource_names_subscribe?.length));
    assert.deepEqual([...(eds?.resource_names ?? eds?.resource_names_subscribe ?? [])].sort(), ['ca', 'cb']);
    const dump = JSON.parse(await proxy.admin('/config_dump')) as { configs: { '@type': string }[] };
    assert.deepEqual(dump.configs.map((c) => c['@type'].split('.').pop()), ['BootstrapConfigDump', 'ClustersConfigDump', 'ListenersConfigDump', 'ScopedRoutesConfigDump', 'RoutesConfigDump', 'SecretsConfigDump']);
  });

  test(`${mode}: a route update moves traffic without dropping an in-flight request`, async () => {
    const slow = send(port, { path: '/delay/600' });
    await new Promise((r) => setTimeout(r, 100));
    cp.set(TypeUrl.RouteConfiguration, [routes('cb')]);
    await until(async () => (JSON.parse((await send(port, { path: '/y' })).body) as Echo).upstream === 'b', 'route to b');
    const s = await slow;
    assert.equal(s.status, 200);
    assert.equal((JSON.parse(s.body) as Echo).upstream, 'a');
  });

  test(`${mode}: a listener update drains the old filter chain without dropping its in-flight request`, async () => {
    const slow = send(port, { path: '/delay/700' });
    await new Promise((r) => setTimeout(r, 100));
    cp.set(TypeUrl.Listener, [listener(port, { stat_prefix: 'http2', generate_request_id: false })]);
    await until(async () => (JSON.parse((await send(port, { path: '/after' })).body) as Echo).headers['x-request-id'] === undefined, 'new chain serving');
    const s = await slow;
    assert.equal(s.status, 200);
    assert.equal(typeof (JSON.parse(s.body) as Echo).headers['x-request-id'], 'string', 'the slow request ran on the old chain');
    cp.set(TypeUrl.Listener, [listener(port)]);
  });

  test(`${mode}: an unsupported field is NACKed by name and the old config keeps serving`, async () => {
    cp.set(TypeUrl.Listener, [listener(port, { tracing: { random_sampling: { value: 100 }, provider: { name: 'envoy.tracers.zipkin', typed_config: { '@type': 'type.googleapis.com/envoy.config.trace.v3.ZipkinConfig', collector_cluster: 'zipkin', collector_endpoint: '/api/v2/spans' } } } })]);
    await until(() => cp.nacks(TypeUrl.Listener).length > 0, 'a NACK');
    const n = cp.nacks(TypeUrl.Listener)[0];
    assert.match(n.error_detail?.message ?? '', /Listener "http"\.filter_chains\[0\]\.filters\[0\]\.typed_config\.tracing\.provider: tracing providers \(span export\) are not supported by spar proxy/);
    assert.equal((await send(port, { path: '/z' })).status, 200);
    assert.ok(Number((await proxy.stats('update_rejected'))['listener_manager.lds.update_rejected']) >= 1);
  });

  test(`${mode}: endpoints change with EDS; keeps serving without the control plane; resubscribes when it returns`, async () => {
    cp.set(TypeUrl.ClusterLoadAssignment, [assignment('ca', [a.port]), assignment('cb', [a.port])]);
    await until(async () => (JSON.parse((await send(port, { path: '/e' })).body) as Echo).upstream === 'a', 'EDS moved cb to a');
    const cpPort = cp.port;
    await cp.stop();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await send(port, { path: '/alone' })).status, 200, 'serves on last good config');
    cp = Object.assign(new ControlPlane(), {});
    cp.set(TypeUrl.Cluster, [edsCluster('ca'), edsCluster('cb')]);
    cp.set(TypeUrl.ClusterLoadAssignment, [assignment('ca', [b.port]), assignment('cb', [b.port])]);
    cp.set(TypeUrl.Listener, [listener(port)]);
    cp.set(TypeUrl.RouteConfiguration, [routes('ca')]);
    await cp.start(cpPort);
    await until(() => cp.connected > 0, 'reconnect', 40_000);
    await until(async () => (JSON.parse((await send(port, { path: '/back' })).body) as Echo).upstream === 'b', 'new config after reconnect', 15_000);
  });
});
