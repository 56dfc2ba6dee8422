/**
 * The analysis snapshot: every resource of one `spar analyze` run, indexed once so that each
 * analyzer reads what it needs without rescanning (by kind, by namespace/name, Services and their
 * ports, pods with their labels, Namespaces, and the host table Istio's analyzers share).
 *
 * Like istioctl, resources in the Kubernetes system namespaces are left out, later definitions of
 * the same kind/namespace/name replace earlier ones (as `kubectl apply` would), and files-only
 * analysis adds the default `istio-system/istio-ingressgateway` Service and a pod it selects.
 * Unlike istioctl without a cluster, Spar uses the Services, Pods, Namespaces and Secrets found in
 * the files (istioctl expects those from the cluster); workload controllers (Deployment,
 * StatefulSet, ...) stand in for their pods when no Pod is given for them.
 */
import { parseText } from '../config/parse.js';
import type { ConfigResource } from '../config/resource.js';
import { EXPORT_ALL, EXPORT_LOCAL, scopedFqdn, selectorMatches, splitScoped, type Labels } from './hosts.js';
import { arr, labelsOf, num, obj, str } from './values.js';

/** Namespaces istioctl never analyzes (pkg/kube/inject IgnoredNamespaces). */
export const IGNORED_NAMESPACES: ReadonlySet<string> = new Set(['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage']);

/** Kinds whose pod template stands for pods when the input has none of their pods. */
const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'DeploymentConfig']);

/** A pod, written as one or stood in for by a workload's template. */
export interface PodInfo {
  name: string;
  namespace: string;
  labels: Labels;
  annotations: Labels;
  nodeName: string;
  containers: Record<string, unknown>[];
  /** The Pod, or the workload whose template this is. */
  resource: ConfigResource;
}

/** A service as Istio's analyzers see it: a ServiceEntry, or a Kubernetes Service converted to one. */
export interface ServiceHost {
  hosts: string[];
  ports: { number: number; name: string; protocol: string }[];
  workloadSelector?: Labels;
  resource: ConfigResource;
}

export interface SnapshotOptions {
  /** Add istioctl's default ingress gateway Service and pod in `istio-system` (files-only analysis). */
  defaults?: boolean;
  /** Let Deployments and other controllers stand in for their pods (default true). */
  workloadPods?: boolean;
  /** MeshConfig (istioctl's --meshConfigFile); Istio's defaults where absent. */
  meshConfig?: Record<string, unknown>;
  /** MeshNetworks (the `meshNetworks` of Istio's mesh ConfigMap). */
  meshNetworks?: Record<string, unknown>;
}

/** Identity of a resource: `Kind/namespace/name` (Kubernetes Gateway API Gateways are `KubernetesGateway`). */
export function keyOf(r: ConfigResource): string {
  return `${kindOf(r)}/${r.namespace}/${r.name}`;
}

/** The kind analyzers ask for; Gateway API's Gateway is told apart from Istio's. */
export function kindOf(r: ConfigResource): string {
  return r.kind === 'Gateway' && r.group.startsWith('gateway.networking.k8s.io') ? 'KubernetesGateway' : r.kind;
}

export class Snapshot {
  readonly resources: readonly ConfigResource[];
  /** Resources that were replaced by a later definition with the same identity: [replaced, winner]. */
  readonly duplicates: readonly [ConfigResource, ConfigResource][];
  readonly pods: readonly PodInfo[];
  /** ScopedFqdn (`scope/fqdn`) -> service, as Istio's InitServiceEntryHostMap builds it. */
  readonly serviceHosts: ReadonlyMap<string, ServiceHost>;
  /** Whether the input held any Kubernetes Service / any Pod or workload: without them registry checks mean little. */
  readonly has: { services: boolean; pods: boolean };
  readonly meshConfig: Record<string, unknown>;
  readonly meshNetworks: Record<string, unknown>;
  private readonly byKind = new Map<string, ConfigResource[]>();
  private readonly byKey = new Map<string, ConfigResource>();

  constructor(input: readonly ConfigResource[], opts: SnapshotOptions = {}) {
    const dups: [ConfigResource, ConfigResource][] = [];
    const userHasServices = input.some((r) => r.kind === 'Service' && r.group === '');
    const userHasPods = input.some((r) => r.group === '' && r.kind === 'Pod') || (opts.workloadPods !== false && input.some((r) => WORKLOAD_KINDS.has(r.kind)));
    const all = [...input, ...(opts.defaults ? defaultResources() : [])];
    for (const r of all) {
      const ns = r.kind === 'Namespace' ? r.name : r.namespace;
      if (IGNORED_NAMESPACES.has(ns)) continue;
      const key = keyOf(r);
      const prev = this.byKey.get(key);
      if (prev) {
        if (prev.source) dups.push([prev, r]);
        const list = this.byKind.get(kindOf(r))!;
        list[list.indexOf(prev)] = r;
      } else {
        const k = kindOf(r);
        if (!this.byKind.has(k)) this.byKind.set(k, []);
        this.byKind.get(k)!.push(r);
      }
      this.byKey.set(key, r);
    }
    this.resources = [...this.byKey.values()];
    this.duplicates = dups;
    this.has = { services: userHasServices, pods: userHasPods };
    this.meshConfig = opts.meshConfig ?? {};
    this.meshNetworks = opts.meshNetworks ?? {};
    this.pods = buildPods(this, opts.workloadPods !== false);
    this.serviceHosts = buildServiceHosts(this);
  }

  /** Every resource of a kind, in input order. */
  of(kind: string): readonly ConfigResource[] {
    return this.byKind.get(kind) ?? [];
  }

  find(kind: string, namespace: string, name: string): ConfigResource | undefined {
    return this.byKey.get(`${kind}/${namespace}/${name}`);
  }

  namespace(name: string): ConfigResource | undefined {
    return this.find('Namespace', '', name) ?? this.of('Namespace').find((n) => n.name === name);
  }

  /**
   * The service a host names from `sourceNs` (Istio's GetDestinationHost): exact scoped matches
   * first, then wildcard ServiceEntries visible from that namespace.
   */
  destinationHost(sourceNs: string, exportTo: readonly string[], host: string): ServiceHost | undefined {
    const all = this.serviceHosts.get(scopedFqdn(EXPORT_ALL, sourceNs, host));
    if (all) return all;
    const scopes = exportTo.length === 0 ? [sourceNs] : exportTo.map((e) => (e === EXPORT_LOCAL ? sourceNs : e));
    for (const s of scopes) {
      const hit = this.serviceHosts.get(scopedFqdn(s, sourceNs, host));
      if (hit) return hit;
    }
    for (const [key, svc] of this.serviceHosts) {
      const { scope, fqdn } = splitScoped(key);
      if (!fqdn.startsWith('*')) continue;
      if (scope !== EXPORT_ALL && scope !== sourceNs) continue;
      const suffix = fqdn.slice(1);
      const h = host.startsWith('*') ? host.slice(1) : host;
      if (h.endsWith(suffix)) return svc;
    }
    return undefined;
  }

  /** Pods in `namespace` (any namespace when undefined) whose labels the selector matches. */
  podsMatching(selector: Labels | undefined, namespace?: string): PodInfo[] {
    return this.pods.filter((p) => (namespace === undefined || p.namespace === namespace) && selectorMatches(selector, p.labels));
  }
}

function buildPods(s: Snapshot, fromWorkloads: boolean): PodInfo[] {
  const pods: PodInfo[] = [];
  for (const p of s.of('Pod')) {
    if (p.group !== '') continue;
    pods.push({
      name: p.name, namespace: p.namespace, labels: labelsOf(p.metadata.labels), annotations: labelsOf(p.metadata.annotations),
      nodeName: str(p.spec.nodeName), containers: arr(p.spec.containers).map(obj), resource: p,
    });
  }
  if (!fromWorkloads) return pods;
  for (const kind of WORKLOAD_KINDS) {
    for (const w of s.of(kind)) {
      const spec = kind === 'CronJob' ? obj(obj(w.spec.jobTemplate).spec) : w.spec;
      const tpl = obj(spec.template);
      const meta = obj(tpl.metadata);
      const labels = labelsOf(meta.labels);
      // A Pod written out for this workload already stands for it.
      if (pods.some((p) => p.namespace === w.namespace && Object.keys(labels).length > 0 && selectorMatches(labels, p.labels) && p.resource.kind === 'Pod')) continue;
      pods.push({
        name: w.name, namespace: w.namespace, labels, annotations: labelsOf(meta.annotations),
        nodeName: str(obj(tpl.spec).nodeName), containers: arr(obj(tpl.spec).containers).map(obj), resource: w,
      });
    }
  }
  return pods;
}

/** Istio's InitServiceEntryHostMap: ServiceEntry hosts by exportTo scope, then Services (exportTo annotation). */
function buildServiceHosts(s: Snapshot): Map<string, ServiceHost> {
  const out = new Map<string, ServiceHost>();
  for (const r of s.of('ServiceEntry')) {
    const hosts = arr(r.spec.hosts).map(str);
    const exportTo = arr(r.spec.exportTo).map(str);
    const svc: ServiceHost = {
      hosts,
      ports: arr(r.spec.ports).map(obj).map((p) => ({ number: num(p.number), name: str(p.name), protocol: str(p.protocol) })),
      workloadSelector: labelsOf(obj(r.spec.workloadSelector).labels),
      resource: r,
    };
    for (const h of hosts) {
      if (exportTo.length === 0 || exportTo.includes(EXPORT_ALL)) {
        out.set(scopedFqdn(EXPORT_ALL, r.namespace, h), svc);
        continue;
      }
      for (const e of exportTo) out.set(scopedFqdn(e === EXPORT_LOCAL ? r.namespace : e, r.namespace, h), svc);
    }
  }
  for (const r of s.of('Service')) {
    if (r.group !== '') continue;
    const svc: ServiceHost = {
      hosts: [`${r.name}.${r.namespace}.svc.cluster.local`],
      ports: arr(r.spec.ports).map(obj).map((p) => ({ number: num(p.port), name: str(p.name), protocol: str(p.protocol) })),
      resource: r,
    };
    const anno = labelsOf(r.metadata.annotations)['networking.istio.io/exportTo'] ?? '';
    const scopes = anno === '' ? [EXPORT_ALL] : anno.split(',').map((x) => x.trim()).map((x) => (x === EXPORT_LOCAL ? r.namespace : x));
    for (const scope of scopes) out.set(scopedFqdn(scope, r.namespace, r.name), svc);
  }
  return out;
}

const DEFAULT_INGRESS = `
apiVersion: v1
kind: Pod
metadata:
  name: istio-ingressgateway-dummypod
  namespace: istio-system
  labels: {istio: ingressgateway}
spec:
  containers: [{name: istio-proxy}]
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-system
  labels: {istio: ingressgateway, app: istio-ingressgateway}
spec:
  selector: {istio: ingressgateway}
  ports:
  - {name: status-port, port: 15021, protocol: TCP, targetPort: 15021}
  - {name: http2, port: 80, protocol: TCP, targetPort: 8080}
  - {name: https, port: 443, protocol: TCP, targetPort: 8443}
  - {name: tcp, port: 31400, protocol: TCP, targetPort: 31400}
  - {name: tls, port: 15443, protocol: TCP, targetPort: 15443}
`;

/**
 * istioctl's stand-ins for the ingress gateway it expects Istio to have installed (local/defaults.go),
 * with the ports of the gateway `istioctl install` deploys today (80->8080, 443->8443; istioctl's own
 * stand-in still says 80->80, which flags the Bookinfo gateway's port 8080 wrongly).
 */
function defaultResources(): ConfigResource[] {
  return parseText('internal-ingress', DEFAULT_INGRESS).resources.map((r) => ({ ...r, source: undefined }));
}
