/**
 * `spar up` end to end with Istio's own YAML, unchanged: httpbin and sleep (samples/httpbin,
 * samples/sleep) in `default` get sidecars (real Envoy: `--proxy envoy`), copies in namespace
 * `plain` do not, and samples/httpbin/httpbin-gateway.yaml publishes httpbin through the ingress
 * gateway. Pods reach each other by service name through their VIPs (plain: kube-proxy-style DNAT;
 * with sidecars: capture → Envoy); the gateway answers on 127.0.0.1. Then the runtime is killed
 * with SIGKILL, as in a crash, and `spar down` must leave nothing behind: no namespaces, links,
 * /etc/netns entries, processes or rules. The test uses its own state dir, bridge and pod subnet.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { istioDir } from '../../src/common/paths.js';
import { cleanupState, readState, type RuntimeState } from '../../src/local/state.js';
import { runSpar } from '../helpers/cli.js';
import { captureSkipReason } from '../proxy/iptables-netns.js';

const skip = captureSkipReason();
const dir = mkdtempSync(join(tmpdir(), 'spar-up-'));
chmodSync(dir, 0o755); // proxies under UID 1337 read their bootstraps below it
const stateDir = join(dir, 'state');
const suffix = Math.random().toString(16).slice(2, 6);
const bridge = `spar-t${suffix}`;
const subnet = 100 + Math.floor(Math.random() * 150);
const common = ['--state-dir', stateDir];
let ingressPort = 0;
let snapshot: RuntimeState | undefined;

const PLAIN = `apiVersion: v1
kind: Namespace
metadata: {name: plain}
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: plain}
spec:
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: httpbin, namespace: plain}
spec:
  selector: {matchLabels: {app: httpbin}}
  template:
    metadata: {labels: {app: httpbin}}
    spec:
      containers: [{name: httpbin, image: docker.io/mccutchen/go-httpbin:v2.15.0, ports: [{containerPort: 8080}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: sleep, namespace: plain}
spec:
  selector: {matchLabels: {app: sleep}}
  template:
    metadata: {labels: {app: sleep}}
    spec:
      containers: [{name: sleep, image: curlimages/curl, command: [/bin/sleep, infinity]}]
`;

const spar = (args: string[], timeoutMs = 60_000) => runSpar([...args, ...common], { timeoutMs });

function execIn(pod: string, ns: string, cmd: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runSpar(['exec', pod, '-n', ns, ...common, '--', ...cmd], { timeoutMs: 30_000 });
}

before(async () => {
  if (skip) return;
  writeFileSync(join(dir, 'plain.yaml'), PLAIN);
  const samples = join(istioDir, 'samples');
  const r = await spar(['up', '--proxy', 'envoy', '--port', '0', '--bridge', bridge, '--pod-cidr', `10.88.${subnet}.0/24`, '--pilot-debug-port', '0', '--wait', '90',
    '-f', join(dir, 'plain.yaml'), join(samples, 'httpbin', 'httpbin.yaml'), join(samples, 'sleep', 'sleep.yaml'), join(samples, 'httpbin', 'httpbin-gateway.yaml')], 150_000);
  assert.equal(r.code, 0, `spar up failed:\n${r.stdout}\n${r.stderr}\n${existsSync(join(stateDir, 'runtime.log')) ? readFileSync(join(stateDir, 'runtime.log'), 'utf8').slice(-3000) : ''}`);
  ingressPort = Number(/ingress gateway on 127\.0\.0\.1:(\d+)/.exec(r.stdout)?.[1]);
  assert.match(r.stdout, /All pods ready in/);
  snapshot = readState(stateDir);
});

after(async () => {
  // Whatever happened above: nothing of this test may stay on the machine.
  if (!skip && existsSync(stateDir)) await cleanupState(stateDir);
  rmSync(dir, { recursive: true, force: true });
});

test('spar get pods: every pod Running and ready; sidecar pods count two containers', { skip }, async () => {
  const r = await spar(['get', 'pods', '-A']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^plain\s+httpbin-\S+\s+1\/1\s+Running/m);
  assert.match(r.stdout, /^default\s+httpbin-\S+\s+2\/2\s+Running/m);
  assert.match(r.stdout, /^default\s+sleep-\S+\s+2\/2\s+Running/m);
  assert.match(r.stdout, /^istio-system\s+istio-ingressgateway-\S+\s+1\/1\s+Running/m);
  const svc = await spar(['get', 'svc', '-n', 'plain']);
  assert.match(svc.stdout, /^httpbin\s+ClusterIP\s+10\.96\.\d+\.\d+\s+8000\/TCP/m);
  assert.match((await spar(['get', 'vs'])).stdout, /^httpbin$/m);
  assert.match((await spar(['get', 'gateways'])).stdout, /^httpbin-gateway$/m);
  assert.match((await spar(['get', 'deploy', '-n', 'plain'])).stdout, /^httpbin\nsleep$/m);
  const bad = await spar(['get', 'widgets']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown resource type "widgets"/);
});

test('without sidecars: a pod reaches another by service name, ns-qualified name and FQDN (DNAT to the pod)', { skip }, async () => {
  for (const host of ['httpbin', 'httpbin.plain', 'httpbin.plain.svc.cluster.local']) {
    const r = await execIn('sleep', 'plain', ['curl', '-s', '-m', '5', `http://${host}:8000/headers`]);
    assert.equal(r.code, 0, `${host}: ${r.stderr}`);
    const headers = (JSON.parse(r.stdout) as { headers: Record<string, string[]> }).headers;
    assert.deepEqual(headers.Host, [`${host}:8000`]);
    assert.equal(headers['X-Request-Id'], undefined, 'no proxy in the path');
  }
  const refused = await execIn('sleep', 'plain', ['curl', '-s', '-m', '5', 'http://10.96.255.254:80/']);
  assert.notEqual(refused.code, 0, 'a VIP without endpoints is refused');
});

test('with sidecars: sleep → httpbin by name goes through both Envoys', { skip }, async () => {
  const r = await execIn('sleep', 'default', ['curl', '-s', '-m', '5', 'http://httpbin:8000/headers']);
  assert.equal(r.code, 0, r.stderr);
  const headers = (JSON.parse(r.stdout) as { headers: Record<string, string[]> }).headers;
  assert.ok(headers['X-Request-Id'], `Envoy stamps requests: ${JSON.stringify(headers)}`);
  assert.deepEqual(headers['X-Forwarded-Proto'], ['http']);
});

test('the ingress gateway (Istio\'s httpbin-gateway.yaml) answers on 127.0.0.1', { skip }, async () => {
  const res = await fetch(`http://127.0.0.1:${ingressPort}/headers`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  const headers = ((await res.json()) as { headers: Record<string, string[]> }).headers;
  assert.ok(headers['X-Request-Id']);
});

test('spar logs: the app\'s and the sidecar\'s', { skip }, async () => {
  const app = await spar(['logs', 'httpbin', '-n', 'plain']);
  assert.equal(app.code, 0, app.stderr);
  assert.match(app.stdout, /listening/);
  const proxy = await spar(['logs', 'httpbin', '-c', 'istio-proxy']);
  assert.match(proxy.stdout, /agent started for sidecar~10\.88\./);
  const bad = await spar(['logs', 'httpbin', '-c', 'nope']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /choose one of \[httpbin istio-proxy\]/);
});

test('liveness: a container failing its probe (through the sidecar\'s /app-health rewrite) is restarted', { skip }, async () => {
  const yaml = `apiVersion: apps/v1
kind: Deployment
metadata: {name: unhealthy, namespace: default}
spec:
  selector: {matchLabels: {app: unhealthy}}
  template:
    metadata: {labels: {app: unhealthy}}
    spec:
      containers:
      - name: httpbin
        image: docker.io/mccutchen/go-httpbin:v2.15.0
        ports: [{containerPort: 8080}]
        livenessProbe: {httpGet: {path: /status/500, port: 8080}, periodSeconds: 1, failureThreshold: 2, initialDelaySeconds: 2}
`;
  writeFileSync(join(dir, 'unhealthy.yaml'), yaml);
  const r = await spar(['apply', '-f', join(dir, 'unhealthy.yaml')]);
  assert.equal(r.code, 0, r.stderr);
  const deadline = Date.now() + 30_000;
  let restarts = 0;
  while (restarts === 0 && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 1000));
    const pods = JSON.parse((await spar(['get', 'pods', '-o', 'json'])).stdout) as Array<{ name: string; restarts: number }>;
    restarts = pods.find((p) => p.name.startsWith('unhealthy-'))?.restarts ?? 0;
  }
  assert.ok(restarts > 0, 'restarted');
  const agentLog = await spar(['logs', 'unhealthy', '-c', 'istio-proxy']);
  assert.match(agentLog.stdout, /status server on :15020 \(\/healthz\/ready, 2 app probes\)/);
  const del = await spar(['delete', '-f', join(dir, 'unhealthy.yaml')]);
  assert.match(del.stdout, /deployment "unhealthy" deleted/);
});

test('after a crash (SIGKILL to the runtime), spar down leaves nothing behind', { skip }, async () => {
  const s = snapshot!;
  assert.ok(s.daemonPid);
  process.kill(s.daemonPid, 'SIGKILL');
  const down = await spar(['down']);
  assert.equal(down.code, 0, down.stderr);
  assert.match(down.stdout, /Spar is down/);
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const name of Object.keys(s.netns)) {
    assert.ok(!netns.includes(name), `netns ${name} left`);
    assert.ok(!existsSync(join('/etc/netns', name)), `/etc/netns/${name} left`);
  }
  const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
  assert.ok(!links.includes(bridge), `bridge ${bridge} left`);
  for (const veth of Object.values(s.netns)) assert.ok(!links.includes(veth), `veth ${veth} left`);
  const procs = execFileSync('ps', ['-eo', 'pid,stat,args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(stateDir) && !/\sZ/.test(l));
  assert.deepEqual(procs, [], 'processes left');
  assert.ok(!execFileSync('iptables-save', { encoding: 'utf8' }).includes(bridge), 'host rules left');
  assert.equal(readState(stateDir), undefined, 'state.json removed');
});
