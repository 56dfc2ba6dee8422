/**
 * Pod-level analyzers: application containers running as UID 1337, which the sidecar's traffic
 * capture exempts (IST0144, Istio's analyzers/deployment/pod.go), and sidecar injection
 * (analyzers/injection): namespaces not labelled for it or labelled twice (IST0102, IST0123,
 * IST0148), pods in injected namespaces without a proxy (IST0103) or with a proxy image other than
 * the injector's (IST0158).
 */
import { parse as parseYaml } from 'yaml';
import type { ConfigResource } from '../../config/resource.js';
import { register } from '../analyzer.js';
import { MSG, message } from '../messages.js';
import { arr, labelsOf, obj, str } from '../values.js';
import { fullName } from '../messages.js';

const PROXY_UID = 1337;
const PROXY_CONTAINERS = new Set(['istio-proxy', 'istio-operator']);

function isControlPlane(r: ConfigResource): boolean {
  const l = labelsOf(r.metadata.labels);
  return 'istio' in l || l.release === 'istio';
}

/** One message per pod-level or container-level runAsUser 1337 outside the proxy's own containers. */
function uidFindings(podSpec: Record<string, unknown>, base: (string | number)[]): (string | number)[][] {
  const out: (string | number)[][] = [];
  if (obj(podSpec.securityContext).runAsUser === PROXY_UID) out.push([...base, 'securityContext', 'runAsUser']);
  arr(podSpec.containers).forEach((c0, i) => {
    const c = obj(c0);
    if (PROXY_CONTAINERS.has(str(c.name))) return;
    if (obj(c.securityContext).runAsUser === PROXY_UID) out.push([...base, 'containers', i, 'securityContext', 'runAsUser']);
  });
  return out;
}

register({
  name: 'applicationUID.Analyzer',
  description: 'Checks invalid application UID',
  inputs: ['Pod', 'Deployment'],
  emits: [MSG.InvalidApplicationUID],
  analyze({ snapshot, report }) {
    for (const p of snapshot.of('Pod')) {
      if (p.group !== '' || isControlPlane(p)) continue;
      const found = uidFindings(p.spec, ['spec']);
      // istioctl prints one message per resource (its copies are identical and deduplicated).
      if (found.length) report(message(MSG.InvalidApplicationUID, p, [], found[0]));
    }
    for (const d of snapshot.of('Deployment')) {
      if (isControlPlane(d)) continue;
      const found = uidFindings(obj(obj(d.spec.template).spec), ['spec', 'template', 'spec']);
      if (found.length) report(message(MSG.InvalidApplicationUID, d, [], found[0]));
    }
  },
});

/** sidecarInjectorWebhook.enableNamespacesByDefault from an injector ConfigMap's `values` (JSON). */
function enabledByDefault(cm: ConfigResource): boolean {
  try {
    const values = JSON.parse(str(obj(cm.raw.data).values)) as unknown;
    return obj(obj(values).sidecarInjectorWebhook).enableNamespacesByDefault === true;
  } catch {
    return false;
  }
}

const REV = 'istio.io/rev';
const DATAPLANE_MODE = 'istio.io/dataplane-mode';

register({
  name: 'injection.Analyzer',
  description: 'Checks conditions related to Istio sidecar injection',
  inputs: ['Namespace', 'Pod', 'ConfigMap'],
  emits: [MSG.NamespaceNotInjected, MSG.PodMissingProxy, MSG.NamespaceMultipleInjectionLabels, MSG.NamespaceInjectionEnabledByDefault],
  analyze({ snapshot, report }) {
    const injected = new Set<string>();
    for (const ns of snapshot.of('Namespace')) {
      if (ns.name === 'istio-system') continue;
      const labels = labelsOf(ns.metadata.labels);
      const legacy = labels['istio-injection'];
      const found: string[] = [];
      if (legacy !== undefined) found.push(`istio-injection=${legacy}`);
      for (const l of [REV, DATAPLANE_MODE]) {
        if (l in labels && (legacy === undefined || legacy === 'enabled')) found.push(`${l}=${labels[l]}`);
      }
      if (found.length > 1) report(message(MSG.NamespaceMultipleInjectionLabels, ns, [found], ['metadata', 'labels']));
      if (labels[DATAPLANE_MODE] === 'ambient') continue;
      const revision = labels[REV];
      if ((legacy ?? '') === '' && revision === undefined) {
        const cmName = revision === undefined || revision === '' || revision === 'default' ? 'istio-sidecar-injector' : `istio-sidecar-injector-${revision}`;
        const cm = snapshot.of('ConfigMap').find((c) => c.name === cmName);
        if (cm && enabledByDefault(cm)) report(message(MSG.NamespaceInjectionEnabledByDefault, ns, []));
        else report(message(MSG.NamespaceNotInjected, ns, [ns.name, ns.name], ['metadata', 'name']));
        continue;
      }
      if (legacy === 'enabled') injected.add(ns.name);
    }
    for (const p of snapshot.of('Pod')) {
      if (p.group !== '' || !injected.has(p.namespace)) continue;
      const labels = labelsOf(p.metadata.labels);
      const inj = labels['sidecar.istio.io/inject'] ?? labelsOf(p.metadata.annotations)['sidecar.istio.io/inject'] ?? '';
      if (inj.toLowerCase() === 'false' || p.spec.hostNetwork === true) continue;
      const containers = [...arr(p.spec.containers), ...arr(p.spec.initContainers)].map(obj);
      const proxy = containers.find((c) => str(c.name) === 'istio-proxy');
      if (!proxy || str(proxy.image) === '') report(message(MSG.PodMissingProxy, p, [fullName(p)]));
    }
  },
});

/** The proxy image an injector ConfigMap's `values` (JSON) configures: `hub/image:tag`, or `image` when it is a full name. */
function injectorImage(cm: ConfigResource): string {
  try {
    const g = obj(obj(JSON.parse(str(obj(cm.raw.data).values)) as unknown).global);
    const image = str(obj(g.proxy).image);
    return image.includes('/') ? image : `${str(g.hub)}/${image}:${str(g.tag)}`;
  } catch {
    return '';
  }
}

/** The image variant (`distroless` ...) for a pod: mesh default, root/namespace/workload ProxyConfig, pod annotation. */
function imageType(p: ConfigResource, snapshot: { meshConfig: Record<string, unknown>; of(k: string): readonly ConfigResource[] }): string {
  const typeOf = (pc: unknown) => str(obj(obj(pc).image).imageType);
  let variant = typeOf(snapshot.meshConfig.defaultConfig);
  const root = str(snapshot.meshConfig.rootNamespace) || 'istio-system';
  const pcs = snapshot.of('ProxyConfig');
  const rootPc = pcs.filter((pc) => pc.namespace === root).pop();
  if (rootPc && typeOf(rootPc.spec)) variant = typeOf(rootPc.spec);
  const nsPc = pcs.filter((pc) => pc.namespace !== root && pc.namespace === p.namespace && pc.spec.selector == null).pop();
  if (nsPc && typeOf(nsPc.spec)) variant = typeOf(nsPc.spec);
  const labels = labelsOf(p.metadata.labels);
  for (const pc of pcs) {
    if (pc.namespace === root || pc.spec.selector == null || pc.namespace !== p.namespace) continue;
    const match = labelsOf(obj(pc.spec.selector).matchLabels);
    if (Object.entries(match).every(([k, v]) => labels[k] === v) && typeOf(pc.spec)) variant = typeOf(pc.spec);
  }
  const anno = labelsOf(p.metadata.annotations)['proxy.istio.io/config'];
  if (anno !== undefined) {
    try {
      const t = typeOf(parseYaml(anno) as unknown);
      if (t) variant = t;
    } catch {
      // An unreadable annotation sets nothing, as for istiod.
    }
  }
  return variant === 'default' ? '' : variant;
}

register({
  name: 'injection.ImageAnalyzer',
  description: 'Checks the image of auto-injection configured with the running proxies on pods',
  inputs: ['Namespace', 'Pod', 'ConfigMap', 'MeshConfig', 'ProxyConfig'],
  emits: [MSG.PodsIstioProxyImageMismatchInNamespace],
  analyze({ snapshot, report }) {
    const images = new Map<string, string>();
    for (const cm of snapshot.of('ConfigMap')) if (cm.name.startsWith('istio-sidecar-injector')) images.set(cm.name, injectorImage(cm));
    if (images.size === 0) return;
    const revisionOf = new Map<string, string>();
    for (const ns of snapshot.of('Namespace')) {
      const l = labelsOf(ns.metadata.labels);
      if (REV in l) revisionOf.set(ns.name, l[REV]);
      else if (l['istio-injection'] === 'enabled') revisionOf.set(ns.name, 'default');
    }
    const mismatched = new Map<string, string[]>();
    for (const p of snapshot.of('Pod')) {
      if (p.group !== '') continue;
      const rev = revisionOf.get(p.namespace);
      if (rev === undefined || labelsOf(p.metadata.annotations)['sidecar.istio.io/proxyImage']) continue;
      const want = images.get(rev === '' || rev === 'default' ? 'istio-sidecar-injector' : `istio-sidecar-injector-${rev}`);
      if (want === undefined) continue;
      const variant = imageType(p, snapshot);
      for (const c of [...arr(p.spec.containers), ...arr(p.spec.initContainers)].map(obj)) {
        if (str(c.name) !== 'istio-proxy') continue;
        const image = str(c.image);
        if (image !== want && image !== `${want}-${variant}`) {
          if (!mismatched.has(p.namespace)) mismatched.set(p.namespace, []);
          mismatched.get(p.namespace)!.push(p.name);
        }
      }
    }
    for (const [ns, pods] of mismatched) {
      const nsr = snapshot.namespace(ns);
      if (nsr) report(message(MSG.PodsIstioProxyImageMismatchInNamespace, nsr, [pods.sort()]));
    }
  },
});
