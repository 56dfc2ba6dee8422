/**
 * A config push every 100 ms for 60 s under steady load loses no request. The in-process control
 * plane (helpers/control-plane.ts) rotates through route changes (cluster a, cluster b, a weighted
 * split), endpoint changes, cluster changes and listener changes (which drain the old filter chain)
 * while keep-alive clients send requests without pause. Every request must get a 200, and the
 * upstreams must have seen exactly as many requests as the clients got answers (none lost, none
 * sent twice). Real Envoy 1.40 runs the same pushes and load beside it, as the referee.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { freePort } from '../helpers/envoy.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import type { EnvoyJson } from '../../src/xds/codec.js';
import { startProxy, type Envoy, type ProxyKind } from './helpers/proxies.js';
import { startUpstream, type Upstream } from './helpers/upstreams.js';
import { ControlPlane } from './helpers/control-plane.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
const DURATION_MS = Number(process.env.SPAR_PUSH_LOAD_MS ?? 60_000);
const PUSH_EVERY_MS = 100;
const CLIENTS = 8;

const edsCluster = (name: string, connectTimeout: string): EnvoyJson => ({ name, type: 'EDS', connect_timeout: connectTimeout, eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name } });
const assignment = (name: string, ports: number[]): EnvoyJson => ({ cluster_name: name, endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } })) }] });
const listener = (port: number, generation: number): EnvoyJson => ({
  name: 'http', address: { socket_address: { address: '127.0.0.1', port_value: port } },
  filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: {
    '@type': HCM, stat_prefix: `http_${generation % 2}`, rds: { route_config_name: 'r1', config_source: { ads: {}, resource_api_version: 'V3' } }, http_filters: [ROUTER],
  } }] }],
});
const routes = (step: number): EnvoyJson => {
  const action: EnvoyJson = step % 3 === 0 ? { cluster: 'ca' } : step % 3 === 1 ? { cluster: 'cb' } : { weighted_clusters: { clusters: [{ name: 'ca', weight: 50 }, { name: 'cb', weight: 50 }] } };
  return { name: 'r1', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { ...action, timeout: '5s' }, response_headers_to_add: [{ header: { key: 'x-step', value: String(step) } }] }] }] };
};

function adsBootstrap(xdsPort: number, nodeId: string): EnvoyJson {
  return {
    node: { id: nodeId, cluster: 'app.default', metadata: { NAMESPACE: 'default' } },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    dynamic_resources: {
      lds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' },
      cds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' },
      ads_config: { api_type: 'GRPC', set_node_on_first_message_only: true, transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] },
    },
    static_resources: {
      clusters: [{
        name: 'xds-grpc', type: 'STATIC', connect_timeout: '1s',
        load_assignment: { cluster_name: 'xds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: xdsPort } } } }] }] },
        typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } },
      }],
    },
  };
}

interface Side { kind: ProxyKind; cp: ControlPlane; proxy: Envoy; port: number; a: Upstream; b: Upstream; a2: Upstream }
const sides: Side[] = [];

before(async () => {
  for (const kind of ['spar', 'envoy'] as ProxyKind[]) {
    const a = await startUpstream('a'), b = await startUpstream('b'), a2 = await startUpstream('a2');
    const cp = new ControlPlane();
    await cp.start();
    const port = await freePort();
    cp.set(TypeUrl.Cluster, [edsCluster('ca', '1s'), edsCluster('cb', '1s')]);
    cp.set(TypeUrl.ClusterLoadAssignment, [assignment('ca', [a.port]), assignment('cb', [b.port])]);
    cp.set(TypeUrl.Listener, [listener(port, 0)]);
    cp.set(TypeUrl.RouteConfiguration, [routes(0)]);
    const proxy = await startProxy(kind, adsBootstrap(cp.port, `sidecar~127.0.0.1~app-${kind}.default~default.svc.cluster.local`));
    sides.push({ kind, cp, proxy, port, a, b, a2 });
  }
});

after(async () => {
  for (const s of sides) {
    await s.proxy.stop();
    await s.cp.stop();
    for (const u of [s.a, s.b, s.a2]) await u.close();
  }
});

const errors: string[] = [];
function get(agent: Agent, port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/load', agent, headers: { host: 'load.test' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(-1));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      errors.push(`${port}: ${e.code ?? ''} ${e.message}`);
      resolve(-1);
    });
    req.end();
  });
}

async function waitServing(port: number): Promise<void> {
  const agent = new Agent({ keepAlive: false });
  const end = Date.now() + 20_000;
  while ((await get(agent, port)) !== 200) {
    if (Date.now() > end) throw new Error(`proxy on ${port} never served`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test(`a config push every ${PUSH_EVERY_MS} ms for ${DURATION_MS / 1000} s under steady load loses no request`, { timeout: DURATION_MS + 60_000 }, async (t) => {
  await Promise.all(sides.map((s) => waitServing(s.port)));
  errors.length = 0;
  const results = await Promise.all(sides.map(async (s) => {
    const before = s.a.requests + s.b.requests + s.a2.requests;
    const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
    const codes = new Map<number, number>();
    let stop = false;
    let step = 0;
    // Pushes: routes, endpoints, clusters, listeners in turn.
    const kinds = (process.env.SPAR_PUSH_KINDS ?? '0,1,2,3').split(',').map(Number);
    const pusher = setInterval(() => {
      step++;
      const k = kinds[step % kinds.length];
      switch (k) {
        case 0: s.cp.set(TypeUrl.RouteConfiguration, [routes(step)]); break;
        case 1: s.cp.set(TypeUrl.ClusterLoadAssignment, [assignment('ca', step % 8 === 1 ? [s.a.port, s.a2.port] : [s.a.port]), assignment('cb', [s.b.port])]); break;
        case 2: s.cp.set(TypeUrl.Cluster, [edsCluster('ca', step % 8 === 2 ? '2s' : '1s'), edsCluster('cb', '1s')]); break;
        case 3: s.cp.set(TypeUrl.Listener, [listener(s.port, step)]); break;
      }
    }, PUSH_EVERY_MS);
    const end = Date.now() + DURATION_MS;
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      while (!stop && Date.now() < end) {
        const code = await get(agent, s.port);
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }));
    stop = true;
    clearInterval(pusher);
    agent.destroy();
    const sent = [...codes.values()].reduce((x, y) => x + y, 0);
    const upstream = s.a.requests + s.b.requests + s.a2.requests - before;
    const acks = s.cp.requests.filter((r) => r.response_nonce && !r.error_detail).length;
    const nacks = s.cp.nacks().length;
    return { kind: s.kind, sent, ok: codes.get(200) ?? 0, codes: Object.fromEntries(codes), upstream, pushes: step, acks, nacks };
  }));
  for (const e of errors.slice(0, 10)) t.diagnostic(`client error: ${e}`);
  for (const r of results) t.diagnostic(`${r.kind}: ${r.sent} requests, ${r.ok} × 200, codes ${JSON.stringify(r.codes)}, upstream saw ${r.upstream}; ${r.pushes} pushes, ${r.acks} ACKs, ${r.nacks} NACKs`);
  for (const r of results) {
    assert.equal(r.nacks, 0, `${r.kind}: NACKs`);
    assert.ok(r.pushes >= (DURATION_MS / PUSH_EVERY_MS) * 0.8, `${r.kind}: only ${r.pushes} pushes`);
    assert.equal(r.ok, r.sent, `${r.kind}: every request answered 200 (${JSON.stringify(r.codes)})`);
    assert.equal(r.upstream, r.sent, `${r.kind}: the upstreams saw each request once`);
  }
});
