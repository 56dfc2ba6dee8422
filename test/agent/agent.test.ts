/**
 * `spar agent` for one pod, end to end: a `spar pilot` on the host (ADS on a Unix socket), a pod
 * network namespace with an app on 9080, and the agent started in it with real Envoy. The agent
 * installs capture, starts Envoy under UID 1337, answers /healthz/ready through Envoy's 15021
 * listener and the app's probe on /app-health; an app-UID request to the service VIP goes through
 * the sidecar (outbound 15001 → the pod IP → inbound 15006 → the app); a killed proxy comes back;
 * SIGTERM drains and stops everything and removes the capture rules.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/common/paths.js';
import { killNetnsProcesses } from '../../src/local/network.js';
import { envoyBinaryForProxy } from '../../src/agent/envoy-bin.js';
import { captureSkipReason, createNetns, netnsExists, type TestNetns } from '../proxy/iptables-netns.js';
import { startPilot, waitFor, type Pilot } from './helpers.js';

const skip = captureSkipReason();
const fromSource = import.meta.url.endsWith('.ts');
const dir = mkdtempSync(join(tmpdir(), 'spar-agent-'));
chmodSync(dir, 0o755); // the proxy (UID 1337) reads its bootstrap below it
const suffix = Math.random().toString(16).slice(2, 6);
const POD_IP = '10.77.0.5';
let ns: TestNetns;
let pilot: Pilot | undefined;
let agent: ChildProcess | undefined;
const logPath = join(dir, 'agent.log');

const CONFIG = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.20
  selector: {app: web}
  ports: [{name: http, port: 9080}]
`;
const POD = `apiVersion: v1
kind: Pod
metadata:
  name: web-6d8f7c-abcde
  namespace: default
  labels: {app: web, version: v1}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-6d8f7c}]
spec:
  serviceAccountName: web
  containers:
  - name: web
    image: example/web
    ports: [{containerPort: 9080}]
    readinessProbe: {httpGet: {path: /health, port: 9080}}
status: {phase: Running, podIP: ${POD_IP}}
`;

const appScript = `require('node:http').createServer((req, res) => res.end(req.url === '/health' ? 'ok' : 'hello from web request-id=' + (req.headers['x-request-id'] ?? 'none') + ' proto=' + (req.headers['x-forwarded-proto'] ?? 'none') + '\\n')).listen(9080, '0.0.0.0');`;

function curl(uid: number, url: string): { code: number; body: string } {
  const out = ns.run('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'curl', '-s', '-m', '5', '-w', '\n%{http_code}', url]);
  const i = out.lastIndexOf('\n');
  return { code: Number(out.slice(i + 1)), body: out.slice(0, i) };
}

function proxyPids(): number[] {
  const out = ns.run('ss', ['-ltnpH', 'sport = :15001']);
  return [...new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))];
}

before(async () => {
  if (skip) return;
  mkdirSync(join(dir, 'config'));
  writeFileSync(join(dir, 'config', 'web.yaml'), `${CONFIG}---\n${POD}`);
  writeFileSync(join(dir, 'pod.yaml'), POD);
  pilot = await startPilot(dir);
  ns = createNetns();
  ns.run('ip', ['link', 'add', `spar-p${suffix}`, 'type', 'veth', 'peer', 'name', `spar-q${suffix}`]);
  ns.run('ip', ['addr', 'add', `${POD_IP}/24`, 'dev', `spar-p${suffix}`]);
  ns.run('ip', ['link', 'set', `spar-p${suffix}`, 'up']);
  ns.run('ip', ['link', 'set', `spar-q${suffix}`, 'up']);
  ns.run('ip', ['route', 'add', '10.96.0.0/16', 'dev', `spar-p${suffix}`]);
  ns.spawn(process.execPath, ['-e', appScript]);
  const log = openSync(logPath, 'w');
  agent = spawn('ip', ['netns', 'exec', ns.name, process.execPath, join(repoRoot, 'bin', 'spar.js'), 'agent', '--pod', join(dir, 'pod.yaml'),
    '--discovery-address', `unix://${pilot.uds}`, '--work-dir', join(dir, 'work'), '--proxy', 'envoy', '--drain-duration', '1s',
    '--envoy-bin', envoyBinaryForProxy(join(dir, 'bin'))], {
    env: { ...process.env, ...(fromSource ? { SPAR_TSX: '1' } : {}) }, stdio: ['ignore', log, log],
  });
});

after(async () => {
  if (agent && agent.exitCode === null) agent.kill('SIGKILL');
  // The proxy runs in its own process group: whatever is still in the namespace goes.
  if (ns) killNetnsProcesses(ns.name);
  const name = ns?.name;
  ns?.destroy();
  await pilot?.stop();
  if (name) assert.equal(netnsExists(name), false);
  rmSync(dir, { recursive: true, force: true });
});

const agentLog = () => readFileSync(logPath, 'utf8').split('\n').filter((l) => !/Deprecated/.test(l)).slice(-15).join('\n');

test('ready through Envoy\'s 15021 listener once the pilot\'s config arrived; app probe on 15020', { skip }, async () => {
  await waitFor(() => curl(0, `http://${POD_IP}:15021/healthz/ready`).code === 200, 30_000, () => `not ready:\n${agentLog()}`);
  assert.equal(curl(0, `http://${POD_IP}:15020/app-health/web/readyz`).code, 200);
  assert.equal(curl(0, `http://${POD_IP}:15020/app-health/web/livez`).code, 404);
  assert.match(ns.run('iptables-save', ['-t', 'nat']), /-A OUTPUT -j ISTIO_OUTPUT/);
});

test('the proxy runs as UID 1337', { skip }, () => {
  const pids = proxyPids();
  assert.ok(pids.length > 0, 'something listens on 15001');
  for (const pid of pids) assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+1337\s/m);
});

test('an app request to the service VIP goes through the sidecar (outbound, then inbound) to the app', { skip }, () => {
  const r = curl(1000, 'http://10.96.0.20:9080/');
  assert.equal(r.code, 200, agentLog());
  // Envoy's HTTP connection manager stamped the request: it did not go straight to the app.
  assert.match(r.body, /^hello from web request-id=[0-9a-f-]{36} proto=http$/m);
  const direct = curl(1000, `http://${POD_IP}:9080/`);
  assert.match(direct.body, /request-id=none/, 'the app calling its own pod IP is not captured');
});

test('a proxy that dies is started again', { skip }, async () => {
  const before = proxyPids();
  for (const pid of before) process.kill(pid, 'SIGKILL');
  await waitFor(() => {
    const now = proxyPids();
    return now.length > 0 && !now.some((p) => before.includes(p)) && curl(0, `http://${POD_IP}:15021/healthz/ready`).code === 200;
  }, 30_000, () => `proxy not back:\n${agentLog()}`);
  assert.match(readFileSync(logPath, 'utf8'), /proxy exited .*restarting in/);
});

test('SIGTERM: the proxy drains and stops, capture is removed, the agent exits', { skip }, async () => {
  const pids = proxyPids();
  const t0 = Date.now();
  agent!.kill('SIGTERM');
  await new Promise((r) => agent!.once('exit', r));
  assert.ok(Date.now() - t0 < 8000, `shutdown took ${Date.now() - t0} ms`);
  const gone = (pid: number) => {
    try {
      return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
    } catch {
      return true;
    }
  };
  await waitFor(() => pids.every(gone), 5000, () => `proxy processes ${pids.join(',')} still running`);
  assert.doesNotMatch(ns.run('iptables-save', ['-t', 'nat']), /ISTIO/);
  assert.match(readFileSync(logPath, 'utf8'), /capture removed/);
});
