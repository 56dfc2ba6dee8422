/**
 * DestinationRule analyzers (Istio's analyzers/destinationrule): TLS origination that does not
 * verify the server (IST0128, IST0129), hosts that match no service (IST0174) and subsets that
 * select no pod (IST0173).
 */
import { register } from '../analyzer.js';
import { selectorMatches } from '../hosts.js';
import { MSG, fullName, message } from '../messages.js';
import { arr, labelsOf, num, obj, str, strings } from '../values.js';

const VERIFYING_MODES = new Set(['SIMPLE', 'MUTUAL']);

register({
  name: 'destinationrule.CaCertificateAnalyzer',
  description: 'Checks if caCertificates is set when TLS mode is SIMPLE/MUTUAL',
  inputs: ['DestinationRule'],
  emits: [MSG.NoServerCertificateVerificationDestinationLevel, MSG.NoServerCertificateVerificationPortLevel],
  analyze({ snapshot, report }) {
    for (const dr of snapshot.of('DestinationRule')) {
      const id = fullName(dr);
      const host = str(dr.spec.host);
      const hasSelector = dr.spec.workloadSelector != null;
      // A credentialName on a DestinationRule bound to workloads carries its own CA (SDS).
      const unverified = (tls: Record<string, unknown>) =>
        str(tls.caCertificates) === '' && !(str(tls.credentialName) !== '' && hasSelector);
      const tp = obj(dr.spec.trafficPolicy);
      const tls = obj(tp.tls);
      const mode = str(tls.mode);
      if (VERIFYING_MODES.has(mode) && unverified(tls)) {
        report(message(MSG.NoServerCertificateVerificationDestinationLevel, dr, [id, dr.namespace, mode, host], ['spec', 'trafficPolicy', 'tls', 'caCertificates']));
      }
      arr(tp.portLevelSettings).forEach((p0, i) => {
        const p = obj(p0);
        const ptls = obj(p.tls);
        const pmode = str(ptls.mode);
        if (VERIFYING_MODES.has(pmode) && unverified(ptls)) {
          const port = p.port ? `number:${num(obj(p.port).number)}` : '<nil>';
          report(message(MSG.NoServerCertificateVerificationPortLevel, dr, [id, dr.namespace, pmode, host, port],
            ['spec', 'trafficPolicy', 'portLevelSettings', i, 'tls', 'caCertificates']));
        }
      });
    }
  },
});

/** Labels a pod carries in the registry: its own plus its node's topology (Istio's AugmentLabels). */
function augmented(labels: Record<string, string>, nodeName: string, nodes: Map<string, Record<string, string>>): Record<string, string> {
  const out = { ...labels };
  const node = nodes.get(nodeName);
  if (node) {
    const region = node['topology.kubernetes.io/region'] ?? '';
    const zone = node['topology.kubernetes.io/zone'] ?? '';
    const subzone = node['topology.istio.io/subzone'] ?? '';
    if (region) out['topology.kubernetes.io/region'] = region;
    if (zone) out['topology.kubernetes.io/zone'] = zone;
    if (subzone) out['topology.istio.io/subzone'] = subzone;
  }
  if (nodeName) out['kubernetes.io/hostname'] = nodeName;
  return out;
}

register({
  name: 'destinationrule.SubsetSelectPodAnalyzer',
  description: 'Checks if pods are selected by subsets in destination rules.',
  inputs: ['DestinationRule', 'Pod', 'Service', 'ServiceEntry', 'Node'],
  emits: [MSG.UnknownDestinationRuleHost, MSG.DestinationRuleSubsetNotSelectPods],
  needs: { services: true, pods: true },
  analyze({ snapshot, report }) {
    const nodes = new Map<string, Record<string, string>>();
    for (const n of snapshot.of('Node')) nodes.set(n.name, labelsOf(n.metadata.labels));
    const podLabels = snapshot.pods.map((p) => augmented({ ...p.labels }, p.nodeName, nodes));
    for (const dr of snapshot.of('DestinationRule')) {
      const host = str(dr.spec.host);
      const svc = snapshot.destinationHost(dr.namespace, strings(dr.spec.exportTo), host);
      if (!svc) {
        report(message(MSG.UnknownDestinationRuleHost, dr, [host], ['spec', 'host']));
        continue;
      }
      arr(dr.spec.subsets).forEach((ss0, i) => {
        const ss = obj(ss0);
        const selector = { ...(svc.workloadSelector ?? {}), ...labelsOf(ss.labels) };
        if (podLabels.some((l) => selectorMatches(selector, l))) return;
        report(message(MSG.DestinationRuleSubsetNotSelectPods, dr, [str(ss.name)], ['spec', 'subsets', i, 'name']));
      });
    }
  },
});
