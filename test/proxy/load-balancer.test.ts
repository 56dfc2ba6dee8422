/**
 * Load balancers as Envoy documents them, in-process: round robin (equal and weighted shares),
 * EDS health (UNHEALTHY/DRAINING excluded, panic mode under 50% healthy), least request picking
 * the idler host, ring hash and Maglev keeping a key on one host and moving few keys when a host
 * goes, locality weights multiplying endpoint weights.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Host, type HealthStatus } from '../../src/proxy/cluster/host.js';
import { LeastRequest, Maglev, RingHash, RoundRobin, hashString, type LoadBalancer } from '../../src/proxy/lb/load-balancer.js';
import { ConfigErrors, Fields } from '../../src/proxy/config/fields.js';
import { readLoadAssignment } from '../../src/proxy/cluster/cluster.js';
import type { EnvoyJson } from '../../src/xds/codec.js';

const pool = { maxConnections: 1, idleTimeoutMs: 0, maxRequestsPerConnection: 0 };
const host = (i: number, weight = 1, health: HealthStatus = 'HEALTHY') => new Host(`10.0.0.${i}`, 80, weight, health, '', undefined, pool);

function shares(lb: LoadBalancer, n: number, hash?: () => number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const h = lb.choose(hash ? { hash: hash() } : undefined)!;
    m.set(h.ip, (m.get(h.ip) ?? 0) + 1);
  }
  return m;
}

test('round robin: equal shares, weighted shares', () => {
  const rr = new RoundRobin();
  rr.update([host(1), host(2), host(3)], 50);
  assert.deepEqual([...shares(rr, 300).values()], [100, 100, 100]);
  const w = new RoundRobin();
  w.update([host(1, 1), host(2, 3)], 50);
  const s = shares(w, 400);
  assert.equal(s.get('10.0.0.1'), 100);
  assert.equal(s.get('10.0.0.2'), 300);
});

test('EDS health: unhealthy and draining hosts get nothing; panic mode below the threshold uses all', () => {
  const rr = new RoundRobin();
  rr.update([host(1), host(2, 1, 'UNHEALTHY'), host(3, 1, 'DRAINING'), host(4, 1, 'UNKNOWN')], 50);
  assert.deepEqual([...shares(rr, 100).keys()].sort(), ['10.0.0.1', '10.0.0.4']);
  const panic = new RoundRobin();
  panic.update([host(1), host(2, 1, 'UNHEALTHY'), host(3, 1, 'UNHEALTHY')], 50);
  assert.equal(shares(panic, 90).size, 3, 'panic: all hosts');
  const noPanic = new RoundRobin();
  noPanic.update([host(1), host(2, 1, 'UNHEALTHY'), host(3, 1, 'UNHEALTHY')], 0);
  assert.deepEqual([...shares(noPanic, 30).keys()], ['10.0.0.1'], 'threshold 0 disables panic');
});

test('least request prefers the host with fewer active requests', () => {
  const a = host(1), b = host(2);
  a.active = 10;
  const lr = new LeastRequest(2);
  lr.update([a, b], 50);
  const s = shares(lr, 1000);
  assert.ok((s.get('10.0.0.2') ?? 0) > 700, JSON.stringify([...s]));
});

for (const [name, make] of [['ring hash', () => new RingHash(1024)], ['maglev', () => new Maglev(65537)]] as const) {
  test(`${name}: a key stays on one host; removing a host moves only its keys`, () => {
    const hosts = [1, 2, 3, 4].map((i) => host(i));
    const lb = make();
    lb.update(hosts, 50);
    const keys = Array.from({ length: 400 }, (_, i) => hashString(`user-${i}`));
    const before = keys.map((k) => lb.choose({ hash: k })!.ip);
    assert.deepEqual(keys.map((k) => lb.choose({ hash: k })!.ip), before, 'stable');
    lb.update(hosts.slice(0, 3), 50);
    const after = keys.map((k) => lb.choose({ hash: k })!.ip);
    const moved = before.filter((b, i) => b !== '10.0.0.4' && b !== after[i]).length;
    assert.ok(moved < keys.length * 0.1, `${moved} keys moved off surviving hosts`);
    assert.ok(new Set(before).size === 4);
  });
  test(`${name}: short keys that differ in one character spread evenly over hosts that differ only in port`, () => {
    // Bug: FNV-1a without a finaliser put u0..u15 (and the hosts' ring points) in narrow bands of the
    // 32-bit space, so every such key could land on one host (session affinity pinned all users together).
    for (const base of [40001, 41234, 52000]) {
      const hosts = [0, 1, 2].map((i) => new Host('127.0.0.1', base + i * 7, 1, 'HEALTHY', '', undefined, pool));
      const lb = make();
      lb.update(hosts, 50);
      const count = new Map<number, number>();
      for (let k = 0; k < 3000; k++) {
        const h = lb.choose({ hash: hashString(`u${k}`) })!;
        count.set(h.port, (count.get(h.port) ?? 0) + 1);
      }
      for (const hst of hosts) {
        const c = count.get(hst.port) ?? 0;
        assert.ok(c > 700 && c < 1300, `port ${hst.port}: ${c} of 3000 keys (${JSON.stringify([...count])})`);
      }
    }
  });
}

test('locality weights multiply endpoint weights (ClusterLoadAssignment)', () => {
  const errs = new ConfigErrors();
  const eps = readLoadAssignment(new Fields({
    cluster_name: 'c',
    endpoints: [
      { locality: { region: 'r1', zone: 'z1' }, load_balancing_weight: 3, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } }, load_balancing_weight: 2 }] },
      { locality: { region: 'r2' }, load_balancing_weight: 1, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.2', port_value: 80 } } }, health_status: 'UNHEALTHY' }] },
    ],
  } as EnvoyJson, 'CLA', errs));
  assert.deepEqual(errs.list, []);
  assert.deepEqual(eps.map((e) => [e.ip, e.weight, e.health, e.locality]), [['10.0.0.1', 6, 'UNKNOWN', 'r1/z1/'], ['10.0.0.2', 1, 'UNHEALTHY', 'r2//']]);
});
