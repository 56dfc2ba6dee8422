/**
 * The service registry and the model: protocol selection, Kubernetes endpoints from each source,
 * ServiceEntry/WorkloadEntry services, change events, MeshConfig loading, Proxy from an xDS Node,
 * and the config kinds each xDS type depends on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseText } from '../../src/config/parse.js';
import { kubePortProtocol, protocolFromPortName } from '../../src/model/protocol.js';
import { KubeFileRegistry, kubeSnapshot } from '../../src/registry/kube/index.js';
import { serviceEntrySnapshot } from '../../src/registry/serviceentry/index.js';
import { registriesFromResources } from '../../src/registry/aggregate.js';
import type { RegistryEvent } from '../../src/registry/types.js';
import { configKindsAffecting, loadMeshConfig, proxyFromNode } from '../../src/xds/gen/index.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { virtualHostDomains } from '../../src/model/naming.js';

const res = (yaml: string) => parseText('t.yaml', yaml).resources;

test('protocol selection: port name prefix, appProtocol, UDP, unnamed → sniffed', () => {
  const rows: [string | undefined, string | undefined, string | undefined, string][] = [
    ['http', undefined, 'TCP', 'HTTP'], ['http-web', undefined, undefined, 'HTTP'], ['http2-x', undefined, undefined, 'HTTP2'],
    ['grpc', undefined, undefined, 'GRPC'], ['grpc-web', undefined, undefined, 'GRPC-Web'], ['grpc-web-x', undefined, undefined, 'GRPC-Web'],
    ['tcp-db', undefined, undefined, 'TCP'], ['tls', undefined, undefined, 'TLS'], ['https-admin', undefined, undefined, 'HTTPS'],
    ['mongo', undefined, undefined, 'Mongo'], ['redis-cache', undefined, undefined, 'Redis'], ['mysql', undefined, undefined, 'MySQL'],
    ['web', undefined, undefined, 'Unsupported'], [undefined, undefined, undefined, 'Unsupported'], ['httpx', undefined, undefined, 'Unsupported'],
    ['web', 'http', undefined, 'HTTP'], ['tcp', 'kubernetes.io/h2c', undefined, 'HTTP2'], ['http', undefined, 'UDP', 'UDP'],
  ];
  for (const [name, app, l4, want] of rows) assert.equal(kubePortProtocol(name, app, l4), want, `${name}/${app}/${l4}`);
  assert.equal(protocolFromPortName('HTTP-upper'), 'HTTP');
});

const SVC = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.1.1
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: web-port}, {name: tcp-metrics, port: 9000, targetPort: 9100}]
`;
const POD = (name: string, ip: string, extra = '') => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: shop, labels: {app: web, version: v1}, ownerReferences: [{kind: ReplicaSet, name: web-v1-5d9c7b8f4d}]${extra}}
spec:
  serviceAccountName: web
  containers: [{name: app, ports: [{name: web-port, containerPort: 8080}]}]
status: {podIP: ${ip}}
`;

test('Kubernetes endpoints from Pods: named target ports, workload name, identity, injection', () => {
  const snap = kubeSnapshot(res([SVC, POD('web-v1-5d9c7b8f4d-abcde', '10.88.1.5'), POD('web-v1-5d9c7b8f4d-fghij', '10.88.1.6', ', annotations: {sidecar.istio.io/inject: "false"}')].join('---')));
  const eps = snap.endpoints.get('shop/web.shop.svc.cluster.local')!;
  assert.deepEqual(eps.map((e) => `${e.address}:${e.port}/${e.servicePort}/${e.tlsMode}`), ['10.88.1.5:8080/80/istio', '10.88.1.5:9100/9000/istio', '10.88.1.6:8080/80/disabled', '10.88.1.6:9100/9000/disabled']);
  assert.equal(eps[0].workloadName, 'web-v1');
  assert.equal(eps[0].serviceAccount, 'web');
  assert.deepEqual(snap.services[0].addresses, ['10.96.1.1']);
});

test('Kubernetes endpoints from EndpointSlices (preferred) and Endpoints objects', () => {
  const slice = `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-abc, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [10.88.1.5]
  conditions: {ready: true}
- addresses: [10.88.1.7]
  conditions: {ready: false}
`;
  const snap = kubeSnapshot(res([SVC, POD('web-v1-5d9c7b8f4d-abcde', '10.88.1.5'), slice].join('---')));
  const eps = snap.endpoints.get('shop/web.shop.svc.cluster.local')!;
  assert.deepEqual(eps.map((e) => `${e.address}:${e.port} ${e.healthy} ${e.labels.version ?? '-'}`), ['10.88.1.5:8080 true v1', '10.88.1.7:8080 false -']);
  const endpoints = `
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: shop}
subsets:
- addresses: [{ip: 10.0.0.1}]
  notReadyAddresses: [{ip: 10.0.0.2}]
  ports: [{name: tcp-metrics, port: 9100}]
`;
  const snap2 = kubeSnapshot(res([SVC, endpoints].join('---')));
  assert.deepEqual(snap2.endpoints.get('shop/web.shop.svc.cluster.local')!.map((e) => `${e.address}:${e.port}/${e.servicePort} ${e.healthy}`), ['10.0.0.1:9100/9000 true', '10.0.0.2:9100/9000 false']);
});

test('headless and ExternalName services', () => {
  const snap = kubeSnapshot(res(`
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {clusterIP: None, selector: {app: db}, ports: [{name: tcp, port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: shop}
spec: {type: ExternalName, externalName: api.example.com, ports: [{name: https, port: 443}]}
`));
  assert.equal(snap.services[0].resolution, 'Passthrough');
  assert.deepEqual(snap.services[0].addresses, []);
  assert.equal(snap.services[1].resolution, 'DNSLB');
  assert.equal(snap.endpoints.get('shop/ext.shop.svc.cluster.local')![0].address, 'api.example.com');
});

test('ServiceEntry: one service per host, DNS host endpoint, WorkloadEntry by selector, exportTo', () => {
  const snap = serviceEntrySnapshot(res(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec:
  hosts: [a.example.com, b.example.com]
  ports: [{number: 443, name: https, protocol: TLS}]
  resolution: DNS
  exportTo: ["."]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vm, namespace: shop}
spec:
  hosts: [vm.shop.internal]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http}]
  resolution: STATIC
  workloadSelector: {labels: {app: vm}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: shop}
spec: {address: 192.0.2.1, labels: {app: vm}, ports: {http: 8080}, serviceAccount: vm-sa, weight: 3}
`));
  assert.deepEqual(snap.services.map((s) => `${s.hostname} ${s.resolution} ${s.ports[0].protocol} ${s.meshExternal}`), ['a.example.com DNSLB TLS true', 'b.example.com DNSLB TLS true', 'vm.shop.internal ClientSideLB HTTP false']);
  assert.deepEqual(snap.services[0].exportTo, ['.']);
  assert.equal(snap.endpoints.get('shop/a.example.com')![0].address, 'a.example.com');
  const vm = snap.endpoints.get('shop/vm.shop.internal')!;
  assert.deepEqual(vm.map((e) => `${e.address}:${e.port} ${e.serviceAccount} ${e.weight} ${e.tlsMode}`), ['192.0.2.1:8080 vm-sa 3 istio']);
  assert.equal(snap.workloads.length, 1);
});

test('registry change events: add, update, delete, endpoints; the aggregate forwards them', () => {
  const kube = new KubeFileRegistry(res(SVC));
  const seen: RegistryEvent[] = [];
  const off = kube.onChange((evs) => seen.push(...evs));
  kube.update(res([SVC, POD('web-v1-5d9c7b8f4d-abcde', '10.88.1.5')].join('---')));
  assert.deepEqual(seen, [{ kind: 'Endpoints', event: 'update', namespace: 'shop', hostname: 'web.shop.svc.cluster.local' }]);
  seen.length = 0;
  kube.update(res([SVC.replace('port: 80,', 'port: 81,'), POD('web-v1-5d9c7b8f4d-abcde', '10.88.1.5')].join('---')));
  assert.deepEqual(seen.map((e) => `${e.kind}:${e.event}`), ['Service:update', 'Endpoints:update']);
  seen.length = 0;
  kube.update([]);
  assert.deepEqual(seen.map((e) => `${e.kind}:${e.event}`), ['Service:delete', 'Endpoints:delete']);
  off();
  const { kube: k2, aggregate } = registriesFromResources(res(SVC));
  const agg: RegistryEvent[] = [];
  aggregate.onChange((evs) => agg.push(...evs));
  assert.equal(aggregate.snapshot().services.length, 1);
  k2.update([]);
  assert.deepEqual(agg.map((e) => `${e.kind}:${e.event}`), ['Service:delete'], 'no endpoints before, none after: only the service event');
  assert.equal(aggregate.snapshot().services.length, 0, 'snapshot recomputed after a change');
});

test('MeshConfig: Istio defaults, a mesh file, the istio ConfigMap', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spar-mesh-'));
  try {
    writeFileSync(join(dir, 'mesh.yaml'), 'outboundTrafficPolicy: {mode: REGISTRY_ONLY}\ntrustDomain: example.org\nenableAutoMtls: false\n');
    const m = loadMeshConfig(join(dir, 'mesh.yaml'));
    assert.equal(m.outboundTrafficPolicy, 'REGISTRY_ONLY');
    assert.equal(m.trustDomain, 'example.org');
    assert.equal(m.enableAutoMtls, false);
    assert.equal(m.rootNamespace, 'istio-system');
    writeFileSync(join(dir, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: |-\n    rootNamespace: mesh-root\n    accessLogFile: /dev/stdout\n');
    const c = loadMeshConfig(join(dir, 'cm.yaml'));
    assert.equal(c.rootNamespace, 'mesh-root');
    assert.equal(c.accessLogFile, '/dev/stdout');
    assert.equal(c.outboundTrafficPolicy, 'ALLOW_ANY');
    assert.equal(c.connectTimeout, '10s');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Proxy from the xDS Node Istio\'s agent sends', () => {
  const p = proxyFromNode({
    id: 'sidecar~10.88.0.5~reviews-v1-xyz.default~default.svc.cluster.local',
    metadata: { LABELS: { app: 'reviews', version: 'v1' }, NAMESPACE: 'default', SERVICE_ACCOUNT: 'bookinfo-reviews', ISTIO_VERSION: '1.28.0', INTERCEPTION_MODE: 'TPROXY' },
    locality: { region: 'us-east1', zone: 'us-east1-b' },
  });
  assert.deepEqual([p.type, p.ipAddresses, p.podName, p.namespace, p.dnsDomain, p.serviceAccount, p.istioVersion, p.interceptionMode], ['sidecar', ['10.88.0.5'], 'reviews-v1-xyz', 'default', 'default.svc.cluster.local', 'bookinfo-reviews', '1.28.0', 'TPROXY']);
  assert.equal(p.locality?.zone, 'us-east1-b');
  const r = proxyFromNode({ id: 'router~10.88.9.9~gw-abc.istio-system~istio-system.svc.cluster.local' });
  assert.deepEqual([r.type, r.namespace, r.podName, r.interceptionMode], ['router', 'istio-system', 'gw-abc', 'REDIRECT']);
});

test('config kinds each xDS type depends on', () => {
  assert.ok(configKindsAffecting(TypeUrl.Cluster).has('DestinationRule'));
  assert.ok(!configKindsAffecting(TypeUrl.ClusterLoadAssignment).has('VirtualService'));
  assert.ok(configKindsAffecting(TypeUrl.RouteConfiguration).has('VirtualService'));
  assert.ok(configKindsAffecting(TypeUrl.Secret).has('Secret'));
  assert.ok(!configKindsAffecting(TypeUrl.Secret).has('DestinationRule'));
  assert.ok(configKindsAffecting(TypeUrl.ClusterLoadAssignment).has('EndpointSlice'));
});

test('virtual host domains: short names only from the same namespace, VIPs, no ports', () => {
  assert.deepEqual(virtualHostDomains('reviews.default.svc.cluster.local', ['10.96.0.12'], 'default', 'cluster.local'), ['reviews.default.svc.cluster.local', 'reviews', 'reviews.default.svc', 'reviews.default', '10.96.0.12']);
  assert.deepEqual(virtualHostDomains('reviews.default.svc.cluster.local', [], 'other', 'cluster.local'), ['reviews.default.svc.cluster.local', 'reviews.default.svc', 'reviews.default']);
  assert.deepEqual(virtualHostDomains('api.example.com', ['240.0.0.1', '10.0.0.0/8'], 'default', 'cluster.local'), ['api.example.com', '240.0.0.1']);
});

test('a push after a config-only change reuses the registry snapshot; a Service change rebuilds it', async () => {
  const { buildPushContext, defaultMeshConfig } = await import('../../src/xds/gen/index.js');
  const base = res([SVC, POD('web-v1-5d9c7b8f4d-abcde', '10.88.1.5')].join('---'));
  const vs = res('apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web, namespace: shop}\nspec: {hosts: [web], http: [{route: [{destination: {host: web}}]}]}');
  const p1 = buildPushContext(base, defaultMeshConfig());
  const p2 = buildPushContext([...base, ...vs], defaultMeshConfig(), p1);
  assert.equal(p2.registry, p1.registry);
  assert.equal(p2.virtualServices.length, 1);
  const reparsed = res([SVC, POD('web-v1-5d9c7b8f4d-abcde', '10.88.1.5')].join('---'));
  assert.equal(buildPushContext(reparsed, defaultMeshConfig(), p2).registry, p1.registry, 'equal content counts as unchanged');
  const p3 = buildPushContext(res([SVC.replace('10.96.1.1', '10.96.1.2'), POD('web-v1-5d9c7b8f4d-abcde', '10.88.1.5')].join('---')), defaultMeshConfig(), p2);
  assert.notEqual(p3.registry, p1.registry);
  assert.deepEqual(p3.services[0].addresses, ['10.96.1.2']);
});

test('WorkloadGroup auto-registration: a connecting VM proxy becomes a WorkloadEntry the ServiceEntry selects', async () => {
  const { workloadEntryForProxy } = await import('../../src/registry/serviceentry/workload-group.js');
  const groupAndSe = res(`
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: legacy, namespace: shop}
spec:
  metadata: {labels: {app: legacy}}
  template: {serviceAccount: legacy-sa, ports: {http: 8080}, network: vm-net}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy, namespace: shop}
spec:
  hosts: [legacy.shop.internal]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http}]
  resolution: STATIC
  workloadSelector: {labels: {app: legacy}}
`);
  const vm = proxyFromNode({ id: 'sidecar~192.0.2.7~vm-1.shop~shop.svc.cluster.local', metadata: { NAMESPACE: 'shop', WORKLOAD_GROUP: 'legacy', LABELS: { version: 'v1' } } });
  const we = workloadEntryForProxy(groupAndSe, vm)!;
  assert.equal(we.name, 'legacy-192-0-2-7');
  assert.deepEqual(we.spec, { address: '192.0.2.7', labels: { app: 'legacy', version: 'v1' }, ports: { http: 8080 }, serviceAccount: 'legacy-sa', network: 'vm-net' });
  const snap = serviceEntrySnapshot([...groupAndSe, we]);
  assert.deepEqual(snap.endpoints.get('shop/legacy.shop.internal')!.map((e) => `${e.address}:${e.port} ${e.serviceAccount}`), ['192.0.2.7:8080 legacy-sa']);
  assert.equal(workloadEntryForProxy(groupAndSe, proxyFromNode({ id: 'sidecar~192.0.2.8~x.shop~shop.svc.cluster.local', metadata: { NAMESPACE: 'shop' } })), undefined);
});
