/**
 * The service registry: one interface over every source of services and endpoints (Kubernetes
 * objects read from files, ServiceEntry/WorkloadEntry, later the local runtime and a live
 * Kubernetes API). Each source keeps an immutable snapshot and says what changed; the pilot
 * debounces those events and builds a new PushContext. (Istio: serviceregistry/aggregate.)
 */
import type { Endpoint, Locality, Service } from '../model/service.js';

/** A running workload (a Pod or a WorkloadEntry) that selectors can pick. */
export interface Workload {
  kind: 'Pod' | 'WorkloadEntry';
  /** Pod or WorkloadEntry name. */
  name: string;
  /** Owning workload (Deployment) name; the WorkloadEntry name for VMs. */
  workloadName: string;
  namespace: string;
  address: string;
  labels: Record<string, string>;
  serviceAccount?: string;
  /** Named container ports (Pods) or WorkloadEntry `ports` (port name → number). */
  namedPorts: Record<string, number>;
  tlsMode: 'istio' | 'disabled';
  locality?: Locality;
  network?: string;
  weight?: number;
}

export interface RegistryEvent {
  kind: 'Service' | 'Endpoints';
  event: 'add' | 'update' | 'delete';
  hostname: string;
  namespace: string;
}

/** What a registry holds at one moment. Never mutated: an update makes a new one. */
export interface RegistrySnapshot {
  services: readonly Service[];
  /** Endpoints by `namespace/hostname` (a host may be defined in two namespaces by ServiceEntries). */
  endpoints: ReadonlyMap<string, readonly Endpoint[]>;
  workloads: readonly Workload[];
}

export interface ServiceRegistry {
  readonly name: string;
  snapshot(): RegistrySnapshot;
  /** Subscribes to changes; returns the unsubscribe function. */
  onChange(handler: (events: RegistryEvent[]) => void): () => void;
}

export const endpointKey = (namespace: string, hostname: string): string => `${namespace}/${hostname}`;

export const EMPTY_SNAPSHOT: RegistrySnapshot = { services: [], endpoints: new Map(), workloads: [] };
