/**
 * Route decorators with `tracing` on the connection manager (no provider, as spar pilot writes it):
 * Envoy sends the decorator's operation upstream in x-envoy-decorator-operation on egress
 * (traffic_direction OUTBOUND) and drops a caller's header on ingress; without `tracing` the header
 * is left alone. Istio's egress task shows the header at the external server (TASKS.md EG-3). The
 * same bootstrap runs in real Envoy 1.40 and spar proxy; the header the upstream saw is compared.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../helpers/envoy.js';
import { startProxy, type Envoy, type ProxyKind, type Json } from './helpers/proxies.js';
import { startUpstream, type Upstream, type Echo } from './helpers/upstreams.js';
import { send } from './helpers/client.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
const TRACING = { client_sampling: { value: 100 }, random_sampling: { value: 1 }, overall_sampling: { value: 100 } };

function bootstrap(ports: Record<'out' | 'in' | 'plain', number>, up: number): Json {
  const routes = [
    { match: { prefix: '/decorated' }, route: { cluster: 'up' }, decorator: { operation: 'egress.spar.test:80/*' } },
    { match: { prefix: '/quiet' }, route: { cluster: 'up' }, decorator: { operation: 'hidden:80/*', propagate: false } },
    { match: { prefix: '/' }, route: { cluster: 'up' } },
  ];
  const listener = (name: string, port: number, direction: string | undefined, tracing: boolean): Json => ({
    name, address: { socket_address: { address: '127.0.0.1', port_value: port } }, ...(direction ? { traffic_direction: direction } : {}),
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: {
      '@type': HCM, stat_prefix: name, http_filters: [ROUTER], ...(tracing ? { tracing: TRACING } : {}),
      route_config: { name, virtual_hosts: [{ name: 'all', domains: ['*'], routes }] },
    } }] }],
  });
  return {
    node: { id: 'tracing', cluster: 'tracing' },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [listener('out', ports.out, 'OUTBOUND', true), listener('in', ports.in, 'INBOUND', true), listener('plain', ports.plain, 'OUTBOUND', false)],
      clusters: [{ name: 'up', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'up', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: up } } } }] }] } }],
    },
  };
}

let up: Upstream;
const proxies = new Map<ProxyKind, { proxy: Envoy; ports: Record<'out' | 'in' | 'plain', number> }>();

before(async () => {
  up = await startUpstream('up');
  await Promise.all((['envoy', 'spar'] as ProxyKind[]).map(async (kind) => {
    const ports = { out: await freePort(), in: await freePort(), plain: await freePort() };
    const proxy = await startProxy(kind, bootstrap(ports, up.port));
    await proxy.waitReady(30_000);
    proxies.set(kind, { proxy, ports });
  }));
});

after(async () => {
  for (const p of proxies.values()) await p.proxy.stop();
  await up.close();
});

const CASES: Array<{ id: string; listener: 'out' | 'in' | 'plain'; path: string; sent?: string }> = [
  { id: 'egress, decorated route', listener: 'out', path: '/decorated' },
  { id: 'egress, decorated route, caller sent one', listener: 'out', path: '/decorated', sent: 'mine' },
  { id: 'egress, propagate false', listener: 'out', path: '/quiet' },
  { id: 'egress, no decorator, caller sent one', listener: 'out', path: '/', sent: 'mine' },
  { id: 'ingress, caller sent one', listener: 'in', path: '/decorated', sent: 'upstream-op' },
  { id: 'ingress, none sent', listener: 'in', path: '/decorated' },
  { id: 'no tracing, decorated route', listener: 'plain', path: '/decorated' },
  { id: 'no tracing, caller sent one', listener: 'plain', path: '/decorated', sent: 'mine' },
];

test('x-envoy-decorator-operation: spar proxy and Envoy 1.40 send and drop it alike', async () => {
  const diffs: string[] = [];
  for (const c of CASES) {
    const seen: Record<string, unknown> = {};
    for (const kind of ['envoy', 'spar'] as ProxyKind[]) {
      const r = await send(proxies.get(kind)!.ports[c.listener], { path: c.path, headers: { host: 'decorator.test', ...(c.sent ? { 'x-envoy-decorator-operation': c.sent } : {}) } });
      assert.equal(r.status, 200, `${kind} ${c.id}`);
      seen[kind] = (JSON.parse(r.body) as Echo).headers['x-envoy-decorator-operation'] ?? '(none)';
    }
    if (seen.envoy !== seen.spar) diffs.push(`${c.id}: envoy=${String(seen.envoy)} spar=${String(seen.spar)}`);
  }
  assert.deepEqual(diffs, []);
});
