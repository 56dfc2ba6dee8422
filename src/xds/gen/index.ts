/**
 * Envoy xDS v3 generation: the seam between the model and the ADS server.
 *
 * The server builds a PushContext when config or the registry changes, turns each connected
 * Node into a Proxy, and asks `generate` for each type a proxy subscribes to. Generators are pure
 * functions of (proxy, push) (Istio: pilot/pkg/networking/core); each declares the config kinds
 * that can change its output, so a push can skip types a change cannot touch.
 */
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { ConfigResource } from '../../config/resource.js';
import { PushContext } from '../../model/push-context.js';
import { proxyFromNode, type Proxy } from '../../model/proxy.js';
import type { MeshConfig } from '../../model/mesh.js';
import { snapshotFromResources } from '../../registry/aggregate.js';
import type { RegistrySnapshot } from '../../registry/types.js';
import type { EnvoyJson } from '../codec.js';
import { TypeUrl, type ResourceTypeUrl } from '../resource-types.js';
import { generateClusters } from './cds.js';
import { generateEndpoints } from './eds.js';
import { generateListeners } from './lds.js';
import { generateRoutes } from './rds.js';
import { generateSecrets } from './sds.js';

export type { MeshConfig } from '../../model/mesh.js';
export { defaultMeshConfig, loadMeshConfig, meshConfigFrom } from '../../model/mesh.js';
export type { Proxy } from '../../model/proxy.js';
export { PushContext } from '../../model/push-context.js';
export { proxyFromNode };

export interface BuildOptions {
  /**
   * The registry snapshot to use (an aggregate of live sources). When absent, services and
   * endpoints come from the Kubernetes objects and ServiceEntries among `resources`.
   */
  registry?: RegistrySnapshot;
}

let pushCounter = 0;

/**
 * An immutable snapshot of `resources` (Istio config and Kubernetes objects) and the registry.
 * With `previous`, an unchanged set of registry objects (Services, Pods, ServiceEntries ...)
 * reuses its registry snapshot; config indexes are rebuilt (they are cheap).
 */
export function buildPushContext(resources: ConfigResource[], mesh: MeshConfig, previous?: PushContext, opts: BuildOptions = {}): PushContext {
  resources = latestOfEach(resources);
  const registryInputs = resources.filter((r) => REGISTRY_KINDS.includes(r.kind));
  let registry = opts.registry;
  if (!registry) {
    // Config-only changes (a VirtualService edited) keep the previous registry snapshot.
    const same = previous && previous.mesh.dnsDomain === mesh.dnsDomain && sameResources(previous.registryInputs, registryInputs);
    registry = same ? previous.registry : snapshotFromResources(resources, mesh.dnsDomain);
  }
  const seq = ++pushCounter;
  const version = `${new Date().toISOString()}/${seq}`;
  return new PushContext({ resources, mesh, registry, version, registryInputs });
}

function sameResources(a: readonly ConfigResource[], b: readonly ConfigResource[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && a[i].raw !== b[i].raw && !isDeepStrictEqual(a[i].raw, b[i].raw)) return false;
  return true;
}

/**
 * One resource per kind/namespace/name: a later one replaces an earlier one (as `kubectl apply`
 * of the second file would), keeping the order of the rest.
 */
export function latestOfEach(resources: readonly ConfigResource[]): ConfigResource[] {
  const byKey = new Map<string, ConfigResource>();
  for (const r of resources) {
    const k = `${r.group}/${r.kind}/${r.namespace}/${r.name}`;
    byKey.delete(k);
    byKey.set(k, r);
  }
  return byKey.size === resources.length ? [...resources] : [...byKey.values()];
}

/**
 * The resources of one type for one proxy, in Envoy's JSON form with `@type`. For EDS and RDS,
 * `names` are the resources the proxy asked for (all when absent); CDS, LDS and SDS ignore
 * `names` except that SDS returns only the named secrets when given.
 */
export function generate(proxy: Proxy, push: PushContext, typeUrl: ResourceTypeUrl, names?: string[]): EnvoyJson[] {
  switch (typeUrl) {
    case TypeUrl.Cluster:
      return generateClusters(proxy, push);
    case TypeUrl.ClusterLoadAssignment:
      return generateEndpoints(proxy, push, names);
    case TypeUrl.Listener:
      return generateListeners(proxy, push);
    case TypeUrl.RouteConfiguration:
      return generateRoutes(proxy, push, names);
    case TypeUrl.Secret:
      return generateSecrets(proxy, push, names);
    default:
      return [];
  }
}

/** Kinds of the service registry (Kubernetes core objects and Istio's workload kinds). */
const REGISTRY_KINDS = ['Service', 'Endpoints', 'EndpointSlice', 'Pod', 'Deployment', 'ServiceEntry', 'WorkloadEntry', 'WorkloadGroup'];

const AFFECTING: Record<ResourceTypeUrl, ReadonlySet<string>> = {
  [TypeUrl.Cluster]: new Set([...REGISTRY_KINDS, 'DestinationRule', 'Sidecar', 'Gateway', 'VirtualService', 'PeerAuthentication', 'MeshConfig']),
  [TypeUrl.ClusterLoadAssignment]: new Set([...REGISTRY_KINDS, 'DestinationRule', 'MeshConfig']),
  [TypeUrl.Listener]: new Set([...REGISTRY_KINDS, 'VirtualService', 'DestinationRule', 'Gateway', 'Sidecar', 'PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication', 'Telemetry', 'MeshConfig']),
  [TypeUrl.RouteConfiguration]: new Set([...REGISTRY_KINDS, 'VirtualService', 'DestinationRule', 'Gateway', 'Sidecar', 'MeshConfig']),
  [TypeUrl.Secret]: new Set(['Secret', 'Gateway']),
};

/** Which config kinds (Kubernetes `kind`, plus `MeshConfig`) can change this type's output. */
export function configKindsAffecting(typeUrl: ResourceTypeUrl | string): Set<string> {
  return new Set(AFFECTING[typeUrl as ResourceTypeUrl] ?? []);
}

/** A short stable hash of a resource (for versions and change detection). */
export function resourceHash(r: EnvoyJson): string {
  return createHash('sha256').update(JSON.stringify(r)).digest('hex').slice(0, 16);
}
