/**
 * The aggregate registry: several sources seen as one (Istio: serviceregistry/aggregate).
 * Services are concatenated in source order (Kubernetes first, so it wins a duplicate host);
 * endpoint lists for the same key are joined; events are forwarded unchanged.
 */
import type { ConfigResource } from '../config/resource.js';
import type { Endpoint } from '../model/service.js';
import { kubeSnapshot, KubeFileRegistry } from './kube/index.js';
import { serviceEntrySnapshot, ServiceEntryRegistry } from './serviceentry/index.js';
import type { RegistryEvent, RegistrySnapshot, ServiceRegistry } from './types.js';

export class AggregateRegistry implements ServiceRegistry {
  readonly name = 'Aggregate';
  private cached: RegistrySnapshot | undefined;
  private readonly handlers = new Set<(events: RegistryEvent[]) => void>();

  constructor(private readonly sources: readonly ServiceRegistry[]) {
    for (const s of sources) {
      s.onChange((events) => {
        this.cached = undefined;
        for (const h of this.handlers) h(events);
      });
    }
  }

  snapshot(): RegistrySnapshot {
    if (!this.cached) this.cached = mergeSnapshots(this.sources.map((s) => s.snapshot()));
    return this.cached;
  }

  onChange(handler: (events: RegistryEvent[]) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }
}

export function mergeSnapshots(snaps: readonly RegistrySnapshot[]): RegistrySnapshot {
  if (snaps.length === 1) return snaps[0];
  const endpoints = new Map<string, readonly Endpoint[]>();
  for (const s of snaps) {
    for (const [k, v] of s.endpoints) {
      const have = endpoints.get(k);
      endpoints.set(k, have ? [...have, ...v] : v);
    }
  }
  return { services: snaps.flatMap((s) => s.services), endpoints, workloads: snaps.flatMap((s) => s.workloads) };
}

/** The registries a set of config files describes: Kubernetes objects plus ServiceEntries. */
export function registriesFromResources(resources: readonly ConfigResource[], dnsDomain = 'cluster.local'): { kube: KubeFileRegistry; serviceEntries: ServiceEntryRegistry; aggregate: AggregateRegistry } {
  const kube = new KubeFileRegistry(resources, dnsDomain);
  const serviceEntries = new ServiceEntryRegistry(resources);
  return { kube, serviceEntries, aggregate: new AggregateRegistry([kube, serviceEntries]) };
}

/** One snapshot straight from resources (what buildPushContext uses when given no registry). */
export function snapshotFromResources(resources: readonly ConfigResource[], dnsDomain = 'cluster.local'): RegistrySnapshot {
  const kube = kubeSnapshot(resources, dnsDomain);
  return mergeSnapshots([kube, serviceEntrySnapshot(resources)]);
}
