/**
 * DestinationRule (networking.istio.io): istiod's ValidateDestinationRule. The host (a DNS name,
 * wildcards allowed), the traffic policy (trafficpolicy.ts), subsets (unique DNS-label names, valid
 * labels, their own traffic policies), `exportTo`, and the workload selector (a DestinationRule
 * with one stays in its namespace).
 */
import type { ConfigResource } from '../../config/resource.js';
import { validateExportTo } from './common.js';
import { validateWildcardDomain } from './hosts.js';
import { validateSubsetName } from './httproute.js';
import { validateLabels, validateWorkloadSelector } from './labels.js';
import { at, has, isObj, list, str, type Report } from './report.js';
import { validateTrafficPolicy } from './trafficpolicy.js';

export function validateDestinationRule(rep: Report, r: ConfigResource): void {
  const spec = r.spec;
  rep.check('spec.host', validateWildcardDomain(str(spec.host)));
  validateTrafficPolicy(rep, 'spec.trafficPolicy', r.namespace, spec.trafficPolicy);
  const names = new Set<string>();
  list<unknown>(spec.subsets).forEach((s, i) => {
    const p = at('spec.subsets', i);
    if (!isObj(s)) return rep.error(p, 'subset may not be null');
    const name = str(s.name);
    if (names.has(name)) rep.error(at(p, 'name'), `duplicate subset names: ${name}`);
    names.add(name);
    rep.check(at(p, 'name'), validateSubsetName(name));
    validateLabels(rep, at(p, 'labels'), s.labels);
    validateTrafficPolicy(rep, at(p, 'trafficPolicy'), r.namespace, s.trafficPolicy);
  });
  const hasSelector = has(spec.workloadSelector);
  validateExportTo(rep, 'spec.exportTo', r.namespace, spec.exportTo, false, hasSelector);
  // A DestinationRule's selector is the security-style {matchLabels}.
  validateWorkloadSelector(rep, 'spec.workloadSelector', spec.workloadSelector);
}
