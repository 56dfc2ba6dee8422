/**
 * Kubernetes services from Service objects (read from files), with endpoints from, in order of
 * preference: EndpointSlices (`kubernetes.io/service-name` label), an Endpoints object of the
 * same name, or the workloads (Pods with an IP, WorkloadEntries) the Service selector picks —
 * what Kubernetes' endpoint controller would have written. A Service with none of these has no
 * endpoints (the local runtime supplies Pods later).
 */
import type { ConfigResource } from '../../config/resource.js';
import type { K8sEndpointSlice, K8sEndpointsSubset, K8sServiceSpec } from '../../api/types.js';
import { kubePortProtocol } from '../../model/protocol.js';
import { selectorMatches, type Endpoint, type Service, type ServicePort } from '../../model/service.js';
import { SnapshotHolder } from '../diff.js';
import { endpointKey, type RegistryEvent, type RegistrySnapshot, type ServiceRegistry, type Workload } from '../types.js';
import { workloadsFrom } from '../workloads.js';

const isCore = (r: ConfigResource, kind: string) => r.kind === kind && (r.group === '' || r.group === 'discovery.k8s.io');

function serviceOf(r: ConfigResource, dnsDomain: string, creation: number): Service {
  const spec = r.spec as K8sServiceSpec;
  const ports: ServicePort[] = (spec.ports ?? []).map((p) => ({
    name: p.name ?? '',
    port: p.port,
    protocol: kubePortProtocol(p.name, p.appProtocol, p.protocol),
    ...(typeof p.targetPort === 'number' ? { targetPort: p.targetPort } : {}),
  }));
  const ips = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  const headless = spec.clusterIP === 'None';
  const exportTo = r.metadata.annotations?.['networking.istio.io/exportTo'];
  return {
    hostname: `${r.name}.${r.namespace}.svc.${dnsDomain}`,
    namespace: r.namespace,
    name: r.name,
    addresses: ips.filter((ip) => ip !== 'None'),
    ports,
    resolution: spec.type === 'ExternalName' ? 'DNSLB' : headless ? 'Passthrough' : 'ClientSideLB',
    meshExternal: spec.type === 'ExternalName',
    ...(exportTo ? { exportTo: exportTo.split(',').map((s) => s.trim()) } : {}),
    registry: 'Kubernetes',
    ...(spec.selector ? { selector: spec.selector } : {}),
    creation,
    source: `Service/${r.namespace}/${r.name}`,
  };
}

/** The workload port for a service port: numeric targetPort, a named container port, or the port. */
function targetPortOf(raw: unknown, port: ServicePort, w: Workload | undefined): number | undefined {
  if (typeof raw === 'string') return w?.namedPorts[raw];
  return port.targetPort ?? port.port;
}

function endpointOf(w: Workload | undefined, address: string, namespace: string, servicePort: number, port: number): Endpoint {
  return {
    address,
    port,
    servicePort,
    labels: w?.labels ?? {},
    namespace: w?.namespace ?? namespace,
    workloadName: w?.workloadName ?? '',
    ...(w?.serviceAccount ? { serviceAccount: w.serviceAccount } : {}),
    ...(w?.locality ? { locality: w.locality } : {}),
    ...(w?.network ? { network: w.network } : {}),
    ...(w?.weight !== undefined ? { weight: w.weight } : {}),
    tlsMode: w?.tlsMode ?? 'disabled',
    healthy: w?.weight !== 0,
  };
}

/** `workloads` are those of the service's namespace. */
function endpointsOf(svc: Service, r: ConfigResource, slices: ConfigResource[], eps: ConfigResource | undefined, workloads: readonly Workload[]): Endpoint[] {
  const spec = r.spec as K8sServiceSpec;
  const byIp = (() => {
    let m: Map<string, Workload> | undefined;
    return { get: (ip: string) => (m ??= new Map(workloads.map((w) => [w.address, w]))).get(ip) };
  })();
  const out: Endpoint[] = [];
  const portFor = (name: string | undefined) => svc.ports.find((p) => (p.name || '') === (name ?? '')) ?? (svc.ports.length === 1 ? svc.ports[0] : undefined);
  if (spec.type === 'ExternalName' && spec.externalName) {
    for (const p of svc.ports) out.push(endpointOf(undefined, spec.externalName, svc.namespace, p.port, p.port));
    return out;
  }
  if (slices.length) {
    for (const s of slices) {
      const slice = s.raw as unknown as K8sEndpointSlice;
      for (const sp of slice.ports ?? []) {
        const port = portFor(sp.name);
        if (!port || sp.port === undefined) continue;
        for (const e of slice.endpoints ?? []) {
          for (const a of e.addresses ?? []) {
            const w = byIp.get(a);
            const ep = endpointOf(w, a, svc.namespace, port.port, sp.port);
            if (e.conditions?.ready === false) ep.healthy = false;
            out.push(ep);
          }
        }
      }
    }
    return out;
  }
  if (eps) {
    for (const sub of ((eps.raw as { subsets?: K8sEndpointsSubset[] }).subsets ?? [])) {
      for (const sp of sub.ports ?? []) {
        const port = portFor(sp.name);
        if (!port) continue;
        for (const a of sub.addresses ?? []) out.push(endpointOf(byIp.get(a.ip), a.ip, svc.namespace, port.port, sp.port));
        for (const a of sub.notReadyAddresses ?? []) out.push({ ...endpointOf(byIp.get(a.ip), a.ip, svc.namespace, port.port, sp.port), healthy: false });
      }
    }
    return out;
  }
  if (!spec.selector) return out;
  const rawPorts = spec.ports ?? [];
  for (const w of workloads) {
    if (!selectorMatches(spec.selector, w.labels)) continue;
    svc.ports.forEach((p, i) => {
      const target = targetPortOf(rawPorts[i]?.targetPort, p, w);
      if (target !== undefined) out.push(endpointOf(w, w.address, svc.namespace, p.port, target));
    });
  }
  return out;
}

/** Services and endpoints described by Kubernetes objects (plus WorkloadEntries selected by Services). */
export function kubeSnapshot(resources: readonly ConfigResource[], dnsDomain = 'cluster.local'): RegistrySnapshot {
  const workloads = workloadsFrom(resources);
  const slicesBySvc = new Map<string, ConfigResource[]>();
  const endpointsByName = new Map<string, ConfigResource>();
  for (const r of resources) {
    if (isCore(r, 'EndpointSlice')) {
      const svc = r.metadata.labels?.['kubernetes.io/service-name'];
      if (!svc) continue;
      const k = `${r.namespace}/${svc}`;
      const list = slicesBySvc.get(k);
      if (list) list.push(r);
      else slicesBySvc.set(k, [r]);
    } else if (isCore(r, 'Endpoints')) {
      endpointsByName.set(`${r.namespace}/${r.name}`, r);
    }
  }
  const services: Service[] = [];
  const endpoints = new Map<string, Endpoint[]>();
  const workloadsByNs = new Map<string, Workload[]>();
  for (const w of workloads) {
    const list = workloadsByNs.get(w.namespace);
    if (list) list.push(w);
    else workloadsByNs.set(w.namespace, [w]);
  }
  let creation = 0;
  for (const r of resources) {
    if (r.kind !== 'Service' || r.group !== '') continue;
    const svc = serviceOf(r, dnsDomain, creation++);
    services.push(svc);
    const k = `${r.namespace}/${r.name}`;
    endpoints.set(endpointKey(svc.namespace, svc.hostname), endpointsOf(svc, r, slicesBySvc.get(k) ?? [], endpointsByName.get(k), workloadsByNs.get(r.namespace) ?? []));
  }
  // WorkloadEntries are reported by the ServiceEntry registry; Pods here.
  return { services, endpoints, workloads: workloads.filter((w) => w.kind === 'Pod') };
}

/** Kubernetes objects read from files; `update` replaces the set and emits what changed. */
export class KubeFileRegistry implements ServiceRegistry {
  readonly name = 'Kubernetes';
  private readonly holder: SnapshotHolder;

  constructor(resources: readonly ConfigResource[] = [], private readonly dnsDomain = 'cluster.local') {
    this.holder = new SnapshotHolder(kubeSnapshot(resources, dnsDomain));
  }

  update(resources: readonly ConfigResource[]): RegistryEvent[] {
    return this.holder.replace(kubeSnapshot(resources, this.dnsDomain));
  }

  snapshot(): RegistrySnapshot {
    return this.holder.get();
  }

  onChange(handler: (events: RegistryEvent[]) => void): () => void {
    return this.holder.subscribe(handler);
  }
}
