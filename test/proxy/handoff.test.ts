/**
 * use_original_dst hand-off and ORIGINAL_DST clusters, in-process with a stand-in for
 * SO_ORIGINAL_DST (the real one needs iptables; see native-original-dst / iptables-capture tests):
 * a connection to virtualOutbound whose original destination is 127.0.0.1:<port> is handed to the
 * bind_to_port:false listener for that address; with no such listener it stays on virtualOutbound,
 * whose PassthroughCluster (ORIGINAL_DST) connects to the original destination itself.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server } from 'node:net';
import { ConfigErrors } from '../../src/proxy/config/fields.js';
import { ListenerManager } from '../../src/proxy/listener/listener-manager.js';
import { ClusterManager } from '../../src/proxy/cluster/cluster-manager.js';
import { StatsStore } from '../../src/proxy/stats/stats.js';
import type { EnvoyJson } from '../../src/xds/codec.js';

const servers: Server[] = [];
async function upstream(name: string): Promise<number> {
  const s = createServer((c) => { c.on('error', () => {}); c.end(`${name}\n`); });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  servers.push(s);
  return (s.address() as { port: number }).port;
}
const tcp = (cluster: string) => ({ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: cluster, cluster } }] });
function read(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => (out += d));
    s.on('close', () => resolve(out.trim()));
    s.on('error', () => resolve(out.trim()));
  });
}

let lm: ListenerManager | undefined;
let cm: ClusterManager | undefined;
after(async () => {
  await lm?.close();
  cm?.close();
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
});

test('virtualOutbound hands connections to the listener of their original destination; passthrough otherwise', async () => {
  const servicePort = await upstream('service-upstream');
  const direct = await upstream('direct');
  const stats = new StatsStore();
  cm = new ClusterManager(stats);
  const errs = new ConfigErrors();
  cm.apply(cm.compile([
    { name: 'svc', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'svc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: servicePort } } } }] }] } },
    { name: 'PassthroughCluster', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: '1s' },
  ] as unknown as EnvoyJson[], errs), true);
  lm = new ListenerManager({ clusters: cm, routes: new Map(), stats, nodeMetadata: {} }, 1000, () => {});
  // The "service VIP" 127.0.0.1:9 (nothing listens there): only reachable through the hand-off.
  let target = { address: '127.0.0.1', port: 9 };
  lm.originalDst = () => target;
  const cfgs = lm.compile([
    { name: 'virtualOutbound', address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, use_original_dst: true, filter_chains: [{ name: 'PassthroughFilterChain', ...tcp('PassthroughCluster') }] },
    { name: '127.0.0.1_9', address: { socket_address: { address: '127.0.0.1', port_value: 9 } }, bind_to_port: false, filter_chains: [tcp('svc')] },
  ] as unknown as EnvoyJson[], errs);
  assert.deepEqual(errs.list, []);
  assert.deepEqual(await lm.apply(cfgs, '1', false), []);
  const port = lm.boundPort('virtualOutbound')!;
  assert.equal(await read(port), 'service-upstream', 'handed to the listener for 127.0.0.1:9');
  target = { address: '127.0.0.1', port: direct };
  assert.equal(await read(port), 'direct', 'no listener for it: PassthroughCluster connects to the original destination');
});
