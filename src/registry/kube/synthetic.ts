/**
 * Stand-ins for what a Kubernetes cluster would add to YAML read from files: a ClusterIP for each
 * Service that has none (from 10.96.0.0/16) and one Pod per Deployment replica with an IP (from
 * 10.88.0.0/16), as `spar up`'s pod network does. Tests, benchmarks and file-only runs use it to
 * give Services endpoints; addresses are assigned in resource order, so they are stable.
 */
import { createHash } from 'node:crypto';
import type { ConfigResource } from '../../config/resource.js';
import type { K8sDeploymentSpec, K8sServiceSpec } from '../../api/types.js';

export interface SyntheticOptions {
  /** First service VIP (default 10.96.0.10). */
  serviceBase?: string;
  /** First pod IP (default 10.88.0.5). */
  podBase?: string;
}

function ipAdd(base: string, n: number): string {
  const v = base.split('.').reduce((a, o) => a * 256 + Number(o), 0) + n;
  return [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join('.');
}

const hashOf = (s: string) => createHash('sha256').update(s).digest('hex').replace(/[^a-z0-9]/g, '').slice(0, 10);

/** A copy of `resources` with ClusterIPs filled in and Pods added for Deployments. */
export function withSyntheticAddresses(resources: readonly ConfigResource[], opts: SyntheticOptions = {}): ConfigResource[] {
  let vip = 0;
  let pod = 0;
  const out: ConfigResource[] = [];
  const pods: ConfigResource[] = [];
  for (const r of resources) {
    if (r.kind === 'Service' && r.group === '') {
      const spec = r.spec as K8sServiceSpec;
      if (!spec.clusterIP && spec.type !== 'ExternalName') {
        const clusterIP = ipAdd(opts.serviceBase ?? '10.96.0.10', vip++);
        const nspec = { ...spec, clusterIP };
        out.push({ ...r, spec: nspec as Record<string, unknown>, raw: { ...r.raw, spec: nspec } });
        continue;
      }
    }
    out.push(r);
    if (r.kind === 'Deployment' && (r.group === 'apps' || r.group === 'extensions')) {
      const spec = r.spec as unknown as K8sDeploymentSpec;
      const rs = `${r.name}-${hashOf(`${r.namespace}/${r.name}`)}`;
      for (let i = 0; i < (spec.replicas ?? 1); i++) {
        const name = `${rs}-${hashOf(`${rs}/${i}`).slice(0, 5)}`;
        const metadata = {
          name,
          namespace: r.namespace,
          labels: { ...(spec.template.metadata?.labels ?? {}) },
          annotations: { ...(spec.template.metadata?.annotations ?? {}) },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs }],
        };
        const raw = { apiVersion: 'v1', kind: 'Pod', metadata, spec: spec.template.spec, status: { phase: 'Running', podIP: ipAdd(opts.podBase ?? '10.88.0.5', pod++) } };
        pods.push({ apiVersion: 'v1', kind: 'Pod', group: '', version: 'v1', name, namespace: r.namespace, metadata, spec: spec.template.spec as unknown as Record<string, unknown>, raw });
      }
    }
  }
  return [...out, ...pods];
}
