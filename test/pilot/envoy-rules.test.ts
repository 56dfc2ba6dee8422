/**
 * The pre-push rules (src/xds/server/envoy-rules.ts) against Envoy itself: each case is run
 * through `envoy --mode validate` as static config, and the rule must flag exactly the cases Envoy
 * refuses — so a rule never drops a resource Envoy would take, and the cases it claims to catch
 * really are NACKs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EnvoyJson } from '../../src/xds/codec.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { envoyRuleProblem } from '../../src/xds/server/envoy-rules.js';
import { HCM, ROUTER } from './ads-fixtures.js';

const router = { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } };
const fault = { name: 'envoy.filters.http.fault', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault' } };
const cluster = (name: string, extra: EnvoyJson = {}): EnvoyJson => ({ name, type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 1 } } } }] }] }, ...extra });
const vh = (name: string, domains: string[], route: EnvoyJson = { match: { prefix: '/' }, route: { cluster: 'c' } }): EnvoyJson => ({ name, domains, routes: [route] });
const hcm = (routeConfig: EnvoyJson, filters: EnvoyJson[] = [router]): EnvoyJson => ({ name: 'envoy.filters.network.http_connection_manager', typed_config: { '@type': HCM, stat_prefix: 's', route_config: { name: 'r', ...routeConfig }, http_filters: filters } });
const listener = (chains: EnvoyJson[]): EnvoyJson => ({ name: 'l', address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, filter_chains: chains });

interface Case {
  name: string;
  listener?: EnvoyJson;
  cluster?: EnvoyJson;
}

const CASES: Case[] = [
  { name: 'a plain listener and cluster', listener: listener([{ filters: [hcm({ virtual_hosts: [vh('a', ['a'])] })] }]), cluster: cluster('c') },
  { name: 'duplicate domain across virtual hosts', listener: listener([{ filters: [hcm({ virtual_hosts: [vh('a', ['x', 'y']), vh('b', ['y'])] })] }]) },
  { name: 'duplicate virtual host name (Envoy takes it)', listener: listener([{ filters: [hcm({ virtual_hosts: [vh('a', ['x']), vh('a', ['y'])] })] }]) },
  { name: 'router not the last http filter', listener: listener([{ filters: [hcm({ virtual_hosts: [vh('a', ['a'])] }, [router, fault])] }]) },
  { name: 'no router at all', listener: listener([{ filters: [hcm({ virtual_hosts: [vh('a', ['a'])] }, [fault])] }]) },
  { name: 'weighted clusters summing to 0', listener: listener([{ filters: [hcm({ virtual_hosts: [vh('a', ['a'], { match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'c', weight: 0 }] } } })] })] }]) },
  { name: 'a regex RE2 refuses (lookahead)', listener: listener([{ filters: [hcm({ virtual_hosts: [vh('a', ['a'], { match: { safe_regex: { regex: '^/(?=x)' } }, route: { cluster: 'c' } })] })] }]) },
  { name: 'a regex RE2 takes', listener: listener([{ filters: [hcm({ virtual_hosts: [vh('a', ['a'], { match: { safe_regex: { regex: '^/api/v[0-9]+/.*' } }, route: { cluster: 'c' } })] })] }]) },
  { name: 'two filter chains with the same match', listener: listener([{ filter_chain_match: { destination_port: 80 }, filters: [hcm({ virtual_hosts: [vh('a', ['a'])] })] }, { filter_chain_match: { destination_port: 80 }, filters: [hcm({ virtual_hosts: [vh('b', ['b'])] })] }]) },
  { name: 'two filter chains with the same name but different matches', listener: listener([{ name: 'same', filter_chain_match: { destination_port: 80 }, filters: [hcm({ virtual_hosts: [vh('a', ['a'])] })] }, { name: 'same', filter_chain_match: { destination_port: 81 }, filters: [hcm({ virtual_hosts: [vh('b', ['b'])] })] }]) },
  { name: 'connect_timeout of 0s', cluster: cluster('c', { connect_timeout: '0s' }) },
];

function envoyValidates(c: Case, dir: string, i: number): Promise<{ ok: boolean; output: string }> {
  const file = join(dir, `case-${i}.json`);
  writeFileSync(file, JSON.stringify({ static_resources: { listeners: c.listener ? [c.listener] : [], clusters: [c.cluster ?? cluster('c')] } }));
  return new Promise((resolve) => {
    execFile(process.env.ENVOY_BIN ?? 'envoy', ['--mode', 'validate', '-c', file, '--disable-hot-restart', '-l', 'critical'], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ ok: !err, output: (stdout + stderr).split('\n').filter((l) => /critical|error/i.test(l)).join('\n') });
    });
  });
}

test('each pre-push rule flags exactly what `envoy --mode validate` refuses', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spar-rules-'));
  try {
    const verdicts = await Promise.all(CASES.map((c, i) => envoyValidates(c, dir, i)));
    CASES.forEach((c, i) => {
      const ours = (c.listener && envoyRuleProblem(TypeUrl.Listener, c.listener)) ?? (c.cluster && envoyRuleProblem(TypeUrl.Cluster, c.cluster));
      assert.equal(ours === undefined, verdicts[i].ok, `${c.name}: Envoy ${verdicts[i].ok ? 'accepts' : `refuses (${verdicts[i].output.slice(-300)})`}, Spar's rule says ${ours ?? 'fine'}`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
