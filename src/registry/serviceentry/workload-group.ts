/**
 * WorkloadGroup auto-registration (Istio: autoregistration): a VM's proxy connecting with
 * `WORKLOAD_GROUP` (and `NAMESPACE`) in its node metadata becomes a WorkloadEntry built from the
 * group's template — its IP as address, the group's labels plus the proxy's — so ServiceEntries
 * and Services selecting those labels gain it as an endpoint. The pilot adds the entry while the
 * proxy is connected and removes it when it leaves.
 */
import type { ConfigResource } from '../../config/resource.js';
import type { WorkloadGroupSpec } from '../../api/types.js';
import type { Proxy } from '../../model/proxy.js';

/** The WorkloadEntry for a connected proxy, or undefined when it names no group we know. */
export function workloadEntryForProxy(groups: readonly ConfigResource[], proxy: Proxy): ConfigResource | undefined {
  const groupName = proxy.metadata.WORKLOAD_GROUP;
  if (typeof groupName !== 'string' || !groupName) return undefined;
  const group = groups.find((g) => g.kind === 'WorkloadGroup' && g.name === groupName && g.namespace === proxy.namespace);
  const address = proxy.ipAddresses[0];
  if (!group || !address) return undefined;
  const spec = group.spec as unknown as WorkloadGroupSpec;
  const t = spec.template ?? {};
  const labels = { ...(spec.metadata?.labels ?? {}), ...(t.labels ?? {}), ...proxy.labels };
  const name = `${group.name}-${address.replace(/[.:]/g, '-')}`;
  const entry = {
    address,
    labels,
    ...(t.ports ? { ports: t.ports } : {}),
    serviceAccount: t.serviceAccount ?? proxy.serviceAccount ?? 'default',
    ...(t.network ? { network: t.network } : {}),
    ...(t.locality ? { locality: t.locality } : {}),
    ...(t.weight ? { weight: t.weight } : {}),
  };
  const metadata = {
    name,
    namespace: group.namespace,
    labels,
    annotations: { ...(spec.metadata?.annotations ?? {}), 'istio.io/autoRegistrationGroup': group.name },
  };
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'WorkloadEntry',
    group: 'networking.istio.io',
    version: 'v1',
    name,
    namespace: group.namespace,
    metadata,
    spec: entry as Record<string, unknown>,
    raw: { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata, spec: entry },
  };
}
