/**
 * The mesh's service model, independent of where services come from (Kubernetes YAML, ServiceEntry,
 * the local runtime): a Service is a hostname with ports and VIPs; an Endpoint is one workload
 * address behind one service port. Mirrors Istio's model.Service / model.IstioEndpoint.
 */

/** Istio's protocol names (pkg/config/protocol). `Unsupported` means "sniff it" (auto-detect). */
export type Protocol =
  | 'HTTP' | 'HTTP2' | 'GRPC' | 'GRPC-Web' | 'HTTPS' | 'TLS' | 'TCP'
  | 'Mongo' | 'Redis' | 'MySQL' | 'UDP' | 'Unsupported';

export interface ServicePort {
  /** Port name as written (may be ''). */
  name: string;
  port: number;
  protocol: Protocol;
  /** Kubernetes targetPort (number only; named target ports are resolved per endpoint). */
  targetPort?: number;
}

/** How a client finds endpoints (Istio's model.Resolution). */
export type Resolution = 'ClientSideLB' | 'DNSLB' | 'DNSRoundRobinLB' | 'Passthrough';

export interface Service {
  /** FQDN: `reviews.default.svc.cluster.local`, or a ServiceEntry host (may be a wildcard). */
  hostname: string;
  namespace: string;
  /** Kubernetes service name (`reviews`); the hostname for ServiceEntries. */
  name: string;
  /** VIPs ("0.0.0.0" never appears here: no VIP means an empty list). */
  addresses: string[];
  ports: ServicePort[];
  resolution: Resolution;
  meshExternal: boolean;
  /** exportTo as given ('*' public, '.' private, '~' none, or namespaces); undefined = mesh default. */
  exportTo?: string[];
  registry: 'Kubernetes' | 'External';
  /** Workload selector (Kubernetes `spec.selector`, ServiceEntry `workloadSelector`). */
  selector?: Record<string, string>;
  /** Identities allowed to serve it (ServiceEntry `subjectAltNames`). */
  subjectAltNames?: string[];
  /** Creation order (older wins on duplicate hosts, as in Istio). */
  creation: number;
  /** The resource it came from (`Service/default/reviews`), for diagnostics. */
  source: string;
}

export interface Locality {
  region?: string;
  zone?: string;
  subZone?: string;
}

export interface Endpoint {
  /** IP (or DNS name for DNS-resolved ServiceEntries). */
  address: string;
  /** The port the workload listens on (the target port). */
  port: number;
  /** The service port this endpoint serves (number), so EDS can pick by cluster port. */
  servicePort: number;
  labels: Record<string, string>;
  namespace: string;
  /** Workload (Deployment / WorkloadEntry) name, for Istio's `istio.workload` metadata. */
  workloadName: string;
  serviceAccount?: string;
  locality?: Locality;
  network?: string;
  weight?: number;
  /** `istio` when the workload runs a sidecar (mTLS capable), else `disabled`. */
  tlsMode: 'istio' | 'disabled';
  healthy: boolean;
}

/** Kubernetes' label selection: every selector label present with the same value. */
export function selectorMatches(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

/** Istio locality string `region/zone/subzone` → parts. */
export function parseLocality(s: string | undefined): Locality | undefined {
  if (!s) return undefined;
  const [region, zone, subZone] = s.split('/');
  return { region: region || undefined, zone: zone || undefined, subZone: subZone || undefined };
}
