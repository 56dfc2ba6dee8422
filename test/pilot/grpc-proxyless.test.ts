/**
 * A proxyless gRPC client (@grpc/grpc-js-xds, bootstrap pointing at `spar pilot`, node metadata
 * `GENERATOR: grpc` as in Istio's grpcgen tests) routes by a VirtualService: a header match picks
 * subset v2, an 80/20 split lands within Istio's ±10 over calls, and a fault abort (HTTP 401) fails
 * the call with UNAUTHENTICATED (gRFC A33's HTTP-to-gRPC mapping). Backends are plain grpc-js
 * servers on 127.0.0.2 / 127.0.0.3.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { freePort } from '../helpers/envoy.js';
import { startSparPilot, type SparPilot } from './envoy-fixtures.js';

const raw = (path: string): grpc.MethodDefinition<Buffer, Buffer> => ({
  path,
  requestStream: false,
  responseStream: false,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
});
const ECHO: grpc.ServiceDefinition = { Hello: raw('/spar.test.Echo/Hello'), Fail: raw('/spar.test.Echo/Fail') };
const EchoClient = grpc.makeGenericClientConstructor(ECHO, 'Echo');

const dir = mkdtempSync(join(tmpdir(), 'spar-grpc-'));
let pilot: SparPilot;
let client: grpc.Client;
const servers: grpc.Server[] = [];
let port = 0;

async function backend(name: string, host: string): Promise<number> {
  const s = new grpc.Server();
  const reply = (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(name));
  s.addService(ECHO, { Hello: reply, Fail: reply });
  const p = await new Promise<number>((resolve, reject) => s.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (e, bound) => (e ? reject(e) : resolve(bound))));
  servers.push(s);
  return p;
}

const pod = (name: string, version: string, ip: string, p: number) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels: {app: echo, version: ${version}, security.istio.io/tlsMode: disabled}
spec:
  containers: [{name: app, image: echo, ports: [{name: grpc, containerPort: ${p}}]}]
status: {phase: Running, podIP: ${ip}}
`;

function call(method: 'Hello' | 'Fail', md: Record<string, string> = {}, deadlineMs = 5000): Promise<string> {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(`/spar.test.Echo/${method}`, (b: Buffer) => b, (b: Buffer) => b, Buffer.from('hi'), metadata, { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(String(res))));
  });
}

before(async () => {
  const [p1, p2] = [await backend('v1', '127.0.0.2'), await backend('v2', '127.0.0.3')];
  port = await freePort();
  const cfg = join(dir, 'config');
  mkdirSync(cfg);
  writeFileSync(join(cfg, 'echo.yaml'), `apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  clusterIP: 10.96.60.1
  selector: {app: echo}
  ports: [{name: grpc, port: ${port}, targetPort: grpc}]
---
${pod('echo-v1-a', 'v1', '127.0.0.2', p1)}---
${pod('echo-v2-a', 'v2', '127.0.0.3', p2)}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http:
  - match: [{headers: {x-route: {exact: v2}}}]
    route: [{destination: {host: echo, subset: v2}}]
  - match: [{uri: {prefix: /spar.test.Echo/Fail}}]
    fault: {abort: {httpStatus: 401, percentage: {value: 100}}}
    route: [{destination: {host: echo, subset: v1}}]
  - route:
    - {destination: {host: echo, subset: v1}, weight: 80}
    - {destination: {host: echo, subset: v2}, weight: 20}
`);
  pilot = await startSparPilot(cfg, { args: ['--no-synthetic-addresses'] });
  grpcXds.register();
  const bootstrap = {
    xds_servers: [{ server_uri: `127.0.0.1:${pilot.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'sidecar~127.0.0.1~grpc-client-5c7d-x1.default~default.svc.cluster.local', locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: 'default', INSTANCE_IPS: '127.0.0.1', ISTIO_VERSION: '1.28.0' } },
  };
  client = new EchoClient(`xds:///echo.default.svc.cluster.local:${port}`, grpc.credentials.createInsecure(), { 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrap) });
});

after(async () => {
  client?.close();
  await pilot?.stop();
  for (const s of servers) s.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

test('the client gets its listener, routes, clusters and endpoints, and ACKs them all', async () => {
  // the first call waits for the whole xDS exchange (LDS, RDS, CDS, EDS) on a possibly busy machine
  assert.ok(['v1', 'v2'].includes(await call('Hello', {}, 20_000)));
  const s = await pilot.waitSynced(undefined, 1);
  const st = s.find((p) => p.proxy.startsWith('grpc-client'))!;
  for (const t of ['LDS', 'RDS', 'CDS', 'EDS'] as const) assert.equal(st.types[t].status, 'SYNCED', `${t}: ${JSON.stringify(st.types[t])}`);
});

test('a header match sends every call to subset v2', async () => {
  for (let i = 0; i < 20; i++) assert.equal(await call('Hello', { 'x-route': 'v2' }), 'v2');
});

test('an 80/20 weighted split', async (t) => {
  const counts: Record<string, number> = { v1: 0, v2: 0 };
  const N = 500;
  const results = await Promise.all(Array.from({ length: N }, () => call('Hello')));
  for (const r of results) counts[r]++;
  t.diagnostic(`v1 ${counts.v1}, v2 ${counts.v2} of ${N}`);
  assert.ok(Math.abs(counts.v1 / N - 0.8) <= 0.1, JSON.stringify(counts));
});

test('a fault abort fails the call with the mapped status', async () => {
  await assert.rejects(call('Fail'), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
});
