/**
 * PeerAuthentication: which mTLS mode a workload's inbound side runs (Istio: security/authn).
 * Precedence: the workload's own policy (selector, oldest first), then its namespace's policy
 * (no selector), then the mesh-wide one (root namespace, no selector); UNSET inherits from the next
 * level; with none, PERMISSIVE. `portLevelMtls` (workload policies only) overrides per port.
 */
import type { ConfigResource } from '../config/resource.js';
import type { PeerAuthenticationSpec } from '../api/types.js';
import { selectorMatches } from './service.js';

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

interface Policy {
  namespace: string;
  spec: PeerAuthenticationSpec;
}

export class PeerAuthentications {
  private readonly policies: Policy[];

  constructor(resources: readonly ConfigResource[], private readonly rootNamespace: string) {
    this.policies = resources.filter((r) => r.kind === 'PeerAuthentication').map((r) => ({ namespace: r.namespace, spec: r.spec as PeerAuthenticationSpec }));
  }

  get empty(): boolean {
    return this.policies.length === 0;
  }

  /** The inbound mode for a workload (namespace + labels) on one port (the workload's port). */
  modeFor(namespace: string, labels: Record<string, string>, port?: number): MtlsMode {
    const workload = this.policies.find((p) => p.namespace === namespace && p.spec.selector?.matchLabels && Object.keys(p.spec.selector.matchLabels).length && selectorMatches(p.spec.selector.matchLabels, labels));
    const nsWide = this.policies.find((p) => p.namespace === namespace && !hasSelector(p));
    const mesh = this.policies.find((p) => p.namespace === this.rootNamespace && !hasSelector(p));
    const portMode = port !== undefined ? workload?.spec.portLevelMtls?.[String(port)]?.mode : undefined;
    for (const m of [portMode, workload?.spec.mtls?.mode, nsWide?.spec.mtls?.mode, mesh?.spec.mtls?.mode]) {
      if (m && m !== 'UNSET') return m;
    }
    return 'PERMISSIVE';
  }

  /** The mode a namespace's workloads run unless a workload policy says otherwise. */
  namespaceMode(namespace: string): MtlsMode {
    return this.modeFor(namespace, {});
  }
}

function hasSelector(p: Policy): boolean {
  return !!p.spec.selector?.matchLabels && Object.keys(p.spec.selector.matchLabels).length > 0;
}
