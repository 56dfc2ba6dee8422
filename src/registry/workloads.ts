/**
 * Workloads from Kubernetes Pods (those with `status.podIP`) and Istio WorkloadEntries: the
 * things Service selectors and ServiceEntry workloadSelectors pick endpoints from.
 */
import type { ConfigResource } from '../config/resource.js';
import type { K8sPodSpec, WorkloadEntrySpec } from '../api/types.js';
import { parseLocality } from '../model/service.js';
import type { Workload } from './types.js';

const ANNOT_INJECT = 'sidecar.istio.io/inject';
const LABEL_TLS_MODE = 'security.istio.io/tlsMode';

interface PodObject {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: { kind?: string; name?: string }[] };
  spec?: K8sPodSpec;
  status?: { podIP?: string; phase?: string; conditions?: { type: string; status: string }[] };
}

/** The Deployment name behind a Pod: its ReplicaSet owner without the template hash. */
function workloadNameOf(pod: PodObject, name: string): string {
  const rs = pod.metadata?.ownerReferences?.find((o) => o.kind === 'ReplicaSet')?.name;
  if (rs) return rs.replace(/-[a-z0-9]{5,10}$/, '');
  const owner = pod.metadata?.ownerReferences?.[0]?.name;
  if (owner) return owner;
  return pod.metadata?.labels?.['spar.io/workload'] ?? name;
}

function podWorkload(r: ConfigResource): Workload | undefined {
  const pod = r.raw as PodObject;
  const ip = pod.status?.podIP;
  if (!ip) return undefined;
  const labels = { ...(r.metadata.labels ?? {}) };
  const inject = r.metadata.annotations?.[ANNOT_INJECT] ?? labels[ANNOT_INJECT];
  const namedPorts: Record<string, number> = {};
  for (const c of pod.spec?.containers ?? []) for (const p of c.ports ?? []) if (p.name) namedPorts[p.name] = p.containerPort;
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  return {
    kind: 'Pod',
    name: r.name,
    workloadName: workloadNameOf(pod, r.name),
    namespace: r.namespace,
    address: ip,
    labels,
    serviceAccount: pod.spec?.serviceAccountName ?? pod.spec?.serviceAccount ?? 'default',
    namedPorts,
    tlsMode: inject === 'false' || labels[LABEL_TLS_MODE] === 'disabled' ? 'disabled' : 'istio',
    locality: parseLocality(labels['topology.istio.io/locality']?.replace(/\./g, '/')) ?? zoneLocality(labels),
    network: labels['topology.istio.io/network'],
    ...(ready && ready.status !== 'True' ? { weight: 0 } : {}),
  };
}

function zoneLocality(labels: Record<string, string>) {
  const region = labels['topology.kubernetes.io/region'];
  const zone = labels['topology.kubernetes.io/zone'];
  return region || zone ? { region, zone, subZone: labels['topology.istio.io/subzone'] } : undefined;
}

function workloadEntry(r: ConfigResource): Workload | undefined {
  const spec = r.spec as unknown as WorkloadEntrySpec;
  if (!spec.address) return undefined;
  return {
    kind: 'WorkloadEntry',
    name: r.name,
    workloadName: r.name,
    namespace: r.namespace,
    address: spec.address,
    labels: { ...(spec.labels ?? {}) },
    serviceAccount: spec.serviceAccount ?? 'default',
    namedPorts: { ...(spec.ports ?? {}) },
    // A WorkloadEntry stands for a VM running Istio's agent unless labelled otherwise.
    tlsMode: spec.labels?.[LABEL_TLS_MODE] === 'disabled' ? 'disabled' : 'istio',
    locality: parseLocality(spec.locality),
    network: spec.network,
    weight: spec.weight,
  };
}

/** Every workload the resources describe, in resource order. */
export function workloadsFrom(resources: readonly ConfigResource[]): Workload[] {
  const out: Workload[] = [];
  for (const r of resources) {
    const w = r.kind === 'Pod' && r.group === '' ? podWorkload(r) : r.kind === 'WorkloadEntry' ? workloadEntry(r) : undefined;
    if (w) out.push(w);
  }
  return out;
}
