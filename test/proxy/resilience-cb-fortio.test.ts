/**
 * Istio's circuit-breaking task, reproduced on the data plane alone: `fortio server` is the
 * upstream, the cluster has what Istio's DestinationRule (maxConnections: 1,
 * http1MaxPendingRequests: 1, maxRequestsPerConnection: 1) becomes in Envoy config, and
 * `fortio load -c 3 -qps 0 -n 30` goes through real Envoy 1.40 and through `spar proxy`. The share
 * of 503s is reported side by side (t.diagnostic) and must be of the same order in both; every
 * 503 must be a circuit breaker overflow (counted in upstream_rq_pending_overflow).
 * Skipped when fortio is not installed (CI installs it: go install fortio.org/fortio@latest).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/envoy.js';
import { startProxy, type Envoy, type Json, type ProxyKind } from './helpers/proxies.js';
import { send } from './helpers/client.js';

const KINDS: ProxyKind[] = ['envoy', 'spar'];
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

function findFortio(): string | undefined {
  const candidates = [process.env.FORTIO, join(homedir(), 'go', 'bin', 'fortio'), ...(process.env.PATH ?? '').split(':').map((d) => join(d, 'fortio'))];
  return candidates.find((c): c is string => !!c && existsSync(c));
}
const FORTIO = findFortio();

let server: ChildProcess | undefined;
let serverPort = 0;
const proxies = new Map<ProxyKind, { proxy: Envoy; port: number }>();

/** The cluster Istio generates for the task's DestinationRule (outbound|8000||httpbin). */
function bootstrap(port: number): Json {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [{
        name: 'http',
        address: { socket_address: { address: '127.0.0.1', port_value: port } },
        filter_chains: [{
          filters: [{
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: 'http',
              route_config: { virtual_hosts: [{ name: 'httpbin', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'httpbin', timeout: '0s' } }] }] },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
            },
          }],
        }],
      }],
      clusters: [{
        name: 'httpbin',
        type: 'STATIC',
        connect_timeout: '10s',
        circuit_breakers: { thresholds: [{ max_connections: 1, max_pending_requests: 1, max_requests: 4294967295, max_retries: 4294967295, track_remaining: true }] },
        typed_extension_protocol_options: {
          [HTTP_OPTIONS]: { '@type': `type.googleapis.com/${HTTP_OPTIONS}`, common_http_protocol_options: { max_requests_per_connection: 1 }, explicit_http_config: { http_protocol_options: {} } },
        },
        load_assignment: { cluster_name: 'httpbin', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: serverPort } } } }] }] },
      }],
    },
  };
}

before(async () => {
  if (!FORTIO) return;
  serverPort = await freePort();
  server = spawn(FORTIO, ['server', '-http-port', `127.0.0.1:${serverPort}`, '-grpc-port', 'disabled', '-redirect-port', 'disabled', '-tcp-port', 'disabled', '-udp-port', 'disabled', '-loglevel', 'Warning'], { stdio: 'ignore' });
  const end = Date.now() + 10_000;
  while ((await send(serverPort, { path: '/echo', timeoutMs: 1000 }).catch(() => ({ status: -1 }))).status !== 200) {
    if (Date.now() > end) throw new Error('fortio server did not come up');
    await new Promise((r) => setTimeout(r, 100));
  }
  await Promise.all(KINDS.map(async (kind) => {
    const port = await freePort();
    const proxy = await startProxy(kind, bootstrap(port));
    await proxy.waitReady(30_000);
    proxies.set(kind, { proxy, port });
  }));
});

after(async () => {
  for (const p of proxies.values()) await p.proxy.stop();
  server?.kill('SIGTERM');
});

interface Load {
  codes: Record<string, number>;
  total: number;
}

/** `fortio load -c 3 -qps 0 -n 30 -loglevel Warning URL`: the count of each response code. */
function fortioLoad(url: string): Promise<Load> {
  return new Promise((resolve, reject) => {
    execFile(FORTIO!, ['load', '-c', '3', '-qps', '0', '-n', '30', '-loglevel', 'Warning', url], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`fortio load failed: ${err.message}\n${stderr}`));
      const codes: Record<string, number> = {};
      for (const m of `${stdout}\n${stderr}`.matchAll(/^Code\s+(-?\d+)\s*:\s*(\d+)/gm)) codes[m[1]] = Number(m[2]);
      resolve({ codes, total: Object.values(codes).reduce((a, b) => a + b, 0) });
    });
  });
}

test("Istio's circuit-breaking task: fortio -c 3 -n 30 through Envoy and spar, 503 share of the same order", { skip: FORTIO ? false : 'fortio not installed' }, async (t) => {
  const seen: Record<string, { ok: number; overflow: number; share: number; pendingOverflow: number }> = {};
  for (const kind of KINDS) {
    const { proxy, port } = proxies.get(kind)!;
    const before = await proxy.stats('cluster.httpbin.');
    const load = await fortioLoad(`http://127.0.0.1:${port}/get`);
    const after = await proxy.stats('cluster.httpbin.');
    assert.equal(load.total, 30, `${kind}: ${JSON.stringify(load.codes)}`);
    const ok = load.codes['200'] ?? 0, overflow = load.codes['503'] ?? 0;
    assert.equal(ok + overflow, 30, `${kind}: only 200 and 503 expected: ${JSON.stringify(load.codes)}`);
    const pendingOverflow = after['cluster.httpbin.upstream_rq_pending_overflow'] - (before['cluster.httpbin.upstream_rq_pending_overflow'] ?? 0);
    seen[kind] = { ok, overflow, share: overflow / 30, pendingOverflow };
    t.diagnostic(`${kind}: Code 200 : ${ok}, Code 503 : ${overflow} (${(100 * overflow / 30).toFixed(1)} % 503), upstream_rq_pending_overflow +${pendingOverflow}`);
  }
  for (const kind of KINDS) assert.equal(seen[kind].pendingOverflow, seen[kind].overflow, `${kind}: every 503 is a pending overflow`);
  const e = seen.envoy.share, s = seen.spar.share;
  // Same order: both trip the breaker, and neither share is more than 3x the other (timing decides
  // the exact split; the machine is shared).
  assert.ok(e > 0 && s > 0, JSON.stringify(seen));
  assert.ok(s <= 3 * e && e <= 3 * s, `503 share envoy ${e.toFixed(2)} vs spar ${s.toFixed(2)}`);
});
