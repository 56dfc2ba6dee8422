/**
 * Istio's analysis message catalogue (pkg/config/analysis/msg/messages.yaml): for each message Spar
 * can report, its code, name, level and template, worded exactly as istioctl prints it so that
 * users, scripts and the istio.io pages for each code (istio.io/latest/docs/reference/config/analysis/ist0101/)
 * all agree.
 *
 * Templates use Go's fmt verbs as Istio does: `%s`/`%d`/`%v` print the value (a list prints as
 * `[a b]`), `%q` quotes a string.
 */
import type { Diagnostic, Level, ResourceRef } from '../api/diagnostics.js';
import { positionOf, refOf, type ConfigResource } from '../config/resource.js';

export interface MessageType {
  code: string;
  name: string;
  level: Level;
  template: string;
}

function t(code: string, name: string, level: Level, template: string): MessageType {
  return { code, name, level, template };
}

/** Every message type Spar's analyzers can emit, by Istio name. */
export const MSG = {
  InternalError: t('IST0001', 'InternalError', 'Error', 'Internal error: %v'),
  Deprecated: t('IST0002', 'Deprecated', 'Warning', 'Deprecated: %s'),
  ReferencedResourceNotFound: t('IST0101', 'ReferencedResourceNotFound', 'Error', 'Referenced %s not found: %q'),
  NamespaceNotInjected: t('IST0102', 'NamespaceNotInjected', 'Info',
    "The namespace is not enabled for Istio injection. Run 'kubectl label namespace %s istio-injection=enabled' to enable it, or 'kubectl label namespace %s istio-injection=disabled' to explicitly mark it as not needing injection."),
  PodMissingProxy: t('IST0103', 'PodMissingProxy', 'Warning', 'The pod %s is missing the Istio proxy. This can often be resolved by restarting or redeploying the workload.'),
  SchemaValidationError: t('IST0106', 'SchemaValidationError', 'Error', 'Schema validation error: %v'),
  MisplacedAnnotation: t('IST0107', 'MisplacedAnnotation', 'Warning', 'Misplaced annotation: %s can only be applied to %s'),
  UnknownAnnotation: t('IST0108', 'UnknownAnnotation', 'Warning', 'Unknown annotation: %s'),
  ConflictingMeshGatewayVirtualServiceHosts: t('IST0109', 'ConflictingMeshGatewayVirtualServiceHosts', 'Error',
    'The VirtualServices %s associated with mesh gateway define the same host %s which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.'),
  ConflictingSidecarWorkloadSelectors: t('IST0110', 'ConflictingSidecarWorkloadSelectors', 'Error',
    'The Sidecars %v in namespace %q select the same workload pod %q, which can lead to undefined behavior.'),
  MultipleSidecarsWithoutWorkloadSelectors: t('IST0111', 'MultipleSidecarsWithoutWorkloadSelectors', 'Error',
    'The Sidecars %v in namespace %q have no workload selector, which can lead to undefined behavior.'),
  VirtualServiceDestinationPortSelectorRequired: t('IST0112', 'VirtualServiceDestinationPortSelectorRequired', 'Error',
    'This VirtualService routes to a service %q that exposes multiple ports %v. Specifying a port in the destination is required to disambiguate.'),
  DeploymentAssociatedToMultipleServices: t('IST0116', 'DeploymentAssociatedToMultipleServices', 'Warning',
    'This deployment %s is associated with multiple services using port %d but different protocols: %v'),
  PortNameIsNotUnderNamingConvention: t('IST0118', 'PortNameIsNotUnderNamingConvention', 'Info',
    "Port name %s (port: %d, targetPort: %s) doesn't follow the naming convention of Istio port."),
  NamespaceMultipleInjectionLabels: t('IST0123', 'NamespaceMultipleInjectionLabels', 'Warning',
    'The namespace has more than one type of injection labels %v, which may lead to undefined behavior. Make sure only one injection label exists.'),
  InvalidAnnotation: t('IST0125', 'InvalidAnnotation', 'Warning', 'Invalid annotation %s: %s'),
  UnknownMeshNetworksServiceRegistry: t('IST0126', 'UnknownMeshNetworksServiceRegistry', 'Error', 'Unknown service registry %s in network %s'),
  NoMatchingWorkloadsFound: t('IST0127', 'NoMatchingWorkloadsFound', 'Warning', 'No matching workloads for this resource with the following labels: %s'),
  NoServerCertificateVerificationDestinationLevel: t('IST0128', 'NoServerCertificateVerificationDestinationLevel', 'Warning',
    'DestinationRule %s in namespace %s has TLS mode set to %s but no caCertificates are set to validate server identity for host: %s'),
  NoServerCertificateVerificationPortLevel: t('IST0129', 'NoServerCertificateVerificationPortLevel', 'Warning',
    'DestinationRule %s in namespace %s has TLS mode set to %s but no caCertificates are set to validate server identity for host: %s at port %s'),
  VirtualServiceUnreachableRule: t('IST0130', 'VirtualServiceUnreachableRule', 'Warning', 'VirtualService rule %v not used (%s).'),
  VirtualServiceIneffectiveMatch: t('IST0131', 'VirtualServiceIneffectiveMatch', 'Info',
    'VirtualService rule %v match %v is not used (duplicate/overlapping match in rule %v).'),
  VirtualServiceHostNotFoundInGateway: t('IST0132', 'VirtualServiceHostNotFoundInGateway', 'Warning',
    'one or more host %v defined in VirtualService %s not found in Gateway %s.'),
  SchemaWarning: t('IST0133', 'SchemaWarning', 'Warning', 'Schema validation warning: %v'),
  ServiceEntryAddressesRequired: t('IST0134', 'ServiceEntryAddressesRequired', 'Warning', 'ServiceEntry addresses are required for this protocol.'),
  DeprecatedAnnotation: t('IST0135', 'DeprecatedAnnotation', 'Info', 'Annotation %q has been deprecated%s and may not work in future Istio versions.'),
  AlphaAnnotation: t('IST0136', 'AlphaAnnotation', 'Info', 'Annotation %q is part of an alpha-phase feature and may be incompletely supported.'),
  DeploymentConflictingPorts: t('IST0137', 'DeploymentConflictingPorts', 'Warning',
    'This deployment %s is associated with multiple services %v using targetPort %q but different ports: %v.'),
  GatewayDuplicateCertificate: t('IST0138', 'GatewayDuplicateCertificate', 'Warning', 'Duplicate certificate in multiple gateways %v may cause 404s if clients re-use HTTP2 connections.'),
  InvalidWebhook: t('IST0139', 'InvalidWebhook', 'Error', '%v'),
  IngressRouteRulesNotAffected: t('IST0140', 'IngressRouteRulesNotAffected', 'Warning', 'Subset in virtual service %s has no effect on ingress gateway %s requests'),
  InvalidApplicationUID: t('IST0144', 'InvalidApplicationUID', 'Warning', 'User ID (UID) 1337 is reserved for the sidecar proxy.'),
  ImageAutoWithoutInjectionWarning: t('IST0146', 'ImageAutoWithoutInjectionWarning', 'Warning', '%s %s contains `image: auto` but does not match any Istio injection webhook selectors.'),
  ImageAutoWithoutInjectionError: t('IST0147', 'ImageAutoWithoutInjectionError', 'Error', '%s %s contains `image: auto` but does not match any Istio injection webhook selectors.'),
  ConflictingGateways: t('IST0145', 'ConflictingGateways', 'Error', 'Conflict with gateways %s (workload selector %s, port %s, hosts %v).'),
  NamespaceInjectionEnabledByDefault: t('IST0148', 'NamespaceInjectionEnabledByDefault', 'Info',
    'is enabled for Istio injection, as Istio is installed with enableNamespacesByDefault as true.'),
  JwtClaimBasedRoutingWithoutRequestAuthN: t('IST0149', 'JwtClaimBasedRoutingWithoutRequestAuthN', 'Error',
    'The virtual service uses the JWT claim based routing (key: %s) but found no request authentication for the gateway (%s) pod (%s). The request authentication must first be applied for the gateway pods to validate the JWT token and make the claims available for routing.'),
  ExternalNameServiceTypeInvalidPortName: t('IST0150', 'ExternalNameServiceTypeInvalidPortName', 'Warning',
    'Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and unmatched traffic for ports serving TCP protocol from being forwarded correctly'),
  EnvoyFilterUsesRelativeOperation: t('IST0151', 'EnvoyFilterUsesRelativeOperation', 'Warning',
    'This EnvoyFilter does not have a priority and has a relative patch operation set which can cause the EnvoyFilter not to be applied. Using the INSERT_FIRST of ADD option or setting the priority may help in ensuring the EnvoyFilter is applied correctly.'),
  EnvoyFilterUsesReplaceOperationIncorrectly: t('IST0152', 'EnvoyFilterUsesReplaceOperationIncorrectly', 'Error', 'The REPLACE operation is only valid for HTTP_FILTER and NETWORK_FILTER.'),
  EnvoyFilterUsesAddOperationIncorrectly: t('IST0153', 'EnvoyFilterUsesAddOperationIncorrectly', 'Error', 'The ADD operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE.'),
  EnvoyFilterUsesRemoveOperationIncorrectly: t('IST0154', 'EnvoyFilterUsesRemoveOperationIncorrectly', 'Error', 'The REMOVE operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE.'),
  EnvoyFilterUsesRelativeOperationWithProxyVersion: t('IST0155', 'EnvoyFilterUsesRelativeOperationWithProxyVersion', 'Warning',
    'This EnvoyFilter does not have a priority and has a relative patch operation (NSTERT_BEFORE/AFTER, REPLACE, MERGE, DELETE) and proxyVersion set which can cause the EnvoyFilter not to be applied during an upgrade. Using the INSERT_FIRST or ADD option or setting the priority may help in ensuring the EnvoyFilter is applied correctly.'),
  InvalidTelemetryProvider: t('IST0157', 'InvalidTelemetryProvider', 'Warning', 'The Telemetry %v in namespace %q with empty providers will be ignored.'),
  PodsIstioProxyImageMismatchInNamespace: t('IST0158', 'PodsIstioProxyImageMismatchInNamespace', 'Warning',
    'The Istio proxy images of the pods running in the namespace do not match the image defined in the injection configuration (pod names: %v). This often happens after upgrading the Istio control-plane and can be fixed by redeploying the pods.'),
  ConflictingTelemetryWorkloadSelectors: t('IST0159', 'ConflictingTelemetryWorkloadSelectors', 'Error',
    'The Telemetries %v in namespace %q select the same workload pod %q, which can lead to undefined behavior.'),
  MultipleTelemetriesWithoutWorkloadSelectors: t('IST0160', 'MultipleTelemetriesWithoutWorkloadSelectors', 'Error',
    'The Telemetries %v in namespace %q have no workload selector, which can lead to undefined behavior.'),
  InvalidGatewayCredential: t('IST0161', 'InvalidGatewayCredential', 'Error',
    'The credential referenced by the Gateway %s in namespace %s is invalid, which can cause the traffic not to work as expected.'),
  GatewayPortNotDefinedOnService: t('IST0162', 'GatewayPortNotDefinedOnService', 'Warning',
    'The gateway is listening on a target port (port %d) that is not defined in the Service associated with its workload instances (Pod selector %s). If you need to access the gateway port through the gateway Service, it will not be available.'),
  ReferencedInternalGateway: t('IST0165', 'ReferencedInternalGateway', 'Warning', 'Gateway reference in VirtualService %s is to an implementation-generated internal Gateway: %s.'),
  InvalidExternalControlPlaneConfig: t('IST0163', 'InvalidExternalControlPlaneConfig', 'Warning',
    'The hostname (%s) that was provided for the webhook (%s) to reach the ingress gateway on the external control plane cluster %s. Traffic may not flow properly.'),
  ExternalControlPlaneAddressIsNotAHostname: t('IST0164', 'ExternalControlPlaneAddressIsNotAHostname', 'Info',
    'The address (%s) that was provided for the webhook (%s) to reach the ingress gateway on the external control plane cluster is an IP address. This is not recommended for a production environment.'),
  IneffectiveSelector: t('IST0166', 'IneffectiveSelector', 'Warning', 'Ineffective selector on Kubernetes Gateway %s. Use the TargetRef field instead.'),
  IneffectivePolicy: t('IST0167', 'IneffectivePolicy', 'Warning', 'The policy has no impact: %s.'),
  NegativeConditionStatus: t('IST0171', 'NegativeConditionStatus', 'Warning', 'A condition with a negative status is present: type=%s, reason=%s, message=%s.'),
  DestinationRuleSubsetNotSelectPods: t('IST0173', 'DestinationRuleSubsetNotSelectPods', 'Error',
    'The Subset %s defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream).'),
  UnknownDestinationRuleHost: t('IST0174', 'UnknownDestinationRuleHost', 'Warning',
    'The host %s defined in the DestinationRule does not match any services in the mesh.'),
  JwksUriFetchUnrestricted: t('IST0175', 'JwksUriFetchUnrestricted', 'Warning',
    'BLOCKED_CIDRS_IN_JWKS_URIS is not configured but %d RequestAuthentication resource(s) exist (%s). Consider configuring it to restrict JWKS URI fetches to trusted networks.'),
  GatewayAPICRDVersionBelowMinimum: t('IST0176', 'GatewayAPICRDVersionBelowMinimum', 'Warning',
    'Gateway API CRD %q is at version %q but Istio requires at least %q; resources of this kind will not be processed. Upgrade the Gateway API CRDs to satisfy the minimum version.'),
  ConflictingServiceEntryProtocol: t('IST0177', 'ConflictingServiceEntryProtocol', 'Warning',
    'Multiple ServiceEntries (%s) define the same host %q and port %d with conflicting protocols (%s).'),
} as const satisfies Record<string, MessageType>;

export type MessageName = keyof typeof MSG;

/** Kinds without a namespace: istioctl prints them as `Namespace bar`. */
export const CLUSTER_SCOPED: ReadonlySet<string> = new Set([
  'Namespace', 'Node', 'CustomResourceDefinition', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration',
  'ClusterRole', 'ClusterRoleBinding', 'GatewayClass', 'PersistentVolume', 'StorageClass', 'PriorityClass', 'IngressClass',
]);

/** How istioctl names a resource: `Kind ns/name`, cluster-scoped kinds without the namespace. */
export function refFor(r: ConfigResource): ResourceRef {
  return CLUSTER_SCOPED.has(r.kind) ? { kind: r.kind, name: r.name } : refOf(r);
}

/** A value for a template verb: lists print Go-style (`[a b]`). */
export type MsgArg = string | number | readonly (string | number)[];

/** Go's %q for a string: double quotes with backslash escapes. */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** Fills a Go fmt template (%s %d %v %q; %% is a literal percent). */
export function render(template: string, args: readonly MsgArg[]): string {
  let i = 0;
  return template.replace(/%([sdvq%])/g, (_m, verb: string) => {
    if (verb === '%') return '%';
    const a = args[i++];
    if (a === undefined) return `%!${verb}(MISSING)`;
    if (Array.isArray(a)) return `[${a.join(' ')}]`;
    if (verb === 'q') return goQuote(String(a));
    return String(a);
  });
}

/**
 * One analysis message about `r`. `path` names the field the message is about (as Istio's
 * FieldMap keys do); the reported line is that field's line, else the resource's first line.
 */
export function message(type: MessageType, r: ConfigResource, args: readonly MsgArg[], path?: readonly (string | number)[]): Diagnostic {
  return {
    level: type.level,
    code: type.code,
    codeName: type.name,
    message: render(type.template, args),
    resource: refFor(r),
    ...(path && path.length ? { path: pathString(path) } : {}),
    pos: positionOf(r, path ?? []),
  };
}

function pathString(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

/** Istio's FullName.String(): `namespace/name`, or `name` alone without a namespace. */
export function fullName(r: { namespace: string; name: string }): string {
  return r.namespace ? `${r.namespace}/${r.name}` : r.name;
}
