/**
 * Services from Istio ServiceEntries (Istio: serviceregistry/serviceentry). Each host becomes a
 * Service; endpoints come from `spec.endpoints`, or from the workloads (WorkloadEntries and Pods)
 * its `workloadSelector` picks, or — for DNS resolution without endpoints — the host itself.
 */
import type { ConfigResource } from '../../config/resource.js';
import type { ServiceEntrySpec } from '../../api/types.js';
import { parseProtocol, protocolFromPortName } from '../../model/protocol.js';
import { parseLocality, selectorMatches, type Endpoint, type Resolution, type Service, type ServicePort } from '../../model/service.js';
import { SnapshotHolder } from '../diff.js';
import { endpointKey, type RegistryEvent, type RegistrySnapshot, type ServiceRegistry, type Workload } from '../types.js';
import { workloadsFrom } from '../workloads.js';

const RESOLUTION: Record<NonNullable<ServiceEntrySpec['resolution']>, Resolution> = {
  NONE: 'Passthrough',
  STATIC: 'ClientSideLB',
  DNS: 'DNSLB',
  DNS_ROUND_ROBIN: 'DNSRoundRobinLB',
  DYNAMIC_DNS: 'DNSLB',
};

const isIp = (s: string) => /^[0-9.]+$/.test(s) || s.includes(':');

function portsOf(spec: ServiceEntrySpec): ServicePort[] {
  return (spec.ports ?? []).map((p) => {
    const fromField = parseProtocol(p.protocol);
    return {
      name: p.name,
      port: p.number,
      protocol: fromField !== 'Unsupported' ? fromField : protocolFromPortName(p.name),
      ...(p.targetPort ? { targetPort: p.targetPort } : {}),
    };
  });
}

function seEndpoints(svc: Service, spec: ServiceEntrySpec, namespace: string, workloads: readonly Workload[]): Endpoint[] {
  const out: Endpoint[] = [];
  const tlsDefault = svc.meshExternal ? 'disabled' : 'istio';
  if (spec.workloadSelector) {
    for (const w of workloads) {
      if (w.namespace !== namespace || !selectorMatches(spec.workloadSelector.labels ?? {}, w.labels)) continue;
      for (const p of svc.ports) {
        out.push({
          address: w.address, port: w.namedPorts[p.name] ?? p.targetPort ?? p.port, servicePort: p.port, labels: w.labels,
          namespace, workloadName: w.workloadName, serviceAccount: w.serviceAccount, locality: w.locality, network: w.network,
          weight: w.weight, tlsMode: w.tlsMode, healthy: w.weight !== 0,
        });
      }
    }
    return out;
  }
  if (spec.endpoints?.length) {
    for (const e of spec.endpoints) {
      if (!e.address) continue;
      for (const p of svc.ports) {
        const labels = e.labels ?? {};
        out.push({
          address: e.address, port: e.ports?.[p.name] ?? p.targetPort ?? p.port, servicePort: p.port, labels, namespace,
          workloadName: svc.hostname, ...(e.serviceAccount ? { serviceAccount: e.serviceAccount } : {}),
          ...(e.locality ? { locality: parseLocality(e.locality) } : {}), ...(e.network ? { network: e.network } : {}),
          ...(e.weight !== undefined ? { weight: e.weight } : {}),
          tlsMode: labels['security.istio.io/tlsMode'] === 'istio' ? 'istio' : tlsDefault === 'istio' && !svc.meshExternal ? 'disabled' : 'disabled',
          healthy: true,
        });
      }
    }
    return out;
  }
  if ((svc.resolution === 'DNSLB' || svc.resolution === 'DNSRoundRobinLB') && !svc.hostname.startsWith('*')) {
    for (const p of svc.ports) {
      out.push({ address: svc.hostname, port: p.targetPort ?? p.port, servicePort: p.port, labels: {}, namespace, workloadName: svc.hostname, tlsMode: 'disabled', healthy: true });
    }
  }
  return out;
}

/** Services and endpoints described by ServiceEntries (workloads: Pods and WorkloadEntries to select from). */
export function serviceEntrySnapshot(resources: readonly ConfigResource[], workloads: readonly Workload[] = workloadsFrom(resources)): RegistrySnapshot {
  const services: Service[] = [];
  const endpoints = new Map<string, Endpoint[]>();
  let creation = 0;
  for (const r of resources) {
    if (r.kind !== 'ServiceEntry') continue;
    const spec = r.spec as unknown as ServiceEntrySpec;
    const ports = portsOf(spec);
    const meshExternal = spec.location !== 'MESH_INTERNAL';
    const resolution = RESOLUTION[spec.resolution ?? 'NONE'];
    for (const host of spec.hosts ?? []) {
      const svc: Service = {
        hostname: host,
        namespace: r.namespace,
        name: host,
        addresses: (spec.addresses ?? []).filter((a) => isIp(a.split('/')[0])),
        ports,
        resolution,
        meshExternal,
        ...(spec.exportTo ? { exportTo: spec.exportTo } : {}),
        registry: 'External',
        ...(spec.workloadSelector?.labels ? { selector: spec.workloadSelector.labels } : {}),
        ...(spec.subjectAltNames ? { subjectAltNames: spec.subjectAltNames } : {}),
        creation: 1_000_000 + creation++,
        source: `ServiceEntry/${r.namespace}/${r.name}`,
      };
      services.push(svc);
      const k = endpointKey(svc.namespace, svc.hostname);
      const list = endpoints.get(k);
      if (list) list.push(...seEndpoints(svc, spec, r.namespace, workloads));
      else endpoints.set(k, seEndpoints(svc, spec, r.namespace, workloads));
    }
  }
  return { services, endpoints, workloads: workloads.filter((w) => w.kind === 'WorkloadEntry') };
}

/** ServiceEntries and WorkloadEntries; `update` replaces the set and emits what changed. */
export class ServiceEntryRegistry implements ServiceRegistry {
  readonly name = 'External';
  private readonly holder: SnapshotHolder;

  constructor(resources: readonly ConfigResource[] = []) {
    this.holder = new SnapshotHolder(serviceEntrySnapshot(resources));
  }

  update(resources: readonly ConfigResource[]): RegistryEvent[] {
    return this.holder.replace(serviceEntrySnapshot(resources));
  }

  snapshot(): RegistrySnapshot {
    return this.holder.get();
  }

  onChange(handler: (events: RegistryEvent[]) => void): () => void {
    return this.holder.subscribe(handler);
  }
}
