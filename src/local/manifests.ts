/**
 * What the local runtime makes of Kubernetes YAML: Namespaces (their `istio-injection` label),
 * Deployments (one pod per replica, named as a ReplicaSet would name them), Services and
 * ServiceAccounts. Everything else (Istio's kinds) goes to the pilot untouched. Pods get their
 * commands from the sample image map (samples/images.ts).
 */
import { createHash } from 'node:crypto';
import type { ConfigResource } from '../config/resource.js';
import type { K8sContainer, K8sDeploymentSpec, K8sServiceSpec } from '../api/types.js';

/** `kind/namespace/name`. */
export const resourceKey = (r: { kind: string; namespace: string; name: string }): string => `${r.kind}/${r.namespace}/${r.name}`;

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
export const isClusterScoped = (kind: string): boolean => CLUSTER_SCOPED.has(kind);

const hash = (s: string, n: number) => createHash('sha256').update(s).digest('hex').slice(0, n);
/** Kubernetes' safe-encoding alphabet for generated names (no vowels, no 0/1/3). */
const SAFE = 'bcdfghjklmnpqrstvwxz2456789';
const safeHash = (s: string, n: number) => {
  const h = createHash('sha256').update(s).digest();
  return [...h.subarray(0, n)].map((b) => SAFE[b % SAFE.length]).join('');
};

/** One pod the runtime should be running. */
export interface PodSpecLocal {
  name: string;
  namespace: string;
  /** The Deployment it belongs to. */
  deployment: string;
  replicaSet: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  serviceAccount: string;
  containers: K8sContainer[];
  /** Whether a sidecar is injected. */
  sidecar: boolean;
  /** A gateway pod: the proxy alone, in router mode. */
  gateway?: boolean;
  /** Hash of the template: a changed Deployment replaces its pods. */
  templateHash: string;
}

export interface ServiceLocal {
  name: string;
  namespace: string;
  spec: K8sServiceSpec;
}

/** Whether the sidecar injector would inject this pod (namespace label, then the pod's own). */
export function injectionWanted(nsLabels: Record<string, string> | undefined, podLabels: Record<string, string>, podAnnotations: Record<string, string>): boolean {
  const podSays = podLabels['sidecar.istio.io/inject'] ?? podAnnotations['sidecar.istio.io/inject'];
  if (podSays === 'false') return false;
  const nsSays = nsLabels?.['istio-injection'];
  if (nsSays === 'disabled') return false;
  if (nsSays === 'enabled' || nsLabels?.['istio.io/rev'] !== undefined) return true;
  return podSays === 'true';
}

/** The pods a Deployment asks for. */
export function podsOfDeployment(d: ConfigResource, nsLabels: Record<string, string> | undefined): PodSpecLocal[] {
  const spec = d.spec as unknown as K8sDeploymentSpec;
  const template = spec.template ?? { spec: { containers: [] } };
  const templateHash = safeHash(JSON.stringify(template), 10);
  const rs = `${d.name}-${templateHash}`;
  const labels = { ...(template.metadata?.labels ?? {}), 'pod-template-hash': templateHash };
  const annotations = { ...(template.metadata?.annotations ?? {}) };
  const sidecar = injectionWanted(nsLabels, labels, annotations);
  const out: PodSpecLocal[] = [];
  const replicas = spec.replicas ?? 1;
  for (let i = 0; i < replicas; i++) {
    out.push({
      name: `${rs}-${safeHash(`${d.namespace}/${rs}/${i}`, 5)}`,
      namespace: d.namespace,
      deployment: d.name,
      replicaSet: rs,
      labels,
      annotations,
      serviceAccount: template.spec.serviceAccountName ?? template.spec.serviceAccount ?? 'default',
      containers: template.spec.containers ?? [],
      sidecar,
      templateHash,
    });
  }
  return out;
}

/** The netns (and veth) name of a pod: `spar-<hash>` — unique per runtime instance and pod. */
export function netnsName(instance: string, namespace: string, pod: string): string {
  return `spar-${hash(`${instance}/${namespace}/${pod}`, 8)}`;
}

/** The host end of a pod's veth: `spar-v<hash>` (15 characters at most, as Linux allows). */
export function vethName(instance: string, namespace: string, pod: string): string {
  return `spar-v${hash(`${instance}/${namespace}/${pod}`, 8)}`;
}
