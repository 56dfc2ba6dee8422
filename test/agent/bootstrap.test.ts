/**
 * The agent's bootstrap has the shape of Istio's (testdata/bootstrap/*_golden.json): the same
 * top-level sections, node id and metadata keys, static clusters and listeners; Envoy 1.40 accepts
 * it (`--mode validate`) and so does `spar proxy --mode validate` for its flavour. The probe
 * rewrite turns a pod's probes into /app-health/<container>/<kind> on 15020 as Istio's injector does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBootstrap, nodeId, statsInclusion, type BootstrapOptions, type Json } from '../../src/agent/bootstrap.js';
import { parseAppProbers, rewriteAppProbes, runProbe } from '../../src/agent/probes.js';
import { istioDir } from '../../src/common/paths.js';
import { runSpar } from '../helpers/cli.js';

const golden = JSON.parse(readFileSync(join(istioDir, 'testdata', 'bootstrap', 'running_golden.json'), 'utf8')) as Json;

const opts = (flavor: 'envoy' | 'spar'): BootstrapOptions => ({
  type: 'sidecar',
  podName: 'productpage-v1-6b746f74dc-9stp7',
  namespace: 'default',
  podIp: '10.88.0.5',
  serviceAccount: 'bookinfo-productpage',
  labels: { app: 'productpage', version: 'v1' },
  annotations: { 'sidecar.istio.io/status': '{}' },
  workloadName: 'productpage-v1',
  podPorts: [{ containerPort: 9080, protocol: 'TCP' }],
  appContainers: ['productpage'],
  discoveryAddress: flavor === 'envoy' ? 'unix:///tmp/spar-nowhere/XDS' : '127.0.0.1:15010',
  flavor,
});

const names = (list: unknown): string[] => (list as Array<{ name: string }>).map((x) => x.name).sort();

test('node id and cluster as pilot-agent writes them', () => {
  const b = buildBootstrap(opts('envoy')) as { node: { id: string; cluster: string; metadata: Json } };
  assert.equal(b.node.id, 'sidecar~10.88.0.5~productpage-v1-6b746f74dc-9stp7.default~default.svc.cluster.local');
  assert.equal(nodeId({ type: 'router', podIp: '10.88.0.9', podName: 'gw', namespace: 'istio-system' }), 'router~10.88.0.9~gw.istio-system~istio-system.svc.cluster.local');
  assert.equal(b.node.cluster, 'productpage.default');
  const m = b.node.metadata;
  assert.deepEqual(m.LABELS, { app: 'productpage', version: 'v1' });
  assert.equal(m.NAMESPACE, 'default');
  assert.equal(m.SERVICE_ACCOUNT, 'bookinfo-productpage');
  assert.equal(m.INTERCEPTION_MODE, 'REDIRECT');
  assert.equal(m.INSTANCE_IPS, '10.88.0.5');
  assert.equal(m.WORKLOAD_NAME, 'productpage-v1');
  assert.match(String(m.ISTIO_VERSION), /^1\.\d+\.\d+$/);
});

test('the same sections, metadata keys, static clusters and listeners as Istio\'s golden', () => {
  const b = buildBootstrap(opts('envoy'));
  const goldenNode = golden.node as { metadata: Json };
  const ours = (b.node as { metadata: Json }).metadata;
  // Every key of the golden's metadata that describes the workload (not test-only settings).
  for (const k of ['ENVOY_PROMETHEUS_PORT', 'ENVOY_STATUS_PORT', 'INSTANCE_IPS', 'INTERCEPTION_MODE', 'ISTIO_VERSION', 'LABELS', 'METADATA_DISCOVERY', 'NAME', 'NAMESPACE', 'OUTLIER_LOG_PATH', 'PILOT_SAN', 'POD_NAME', 'PROXY_CONFIG', 'ANNOTATIONS']) {
    assert.ok(k in goldenNode.metadata, `golden has ${k}`);
    assert.ok(k in ours, `metadata lacks ${k}`);
  }
  for (const k of ['node', 'layered_runtime', 'bootstrap_extensions', 'stats_config', 'admin', 'dynamic_resources', 'static_resources', 'overload_manager', 'cluster_manager', 'application_log_config']) {
    assert.ok(k in golden && k in b, `section ${k}`);
  }
  assert.deepEqual(b.dynamic_resources, golden.dynamic_resources);
  const gs = golden.static_resources as { clusters: unknown; listeners: unknown };
  const os = b.static_resources as { clusters: unknown; listeners: unknown };
  assert.deepEqual(names(os.clusters), names(gs.clusters).filter((n) => n !== 'zipkin'));
  assert.deepEqual(names(os.listeners), names(gs.listeners));
  const ready = (os.listeners as Json[]).find((l) => l.name === '0.0.0.0_15021');
  assert.match(JSON.stringify(ready), /"prefix":"\/healthz\/ready".*"cluster":"agent"/);
});

test('Envoy 1.40 and spar proxy accept their bootstraps (--mode validate)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spar-bootstrap-'));
  try {
    const envoyPath = join(dir, 'envoy.json');
    writeFileSync(envoyPath, JSON.stringify(buildBootstrap(opts('envoy'))));
    // Envoy opens /dev/stdout by path (the outlier log), which fails on the socket node gives a child.
    const logFd = openSync(join(dir, 'envoy.log'), 'w');
    try {
      execFileSync('envoy', ['--mode', 'validate', '-c', envoyPath, '--log-level', 'error'], { stdio: ['ignore', logFd, logFd] });
    } catch (e) {
      assert.fail(`envoy --mode validate: ${(e as Error).message}\n${readFileSync(join(dir, 'envoy.log'), 'utf8')}`);
    } finally {
      closeSync(logFd);
    }
    assert.match(readFileSync(join(dir, 'envoy.log'), 'utf8'), /OK/);
    const sparPath = join(dir, 'spar.json');
    writeFileSync(sparPath, JSON.stringify(buildBootstrap(opts('spar'))));
    const r = await runSpar(['proxy', '--mode', 'validate', '-c', sparPath]);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('probe rewrite: HTTP/TCP probes go to /app-health/<container>/<kind> on 15020; exec probes stay', () => {
  const { probers, containers } = rewriteAppProbes([
    {
      name: 'web',
      ports: [{ name: 'http', containerPort: 8080 }],
      livenessProbe: { httpGet: { path: '/live', port: 'http' }, periodSeconds: 3 },
      readinessProbe: { tcpSocket: { port: 8080 }, timeoutSeconds: 2 },
    },
    { name: 'side', startupProbe: { exec: { command: ['true'] } } as never },
  ]);
  assert.deepEqual(probers, {
    '/app-health/web/livez': { httpGet: { path: '/live', port: 8080 }, timeoutSeconds: 1 },
    '/app-health/web/readyz': { tcpSocket: { port: 8080 }, timeoutSeconds: 2 },
  });
  assert.deepEqual(containers[0]!.livenessProbe, { periodSeconds: 3, httpGet: { path: '/app-health/web/livez', port: 15020, scheme: 'HTTP' } });
  assert.deepEqual(containers[0]!.readinessProbe, { timeoutSeconds: 2, httpGet: { path: '/app-health/web/readyz', port: 15020, scheme: 'HTTP' } });
  assert.deepEqual(containers[1]!.startupProbe, { exec: { command: ['true'] } });
  assert.deepEqual(parseAppProbers(JSON.stringify(probers)), probers);
  assert.throws(() => parseAppProbers('{"/healthz": {}}'), /app-health/);
});

test('runProbe: 2xx/3xx pass, 5xx and refused connections fail', async () => {
  const server = createServer((req, res) => res.writeHead(req.url === '/ok' ? 200 : 503).end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  try {
    assert.equal((await runProbe({ httpGet: { path: '/ok', port } }, '127.0.0.1')).ok, true);
    const bad = await runProbe({ httpGet: { path: '/bad', port } }, '127.0.0.1');
    assert.deepEqual([bad.ok, bad.status], [false, 503]);
    assert.equal((await runProbe({ tcpSocket: { port } }, '127.0.0.1')).ok, true);
  } finally {
    await new Promise((r) => server.close(r));
  }
  assert.equal((await runProbe({ tcpSocket: { port: 1 } }, '127.0.0.1')).ok, false);
});

test('proxy.istio.io/config proxyStatsMatcher widens Envoy\'s stats inclusion (the circuit-breaking task reads cluster.outbound stats); bad YAML adds nothing', () => {
  const anno = { 'proxy.istio.io/config': 'proxyStatsMatcher:\n  inclusionPrefixes:\n  - "cluster.outbound"\n  - "server"\n  inclusionSuffixes: ["upstream_rq_pending_overflow"]\n  inclusionRegexps: [".*circuit_breakers.*"]' };
  const p = statsInclusion(anno);
  assert.ok(p.some((x) => x.prefix === 'cluster.outbound'));
  assert.equal(p.filter((x) => x.prefix === 'server').length, 1, 'no duplicate prefix');
  assert.ok(p.some((x) => x.suffix === 'upstream_rq_pending_overflow'));
  assert.ok(p.some((x) => JSON.stringify(x.safe_regex) === JSON.stringify({ regex: '.*circuit_breakers.*' })));
  assert.deepEqual(statsInclusion({ 'proxy.istio.io/config': 'proxyStatsMatcher: [' }), statsInclusion());
});
