/**
 * Pod-level analyzers: application containers running as UID 1337, which the sidecar's traffic
 * capture exempts (IST0144, Istio's analyzers/deployment/pod.go), and sidecar injection
 * (analyzers/injection): namespaces not labelled for it or labelled twice (IST0102, IST0123,
 * IST0148) and pods in injected namespaces without a proxy (IST0103).
 */
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
