/**
 * Kubernetes' own kinds (Service, Deployment, ServiceAccount ...) and the Gateway API kinds found
 * beside Istio YAML. There are no schemas for them in Istio's CRD bundle, so they get the checks
 * that catch real mistakes in mesh configs: the version exists, `metadata` is valid (with the name
 * rule the kind uses: Services are DNS-1035 labels, Namespaces DNS-1123 labels), Service ports are
 * integers in range with unique names, container ports are in range, a Deployment has a selector.
 *
 * Kinds of groups nobody here knows (cert-manager, Prometheus operator ...) are not errors: a
 * folder of YAML may hold anything a cluster accepts. They get their metadata checked and one Info
 * saying nothing more was.
 */
import { childPath, indexPath, type FieldError } from './field-error.js';
import { dnsNameErrors, type NameRule } from './metadata.js';

export interface BuiltinKind {
  versions: readonly string[];
  namespaced: boolean;
  nameRule: NameRule;
  check?: (raw: Record<string, unknown>) => FieldError[];
}

export interface BuiltinGroup {
  /** True when `kinds` lists every kind of the group (an unknown kind is then an error). */
  complete: boolean;
  kinds: Record<string, BuiltinKind>;
}

const ns = (versions: readonly string[], extra: Partial<BuiltinKind> = {}): BuiltinKind => ({ versions, namespaced: true, nameRule: 'subdomain', ...extra });
const cluster = (versions: readonly string[], extra: Partial<BuiltinKind> = {}): BuiltinKind => ({ versions, namespaced: false, nameRule: 'subdomain', ...extra });
const V1 = ['v1'];
const GATEWAY_API = ['v1', 'v1beta1', 'v1alpha2', 'v1alpha3'];

/** group -> kinds. The core group is ''. */
export const BUILTIN_GROUPS: Record<string, BuiltinGroup> = {
  '': {
    complete: true,
    kinds: {
      Namespace: cluster(V1, { nameRule: 'label' }), Service: ns(V1, { nameRule: 'dns1035', check: checkService }),
      ServiceAccount: ns(V1), Pod: ns(V1, { check: (o) => checkPodSpec(o.spec, 'spec') }), ConfigMap: ns(V1), Secret: ns(V1),
      Endpoints: ns(V1), Node: cluster(V1), PersistentVolume: cluster(V1), PersistentVolumeClaim: ns(V1), ResourceQuota: ns(V1),
      LimitRange: ns(V1), ReplicationController: ns(V1, { check: checkWorkload }), PodTemplate: ns(V1), Event: ns(V1),
      Binding: ns(V1), ComponentStatus: cluster(V1), List: ns(V1),
    },
  },
  apps: {
    complete: true,
    kinds: {
      Deployment: ns(V1, { check: checkWorkload }), StatefulSet: ns(V1, { check: checkWorkload }), DaemonSet: ns(V1, { check: checkWorkload }),
      ReplicaSet: ns(V1, { check: checkWorkload }), ControllerRevision: ns(V1),
    },
  },
  batch: { complete: true, kinds: { Job: ns(V1), CronJob: ns(V1) } },
  'discovery.k8s.io': { complete: true, kinds: { EndpointSlice: ns(V1) } },
  'networking.k8s.io': { complete: false, kinds: { Ingress: ns(V1), IngressClass: cluster(V1), NetworkPolicy: ns(V1) } },
  policy: { complete: false, kinds: { PodDisruptionBudget: ns(V1) } },
  autoscaling: { complete: false, kinds: { HorizontalPodAutoscaler: ns(['v1', 'v2']) } },
  'rbac.authorization.k8s.io': {
    complete: true,
    kinds: { Role: ns(V1), RoleBinding: ns(V1), ClusterRole: cluster(V1), ClusterRoleBinding: cluster(V1) },
  },
  'admissionregistration.k8s.io': {
    complete: false,
    kinds: {
      MutatingWebhookConfiguration: cluster(V1), ValidatingWebhookConfiguration: cluster(V1),
      ValidatingAdmissionPolicy: cluster(['v1', 'v1beta1']), ValidatingAdmissionPolicyBinding: cluster(['v1', 'v1beta1']),
    },
  },
  'apiextensions.k8s.io': { complete: true, kinds: { CustomResourceDefinition: cluster(V1) } },
  'gateway.networking.k8s.io': {
    complete: false,
    kinds: {
      Gateway: ns(GATEWAY_API), GatewayClass: cluster(GATEWAY_API), HTTPRoute: ns(GATEWAY_API), GRPCRoute: ns(GATEWAY_API),
      TCPRoute: ns(GATEWAY_API), TLSRoute: ns(GATEWAY_API), UDPRoute: ns(GATEWAY_API), ReferenceGrant: ns(GATEWAY_API),
      BackendTLSPolicy: ns(GATEWAY_API), ListenerSet: ns(GATEWAY_API),
    },
  },
};

/** `must be between 1 and 65535, inclusive` for an int32 port field; a non-integer fails decoding. */
function portErrors(v: unknown, path: string, out: FieldError[], opts: { allowZero?: boolean; allowName?: boolean } = {}): void {
  if (v === undefined || v === null) return;
  if (typeof v === 'string' && opts.allowName) {
    const msgs: string[] = [];
    if (v.length > 15) msgs.push('must be no more than 15 characters');
    if (!/^[-a-z0-9]+$/.test(v)) msgs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
    if (/--/.test(v)) msgs.push('must not contain consecutive hyphens');
    if (!/[a-z]/.test(v)) msgs.push('must contain at least one letter (a-z)');
    if (/^-|-$/.test(v)) msgs.push('must not begin or end with a hyphen');
    for (const m of msgs) out.push({ type: 'Invalid', path, value: v, detail: m });
    return;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    out.push({ type: 'TypeInvalid', path, value: v, detail: `json: cannot unmarshal ${typeof v} into Go struct field of type int32${opts.allowName ? ' or a port name' : ''}` });
    return;
  }
  const min = opts.allowZero ? 0 : 1;
  if (v < min || v > 65535) out.push({ type: 'Invalid', path, value: v, detail: `must be between ${min} and 65535, inclusive` });
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function checkService(o: Record<string, unknown>): FieldError[] {
  const out: FieldError[] = [];
  const spec = obj(o.spec);
  if (!spec) return out;
  const type = spec.type;
  const types = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
  if (type !== undefined && !types.includes(String(type))) out.push({ type: 'NotSupported', path: 'spec.type', value: type, supported: types });
  const ports = Array.isArray(spec.ports) ? spec.ports : [];
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const at = indexPath('spec.ports', i);
    const port = obj(p);
    if (!port) {
      out.push({ type: 'TypeInvalid', path: at, value: p, detail: 'a Service port must be an object' });
      return;
    }
    if (port.port === undefined) out.push({ type: 'Required', path: childPath(at, 'port') });
    portErrors(port.port, childPath(at, 'port'), out);
    portErrors(port.targetPort, childPath(at, 'targetPort'), out, { allowName: true });
    portErrors(port.nodePort, childPath(at, 'nodePort'), out, { allowZero: true });
    const protocols = ['SCTP', 'TCP', 'UDP'];
    if (port.protocol !== undefined && !protocols.includes(String(port.protocol))) out.push({ type: 'NotSupported', path: childPath(at, 'protocol'), value: port.protocol, supported: protocols });
    const name = port.name;
    if (typeof name === 'string' && name !== '') {
      for (const m of dnsNameErrors(name, 'label')) out.push({ type: 'Invalid', path: childPath(at, 'name'), value: name, detail: m });
      if (names.has(name)) out.push({ type: 'Duplicate', path: childPath(at, 'name'), value: name });
      names.add(name);
    } else if (ports.length > 1) {
      out.push({ type: 'Required', path: childPath(at, 'name') });
    }
  });
  return out;
}

function checkWorkload(o: Record<string, unknown>): FieldError[] {
  const out: FieldError[] = [];
  const spec = obj(o.spec);
  if (!spec) {
    out.push({ type: 'Required', path: 'spec' });
    return out;
  }
  if (o.kind !== 'ReplicationController' && spec.selector === undefined) out.push({ type: 'Required', path: 'spec.selector' });
  const template = obj(spec.template);
  if (!template) out.push({ type: 'Required', path: 'spec.template' });
  else out.push(...checkPodSpec(template.spec, 'spec.template.spec'));
  return out;
}

function checkPodSpec(v: unknown, path: string): FieldError[] {
  const out: FieldError[] = [];
  const spec = obj(v);
  if (!spec) {
    out.push({ type: 'Required', path });
    return out;
  }
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) out.push({ type: 'Required', path: childPath(path, 'containers') });
  for (const list of ['initContainers', 'containers'] as const) {
    const containers = Array.isArray(spec[list]) ? (spec[list] as unknown[]) : [];
    containers.forEach((c, i) => {
      const at = indexPath(childPath(path, list), i);
      const container = obj(c);
      if (!container) return;
      if (typeof container.name !== 'string' || container.name === '') out.push({ type: 'Required', path: childPath(at, 'name') });
      const ports = Array.isArray(container.ports) ? container.ports : [];
      ports.forEach((p, j) => {
        const pp = obj(p);
        if (pp) portErrors(pp.containerPort, childPath(indexPath(childPath(at, 'ports'), j), 'containerPort'), out);
      });
    });
  }
  return out;
}
