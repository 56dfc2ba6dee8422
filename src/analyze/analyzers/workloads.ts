/**
 * Analyzers about workloads and the Services in front of them (Istio's analyzers/sidecar,
 * deployment, service and k8sgateway): Sidecar selectors (IST0101, IST0110, IST0111, IST0167),
 * Deployments behind Services that disagree on a port (IST0116, IST0137), Service port names
 * (IST0118, IST0150), policies that select a Gateway API gateway's pods (IST0166), and Gateway API
 * CRDs older than Istio supports (IST0176).
 */
import type { ConfigResource } from '../../config/resource.js';
import { register } from '../analyzer.js';
import { firstSelectorKey, selectorMatches, selectorString } from '../hosts.js';
import { MSG, fullName, message } from '../messages.js';
import type { PodInfo, Snapshot } from '../snapshot.js';
import { arr, labelsOf, num, obj, str } from '../values.js';

const AMBIENT_REDIRECTION = 'ambient.istio.io/redirection';

function namespaceInAmbient(ns: ConfigResource | undefined): boolean {
  if (!ns) return false;
  const l = labelsOf(ns.metadata.labels);
  if (l['istio-injection'] === 'enabled') return false;
  if (l['istio.io/rev']) return false;
  return l['istio.io/dataplane-mode'] === 'ambient';
}

register({
  name: 'sidecar.SelectorAnalyzer',
  description: 'Validates that sidecars that define a workload selector match at least one pod, and that there aren\'t multiple sidecar resources that select overlapping pods',
  inputs: ['Sidecar', 'Pod', 'Namespace'],
  emits: [MSG.ReferencedResourceNotFound, MSG.ConflictingSidecarWorkloadSelectors, MSG.MultipleSidecarsWithoutWorkloadSelectors, MSG.IneffectivePolicy],
  needs: { pods: true },
  analyze({ snapshot, report }) {
    const podSidecars = new Map<PodInfo, ConfigResource[]>();
    const nsSidecars = new Map<string, ConfigResource[]>();
    for (const sc of snapshot.of('Sidecar')) {
      const labels = labelsOf(obj(sc.spec.workloadSelector).labels);
      if (Object.keys(labels).length === 0) {
        if (!nsSidecars.has(sc.namespace)) nsSidecars.set(sc.namespace, []);
        nsSidecars.get(sc.namespace)!.push(sc);
        continue;
      }
      const pods = snapshot.podsMatching(labels, sc.namespace);
      for (const p of pods) {
        if (!podSidecars.has(p)) podSidecars.set(p, []);
        podSidecars.get(p)!.push(sc);
      }
      if (pods.length === 0) {
        const sel = selectorString(labels);
        report(message(MSG.ReferencedResourceNotFound, sc, ['selector', sel], ['spec', 'workloadSelector', 'labels', firstSelectorKey(sel)]));
      }
    }
    const reported = new Set<ConfigResource>();
    for (const [pod, list] of podSidecars) {
      const ambient = pod.annotations[AMBIENT_REDIRECTION] === 'enabled';
      if (list.length === 1 && !ambient) continue;
      const names = list.map((s) => s.name).sort();
      for (const sc of list) {
        if (ambient) {
          if (!reported.has(sc)) report(message(MSG.IneffectivePolicy, sc, ['selected workload is in ambient mode, the policy has no impact']));
          reported.add(sc);
          continue;
        }
        report(message(MSG.ConflictingSidecarWorkloadSelectors, sc, [names, pod.namespace, pod.name], ['metadata', 'name']));
      }
    }
    for (const [ns, list] of nsSidecars) {
      if (namespaceInAmbient(snapshot.namespace(ns))) {
        for (const sc of list) {
          if (!reported.has(sc)) report(message(MSG.IneffectivePolicy, sc, ['namespace is in ambient mode, the policy has no impact']));
          reported.add(sc);
        }
        continue;
      }
      if (list.length < 2) continue;
      const names = list.map((s) => s.name).sort();
      for (const sc of list) report(message(MSG.MultipleSidecarsWithoutWorkloadSelectors, sc, [names, ns]));
    }
  },
});

/** Istio's DeploymentInMesh: a proxy container, the inject label/annotation, or the namespace label. */
function deploymentInMesh(d: ConfigResource, snapshot: Snapshot): boolean {
  const tpl = obj(d.spec.template);
  const meta = obj(tpl.metadata);
  const containers = arr(obj(tpl.spec).containers).map(obj);
  if (containers.some((c) => str(c.name) === 'istio-proxy' && str(c.image) !== '')) return true;
  const labels = labelsOf(meta.labels);
  if ('sidecar.istio.io/inject' in labels) return labels['sidecar.istio.io/inject'] === 'true';
  const annos = labelsOf(meta.annotations);
  if ('sidecar.istio.io/inject' in annos) return annos['sidecar.istio.io/inject'] === 'true';
  const ns = snapshot.namespace(d.namespace);
  if (ns) return labelsOf(ns.metadata.labels)['istio-injection'] === 'enabled';
  return false;
}

register({
  name: 'deployment.MultiServiceAnalyzer',
  description: 'Checks association between services and pods',
  inputs: ['Service', 'Deployment', 'Namespace'],
  emits: [MSG.DeploymentAssociatedToMultipleServices, MSG.DeploymentConflictingPorts],
  analyze({ snapshot, report }) {
    for (const d of snapshot.of('Deployment')) {
      if (labelsOf(d.metadata.labels)['gateway.istio.io/managed'] === 'istio.io-mesh-controller') continue;
      if (!deploymentInMesh(d, snapshot)) continue;
      const podLabels = labelsOf(obj(obj(d.spec.template).metadata).labels);
      const services = snapshot.of('Service').filter((s) => {
        const sel = labelsOf(s.spec.selector);
        return s.group === '' && s.namespace === d.namespace && Object.keys(sel).length > 0 && selectorMatches(sel, podLabels);
      });
      // port -> protocol -> services; targetPort -> port -> service
      const byPort = new Map<number, Map<string, string[]>>();
      const byTarget = new Map<string, Map<number, string>>();
      for (const s of services) {
        const id = fullName(s);
        for (const p0 of arr(s.spec.ports)) {
          const p = obj(p0);
          const port = num(p.port);
          const proto = str(p.protocol) || 'TCP';
          if (!byPort.has(port)) byPort.set(port, new Map());
          const pm = byPort.get(port)!;
          if (!pm.has(proto)) pm.set(proto, []);
          pm.get(proto)!.push(id);
          let tp = str(p.targetPort);
          if (tp === '' || tp === '0') tp = String(port);
          if (!byTarget.has(tp)) byTarget.set(tp, new Map());
          byTarget.get(tp)!.set(port, id);
        }
      }
      for (const [port, protos] of byPort) {
        if (protos.size < 2) continue;
        const names = [...protos.values()].flat().sort();
        report(message(MSG.DeploymentAssociatedToMultipleServices, d, [d.name, port, names], ['metadata', 'name']));
      }
      for (const [tp, ports] of byTarget) {
        if (ports.size < 2) continue;
        const names = [...ports.values()].sort();
        const nums = [...ports.keys()].sort((a, b) => a - b);
        report(message(MSG.DeploymentConflictingPorts, d, [d.name, names, tp, nums], ['metadata', 'name']));
      }
    }
  },
});

/** Protocols Istio recognises from a port name prefix or appProtocol (pkg/config/protocol). */
const PROTOCOLS = new Set(['tcp', 'udp', 'grpc', 'grpc-web', 'http', 'http_proxy', 'http2', 'https', 'tls', 'mongo', 'redis', 'mysql']);
const WELL_KNOWN_TCP_PORTS = new Set([25, 53, 3306, 27017]);
const K8S_APP_PROTOCOLS = new Set(['kubernetes.io/h2c', 'kubernetes.io/ws', 'kubernetes.io/wss']);

/** Whether Istio can tell the protocol of a Service port (configKube.ConvertProtocol is not Unsupported). */
export function portProtocolKnown(port: number, name: string, protocol: string, appProtocol: string | undefined): boolean {
  if (protocol === 'UDP') return true;
  let n = name;
  if (appProtocol !== undefined) {
    if (K8S_APP_PROTOCOLS.has(appProtocol)) return true;
    n = appProtocol;
  }
  if (n.toLowerCase().startsWith('grpc-web')) return true;
  const i = n.indexOf('-');
  if (i >= 0) n = n.slice(0, i);
  if (PROTOCOLS.has(n.toLowerCase())) return true;
  return WELL_KNOWN_TCP_PORTS.has(port);
}

const MANAGED_GATEWAY_VALUES = new Set(['istio.io-gateway-controller', 'istio.io-mesh-controller', 'istio.io-eastwest-controller']);

register({
  name: 'service.PortNameAnalyzer',
  description: 'Checks the port names associated with each service',
  inputs: ['Service'],
  emits: [MSG.PortNameIsNotUnderNamingConvention, MSG.ExternalNameServiceTypeInvalidPortName],
  analyze({ snapshot, report }) {
    for (const svc of snapshot.of('Service')) {
      if (svc.group !== '') continue;
      const labels = labelsOf(svc.metadata.labels);
      // Istio's own control plane and generated gateway Services are not the user's to rename.
      if ('istio' in labels || labels.release === 'istio') continue;
      if (MANAGED_GATEWAY_VALUES.has(labels['gateway.istio.io/managed'] ?? '')) continue;
      const externalName = str(svc.spec.type) === 'ExternalName';
      arr(svc.spec.ports).forEach((p0, i) => {
        const p = obj(p0);
        const name = str(p.name);
        const app = p.appProtocol === undefined ? undefined : str(p.appProtocol);
        if (portProtocolKnown(num(p.port), name, str(p.protocol), app) && !(name === 'tcp' && externalName)) return;
        const path = ['spec', 'ports', i, 'port'];
        if (externalName) report(message(MSG.ExternalNameServiceTypeInvalidPortName, svc, [], path));
        else report(message(MSG.PortNameIsNotUnderNamingConvention, svc, [name, num(p.port), targetPortString(p.targetPort)], path));
      });
    }
  },
});

/** IntOrString.String(): the number or the name; unset prints 0. */
function targetPortString(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return v;
  return '0';
}

const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

register({
  name: 'k8sgateway.SelectorAnalyzer',
  description: 'Check that selectors are effective for Kubernetes gateway',
  inputs: ['AuthorizationPolicy', 'RequestAuthentication', 'Telemetry', 'WasmPlugin', 'Pod'],
  emits: [MSG.IneffectiveSelector],
  analyze({ snapshot, report }) {
    const gwPods = snapshot.pods.filter((p) => GATEWAY_NAME_LABEL in p.labels);
    for (const kind of ['AuthorizationPolicy', 'RequestAuthentication', 'Telemetry', 'WasmPlugin']) {
      for (const r of snapshot.of(kind)) {
        if (r.spec.targetRef != null || r.spec.selector == null) continue;
        const match = labelsOf(obj(r.spec.selector).matchLabels);
        for (const p of gwPods) {
          if (p.namespace !== r.namespace) continue;
          if (selectorMatches(match, p.labels)) report(message(MSG.IneffectiveSelector, r, [p.labels[GATEWAY_NAME_LABEL]], ['spec', 'selector']));
        }
      }
    }
  },
});

/** The oldest Gateway API bundle each CRD must come from for Istio to process it (pkg/config/schema/gatewayapi). */
const MINIMUM_CRD_VERSIONS: Record<string, [number, number, number]> = {
  'grpcroutes.gateway.networking.k8s.io': [1, 1, 0],
  'backendtlspolicies.gateway.networking.k8s.io': [1, 4, 0],
  'tlsroutes.gateway.networking.k8s.io': [1, 5, 0],
  'tcproutes.gateway.networking.k8s.io': [1, 6, 0],
};

register({
  name: 'k8sgateway.CRDVersionAnalyzer',
  description: 'Checks Gateway API CRDs are at the minimum version required by this Istio version',
  inputs: ['CustomResourceDefinition'],
  emits: [MSG.GatewayAPICRDVersionBelowMinimum],
  analyze({ snapshot, report }) {
    for (const crd of snapshot.of('CustomResourceDefinition')) {
      const min = MINIMUM_CRD_VERSIONS[crd.name];
      const bundle = labelsOf(crd.metadata.annotations)['gateway.networking.k8s.io/bundle-version'];
      if (!min || bundle === undefined) continue;
      const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.exec(bundle);
      if (!m) continue;
      const v = [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
      const below = v[0] !== min[0] ? v[0] < min[0] : v[1] !== min[1] ? v[1] < min[1] : v[2] < min[2];
      const installed = `${v.join('.')}${m[4] ?? ''}${m[5] ?? ''}`;
      if (below) report(message(MSG.GatewayAPICRDVersionBelowMinimum, crd, [crd.name, installed, min.join('.')], ['metadata', 'annotations', 'gateway.networking.k8s.io/bundle-version']));
    }
  },
});
