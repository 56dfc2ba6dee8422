/**
 * A simulated mesh for the control-plane scale bench: N services × E endpoints as the pilot's file
 * registry takes them (a Kubernetes Service and an EndpointSlice per service, one file per service
 * as `kubectl apply -f dir/` would see them), plus Istio config on a share of them: a
 * DestinationRule (connection pool, outlier detection, subsets v1/v2) on every second service and
 * a VirtualService (header match, 90/10 split, retries) on every fourth. Services are spread over
 * namespaces of 50. Every tenth service also has a gRPC port.
 *
 * Also the three changes the bench times: a VirtualService edit, endpoint churn (one endpoint of a
 * service replaced), and a new service. Each change carries a marker string that appears in the
 * bytes of the xDS resources it produces, so a client can tell it has the new config.
 */
import type { EnvoyJson } from '../../src/xds/codec.js';

export interface MeshSpec {
  services: number;
  endpoints: number;
  /** Services per namespace (default 50). */
  perNamespace?: number;
}

export interface MeshService {
  name: string;
  namespace: string;
  file: string;
  hostname: string;
}

const NS = (i: number, per: number) => `ns-${Math.floor(i / per)}`;

export function meshService(i: number, spec: MeshSpec): MeshService {
  const namespace = NS(i, spec.perNamespace ?? 50);
  const name = `svc-${i}`;
  return { name, namespace, file: `${namespace}--${name}.yaml`, hostname: `${name}.${namespace}.svc.cluster.local` };
}

/** The i-th endpoint IP of service s (10.64.0.0/10: up to 4M addresses). `gen` moves it for churn. */
export function endpointIp(s: number, e: number, gen = 0): string {
  const n = (s * 64 + e + gen * 7_919_017) % (1 << 22);
  return `10.${64 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

export function serviceYaml(svc: MeshService, i: number, endpoints: number, churn?: { gen: number }): string {
  const grpc = i % 10 === 0;
  const ports = [`{name: http, port: 8080, targetPort: 8080}`, ...(grpc ? [`{name: grpc, port: 9090, targetPort: 9090}`] : [])];
  const eps: string[] = [];
  for (let e = 0; e < endpoints; e++) {
    // Churn replaces endpoint 0 with a fresh address.
    const ip = endpointIp(i, e, e === 0 && churn ? churn.gen : 0);
    eps.push(`- addresses: [${ip}]\n  conditions: {ready: true}\n  targetRef: {kind: Pod, name: ${svc.name}-${e}, namespace: ${svc.namespace}}`);
  }
  return `apiVersion: v1
kind: Service
metadata: {name: ${svc.name}, namespace: ${svc.namespace}, labels: {app: ${svc.name}}}
spec:
  selector: {app: ${svc.name}}
  ports: [${ports.join(', ')}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${svc.name}-abcde
  namespace: ${svc.namespace}
  labels: {kubernetes.io/service-name: ${svc.name}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}${grpc ? ', {name: grpc, port: 9090, protocol: TCP}' : ''}]
endpoints:
${eps.join('\n')}
`;
}

export function destinationRuleYaml(svc: MeshService): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${svc.name}, namespace: ${svc.namespace}}
spec:
  host: ${svc.name}
  trafficPolicy:
    connectionPool: {http: {http1MaxPendingRequests: 100, maxRequestsPerConnection: 10}}
    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
`;
}

/** `rev` makes an edit: the header match value changes (and appears in RDS). */
export function virtualServiceYaml(svc: MeshService, rev = 'rev-0'): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${svc.name}, namespace: ${svc.namespace}}
spec:
  hosts: [${svc.name}]
  http:
  - match: [{headers: {x-bench-rev: {exact: ${rev}}}}]
    route: [{destination: {host: ${svc.name}, subset: v2}}]
  - route: [{destination: {host: ${svc.name}, subset: v1}, weight: 90}, {destination: {host: ${svc.name}, subset: v2}, weight: 10}]
    retries: {attempts: 3, perTryTimeout: 2s}
`;
}

export const hasDestinationRule = (i: number) => i % 2 === 0;
export const hasVirtualService = (i: number) => i % 4 === 0;

/** One file's text for service i (Service + EndpointSlice, DR and VS where it has them). */
export function serviceFile(i: number, spec: MeshSpec, opts: { rev?: string; churnGen?: number } = {}): { file: string; text: string } {
  const svc = meshService(i, spec);
  const docs = [serviceYaml(svc, i, spec.endpoints, opts.churnGen ? { gen: opts.churnGen } : undefined)];
  if (hasDestinationRule(i)) docs.push(destinationRuleYaml(svc));
  if (hasVirtualService(i)) docs.push(virtualServiceYaml(svc, opts.rev));
  return { file: svc.file, text: docs.join('---\n') };
}

/** Every file of the mesh: name → YAML. */
export function meshFiles(spec: MeshSpec): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < spec.services; i++) {
    const f = serviceFile(i, spec);
    out.set(f.file, f.text);
  }
  return out;
}

/** Counts of what meshFiles produces, for the results. */
export function meshCounts(spec: MeshSpec): Record<string, number> {
  let dr = 0;
  let vs = 0;
  for (let i = 0; i < spec.services; i++) {
    if (hasDestinationRule(i)) dr++;
    if (hasVirtualService(i)) vs++;
  }
  const namespaces = Math.ceil(spec.services / (spec.perNamespace ?? 50));
  return { services: spec.services, endpointsPerService: spec.endpoints, endpoints: spec.services * spec.endpoints, destinationRules: dr, virtualServices: vs, namespaces };
}

/** The node a simulated sidecar presents: a pod of service `i % N`. */
export function sidecarNode(p: number, spec: MeshSpec): EnvoyJson {
  const i = p % spec.services;
  const svc = meshService(i, spec);
  const ip = endpointIp(i, p % Math.max(1, spec.endpoints));
  return {
    id: `sidecar~${ip}~${svc.name}-${p}.${svc.namespace}~${svc.namespace}.svc.cluster.local`,
    metadata: { NAMESPACE: svc.namespace, LABELS: { app: svc.name, version: 'v1' }, ISTIO_VERSION: '1.28.0', CLUSTER_ID: 'Kubernetes', SERVICE_ACCOUNT: 'default' },
  };
}
