/**
 * The local runtime's pure parts as tables: injection decisions (namespace label, pod label and
 * annotation), pods of a Deployment, the hosts file, the kube-proxy-style DNAT rules; and the
 * non-root refusal, with a real non-root UID running the CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../src/common/paths.js';
import { parseText } from '../../src/config/parse.js';
import { NEEDS_ROOT, requireRoot } from '../../src/local/client.js';
import { injectionWanted, netnsName, podsOfDeployment, vethName } from '../../src/local/manifests.js';
import { hostsFile, serviceRules, type NetworkConfig } from '../../src/local/network.js';
import { UserError } from '../../src/common/errors.js';

test('injection: namespace label, then the pod\'s sidecar.istio.io/inject', () => {
  const cases: Array<[Record<string, string> | undefined, Record<string, string>, Record<string, string>, boolean]> = [
    [{ 'istio-injection': 'enabled' }, {}, {}, true],
    [{ 'istio-injection': 'enabled' }, { 'sidecar.istio.io/inject': 'false' }, {}, false],
    [{ 'istio-injection': 'enabled' }, {}, { 'sidecar.istio.io/inject': 'false' }, false],
    [{ 'istio-injection': 'disabled' }, { 'sidecar.istio.io/inject': 'true' }, {}, false],
    [undefined, {}, {}, false],
    [{}, { 'sidecar.istio.io/inject': 'true' }, {}, true],
    [{ 'istio.io/rev': 'default' }, {}, {}, true],
  ];
  for (const [ns, labels, annotations, want] of cases) assert.equal(injectionWanted(ns, labels, annotations), want, JSON.stringify({ ns, labels, annotations }));
});

test('a Deployment becomes replicas pods named like a ReplicaSet\'s, with the template hash label', () => {
  const yaml = `apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v2, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: reviews}}
  template:
    metadata: {labels: {app: reviews, version: v2}}
    spec:
      serviceAccountName: bookinfo-reviews
      containers: [{name: reviews, image: docker.io/istio/examples-bookinfo-reviews-v2:1.20.3}]
`;
  const d = parseText('d.yaml', yaml).resources[0]!;
  const pods = podsOfDeployment(d, { 'istio-injection': 'enabled' });
  assert.equal(pods.length, 2);
  for (const p of pods) {
    assert.match(p.name, /^reviews-v2-[a-z0-9]{10}-[a-z0-9]{5}$/);
    assert.equal(p.labels['pod-template-hash'], p.templateHash);
    assert.equal(p.serviceAccount, 'bookinfo-reviews');
    assert.equal(p.sidecar, true);
  }
  assert.notEqual(pods[0]!.name, pods[1]!.name);
  assert.deepEqual(podsOfDeployment(d, undefined).map((p) => p.name), pods.map((p) => p.name), 'names are stable');
  assert.match(netnsName('/run/spar', 'default', pods[0]!.name), /^spar-[0-9a-f]{8}$/);
  assert.ok(vethName('/run/spar', 'default', pods[0]!.name).length <= 15);
});

const net: NetworkConfig = { bridge: 'spar0', podCidr: '10.88.0.0/16', gateway: '10.88.0.1', serviceCidr: '10.96.0.0/16', dnsDomain: 'cluster.local' };
const services = [
  { name: 'reviews', namespace: 'default', vip: '10.96.0.12', ports: [{ port: 9080, protocol: 'TCP', endpoints: [{ ip: '10.88.0.11', port: 9080 }, { ip: '10.88.0.12', port: 9080 }, { ip: '10.88.0.13', port: 9080 }] }] },
  { name: 'httpbin', namespace: 'plain', vip: '10.96.0.13', ports: [{ port: 8000, protocol: 'TCP', endpoints: [{ ip: '10.88.0.20', port: 8080 }] }] },
  { name: 'empty', namespace: 'default', vip: '10.96.0.14', ports: [{ port: 80, protocol: 'TCP', endpoints: [] }] },
];

test('hosts file: FQDN, .svc, .ns for every service; the short name only within the pod\'s namespace', () => {
  const text = hostsFile(net, { name: 'productpage-v1-x', namespace: 'default', ip: '10.88.0.10' }, services);
  assert.match(text, /^10\.88\.0\.10\tproductpage-v1-x$/m);
  assert.match(text, /^10\.96\.0\.12\treviews\.default\.svc\.cluster\.local reviews\.default\.svc reviews\.default reviews$/m);
  assert.match(text, /^10\.96\.0\.13\thttpbin\.plain\.svc\.cluster\.local httpbin\.plain\.svc httpbin\.plain$/m);
});

test('service rules: one DNAT per endpoint, random with 1/n, 1/(n-1) … as kube-proxy; none for no endpoints', () => {
  assert.deepEqual(serviceRules(services), [
    '-A SPAR-SERVICES -d 10.96.0.12/32 -p tcp -m tcp --dport 9080 -m statistic --mode random --probability 0.33333 -j DNAT --to-destination 10.88.0.11:9080',
    '-A SPAR-SERVICES -d 10.96.0.12/32 -p tcp -m tcp --dport 9080 -m statistic --mode random --probability 0.50000 -j DNAT --to-destination 10.88.0.12:9080',
    '-A SPAR-SERVICES -d 10.96.0.12/32 -p tcp -m tcp --dport 9080 -j DNAT --to-destination 10.88.0.13:9080',
    '-A SPAR-SERVICES -d 10.96.0.13/32 -p tcp -m tcp --dport 8000 -j DNAT --to-destination 10.88.0.20:8080',
  ]);
});

test('without root: one sentence saying why and how, exit code 77', () => {
  assert.throws(() => requireRoot('up', 1000), (e: unknown) => e instanceof UserError && e.exitCode === 77 && e.message === NEEDS_ROOT('up'));
  assert.doesNotThrow(() => requireRoot('up', 0));
  assert.match(NEEDS_ROOT('up'), /^spar up needs root, because .*; run it as root, e\.g\. `sudo spar up`/);
});

test('without root, for real: `spar up` as UID 65534 refuses before touching anything', { skip: process.getuid?.() !== 0 ? 'needs root to switch to another UID' : undefined }, () => {
  const fromSource = import.meta.url.endsWith('.ts');
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, join(repoRoot, 'bin', 'spar.js'), 'up', '--state-dir', '/nonexistent/spar'], {
    encoding: 'utf8', env: { ...process.env, HOME: '/tmp', ...(fromSource ? { SPAR_TSX: '1' } : {}) }, cwd: '/tmp', timeout: 60_000,
  });
  assert.equal(r.status, 77, r.stderr);
  assert.equal(r.stderr.trim(), `spar: ${NEEDS_ROOT('up')}`);
  assert.equal(r.stdout, '');
});
