/**
 * Generation cost at mesh scale: the full config (CDS, EDS, LDS, RDS) for one sidecar in a mesh of
 * N services (default 1,000), each a Kubernetes Service with two HTTP ports and two Pods (v1, v2),
 * a DestinationRule with two subsets for every service and a VirtualService splitting traffic for
 * every fourth. Prints milliseconds per step and resource counts; no assertions (a benchmark, not a
 * test). Run: node --import tsx bench/controlplane/gen-1000.ts [N] [repeats]
 */
import { parseText } from '../../src/config/parse.js';
import { withSyntheticAddresses } from '../../src/registry/kube/synthetic.js';
import { buildPushContext, defaultMeshConfig, generate, proxyFromNode } from '../../src/xds/gen/index.js';
import { TypeUrl } from '../../src/xds/resource-types.js';

const n = Number(process.argv[2] ?? 1000);
const repeats = Number(process.argv[3] ?? 5);

function meshYaml(count: number): string {
  const docs: string[] = [];
  for (let i = 0; i < count; i++) {
    const ns = `ns-${i % 20}`;
    const name = `svc-${i}`;
    docs.push(`apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec:
  selector: {app: ${name}}
  ports: [{name: http, port: 8080, targetPort: 8080}, {name: http-admin, port: 9090}]`);
    for (const v of ['v1', 'v2']) {
      docs.push(`apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}-${v}, namespace: ${ns}}
spec:
  selector: {matchLabels: {app: ${name}, version: ${v}}}
  template:
    metadata: {labels: {app: ${name}, version: ${v}}}
    spec: {serviceAccountName: ${name}, containers: [{name: app, image: app}]}`);
    }
    docs.push(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}, namespace: ${ns}}
spec:
  host: ${name}
  trafficPolicy: {connectionPool: {http: {http1MaxPendingRequests: 100}}}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]`);
    if (i % 4 === 0) {
      docs.push(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: ${ns}}
spec:
  hosts: [${name}]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: ${name}, subset: v2}}]
  - route: [{destination: {host: ${name}, subset: v1}, weight: 90}, {destination: {host: ${name}, subset: v2}, weight: 10}]
    retries: {attempts: 3, perTryTimeout: 2s}`);
    }
  }
  return docs.join('\n---\n');
}

const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;

const t0 = process.hrtime.bigint();
const parsed = parseText('mesh.yaml', meshYaml(n));
const resources = withSyntheticAddresses(parsed.resources);
console.log(`${n} services: ${resources.length} resources parsed in ${ms(t0).toFixed(0)} ms`);

const mesh = defaultMeshConfig();
const pod = resources.find((r) => r.kind === 'Pod' && r.namespace === 'ns-0')!;
const node = {
  id: `sidecar~${(pod.raw.status as { podIP: string }).podIP}~${pod.name}.ns-0~ns-0.svc.cluster.local`,
  metadata: { LABELS: pod.metadata.labels ?? {}, NAMESPACE: 'ns-0', SERVICE_ACCOUNT: 'svc-0' },
};

const types = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration] as const;
const LABEL = { [TypeUrl.Cluster]: 'CDS', [TypeUrl.ClusterLoadAssignment]: 'EDS', [TypeUrl.Listener]: 'LDS', [TypeUrl.RouteConfiguration]: 'RDS' } as const;

/** One full generation: push context, proxy, then every type. Times in ms by step. */
function once(counts: Record<string, number>): Record<string, number> {
  const times: Record<string, number> = {};
  const start = process.hrtime.bigint();
  let t = process.hrtime.bigint();
  const push = buildPushContext(resources, mesh);
  times.push = ms(t);
  t = process.hrtime.bigint();
  const proxy = proxyFromNode(node);
  times.proxy = ms(t);
  for (const type of types) {
    t = process.hrtime.bigint();
    counts[LABEL[type]] = generate(proxy, push, type).length;
    times[LABEL[type]] = ms(t);
  }
  times.total = ms(start);
  return times;
}

const counts: Record<string, number> = {};
const cold = once(counts);
const warm: Record<string, number[]> = {};
for (let r = 0; r < repeats; r++) for (const [k, v] of Object.entries(once(counts))) (warm[k] ??= []).push(v);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`resources for one sidecar: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
for (const k of Object.keys(cold)) console.log(`${k.padEnd(6)} cold ${cold[k].toFixed(1).padStart(7)} ms   warm median ${median(warm[k]).toFixed(1).padStart(7)} ms (${repeats} runs)`);
console.log(`full config for one sidecar in a mesh of ${n} services: ${cold.total.toFixed(0)} ms cold, ${median(warm.total).toFixed(0)} ms warm (push context build included)`);
