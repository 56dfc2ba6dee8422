/**
 * Pod-level analyzers (Istio's analyzers/deployment/pod.go): application containers running as
 * UID 1337, which the sidecar's traffic capture exempts (IST0144).
 */
import type { ConfigResource } from '../../config/resource.js';
import { register } from '../analyzer.js';
import { MSG, message } from '../messages.js';
import { arr, labelsOf, obj, str } from '../values.js';

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
