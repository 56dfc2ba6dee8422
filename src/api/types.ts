/**
 * Spar's internal config model: Istio kinds (generated from Istio's CRD schemas, one internal
 * version per kind) with friendly names for the parts code passes around, plus the subset of
 * Kubernetes core kinds a mesh reads (Namespace, Service, Deployment, Pod, ServiceAccount,
 * Endpoints, EndpointSlice).
 */
import type {
  AuthorizationPolicySpec, DestinationRuleSpec, GatewaySpec, PeerAuthenticationSpec, RequestAuthenticationSpec,
  ServiceEntrySpec, SidecarSpec, VirtualServiceSpec, WorkloadEntrySpec,
} from './istio.gen.js';

export * from './istio.gen.js';

type Item<T> = NonNullable<T> extends Array<infer U> ? U : never;

// VirtualService
export type HTTPRoute = Item<VirtualServiceSpec['http']>;
export type HTTPMatchRequest = Item<HTTPRoute['match']>;
export type HTTPRouteDestination = Item<HTTPRoute['route']>;
export type Destination = HTTPRouteDestination['destination'];
export type StringMatch = NonNullable<HTTPMatchRequest['uri']>;
export type HTTPRetry = NonNullable<HTTPRoute['retries']>;
export type HTTPFaultInjection = NonNullable<HTTPRoute['fault']>;
export type HTTPRedirect = NonNullable<HTTPRoute['redirect']>;
export type HTTPRewrite = NonNullable<HTTPRoute['rewrite']>;
export type CorsPolicy = NonNullable<HTTPRoute['corsPolicy']>;
export type Headers = NonNullable<HTTPRoute['headers']>;
export type TCPRoute = Item<VirtualServiceSpec['tcp']>;
export type TLSRoute = Item<VirtualServiceSpec['tls']>;

// DestinationRule
export type TrafficPolicy = NonNullable<DestinationRuleSpec['trafficPolicy']>;
export type Subset = Item<DestinationRuleSpec['subsets']>;
export type LoadBalancerSettings = NonNullable<TrafficPolicy['loadBalancer']>;
export type ConnectionPoolSettings = NonNullable<TrafficPolicy['connectionPool']>;
export type OutlierDetection = NonNullable<TrafficPolicy['outlierDetection']>;
export type ClientTLSSettings = NonNullable<TrafficPolicy['tls']>;

// Gateway, ServiceEntry, Sidecar, WorkloadEntry
export type Server = Item<GatewaySpec['servers']>;
export type ServerTLSSettings = NonNullable<Server['tls']>;
export type ServicePort = Item<ServiceEntrySpec['ports']>;
export type ServiceEntryEndpoint = Item<ServiceEntrySpec['endpoints']>;
export type IstioEgressListener = Item<SidecarSpec['egress']>;
export type IstioIngressListener = Item<SidecarSpec['ingress']>;
export type WorkloadEntry = WorkloadEntrySpec;

// Security
export type AuthorizationRule = Item<AuthorizationPolicySpec['rules']>;
export type JWTRule = Item<RequestAuthenticationSpec['jwtRules']>;
export type PeerAuthenticationMtls = NonNullable<PeerAuthenticationSpec['mtls']>;

// ---- Kubernetes core kinds (the fields a mesh reads) ----

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

export interface K8sServicePort {
  name?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  appProtocol?: string;
  port: number;
  targetPort?: number | string;
  nodePort?: number;
}

export interface K8sServiceSpec {
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  selector?: Record<string, string>;
  ports?: K8sServicePort[];
  clusterIP?: string;
  clusterIPs?: string[];
  externalName?: string;
}

export interface K8sContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface K8sProbe {
  httpGet?: { path?: string; port: number | string; scheme?: string; host?: string };
  tcpSocket?: { port: number | string };
  grpc?: { port: number };
  exec?: { command?: string[] };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}

export interface K8sContainer {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  ports?: K8sContainerPort[];
  readinessProbe?: K8sProbe;
  livenessProbe?: K8sProbe;
  startupProbe?: K8sProbe;
  securityContext?: { runAsUser?: number; runAsGroup?: number; [k: string]: unknown };
  [k: string]: unknown;
}

export interface K8sPodSpec {
  containers: K8sContainer[];
  initContainers?: K8sContainer[];
  serviceAccountName?: string;
  serviceAccount?: string;
  securityContext?: { runAsUser?: number; [k: string]: unknown };
  [k: string]: unknown;
}

export interface K8sPodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: K8sPodSpec;
}

export interface K8sDeploymentSpec {
  replicas?: number;
  selector: LabelSelector;
  template: K8sPodTemplate;
}

export interface K8sEndpointsSubset {
  addresses?: { ip: string; targetRef?: { kind?: string; name?: string; namespace?: string } }[];
  notReadyAddresses?: { ip: string }[];
  ports?: { name?: string; port: number; protocol?: string; appProtocol?: string }[];
}

export interface K8sEndpointSlice {
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints: { addresses: string[]; conditions?: { ready?: boolean }; zone?: string; nodeName?: string; targetRef?: { kind?: string; name?: string; namespace?: string } }[];
  ports?: { name?: string; port?: number; protocol?: string; appProtocol?: string }[];
}
