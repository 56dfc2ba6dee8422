/**
 * Unreachable VirtualService rules and ineffective matches (IST0130, IST0131): istiod's validating
 * webhook warnings (pkg/config/validation analyzeUnreachable*Rules), which istioctl's schema
 * analyzer reports under their own codes. The analysis is the webhook's own
 * (api/validation/vsanalysis.ts); this file only words it as istioctl does.
 */
import type { Diagnostic } from '../../api/diagnostics.js';
import { findingParams, unreachableRuleFindings } from '../../api/validation/vsanalysis.js';
import { register } from '../analyzer.js';
import { MSG, message } from '../messages.js';
import type { ConfigResource } from '../../config/resource.js';

/** IST0130/IST0131 for one VirtualService (`spec.http`, then `spec.tcp`, then `spec.tls`), each placed on its rule. */
export function unreachableRules(vs: ConfigResource): Diagnostic[] {
  return unreachableRuleFindings(vs.spec).map((f) =>
    message(f.finding === 'unreachable' ? MSG.VirtualServiceUnreachableRule : MSG.VirtualServiceIneffectiveMatch, vs, findingParams(f), ['spec', f.kind, f.rule]));
}

register({
  name: 'virtualservice.UnreachableRulesAnalyzer',
  description: "Runs istiod's unreachable-rule checks on VirtualServices",
  inputs: ['VirtualService'],
  emits: [MSG.VirtualServiceUnreachableRule, MSG.VirtualServiceIneffectiveMatch],
  analyze({ snapshot, report }) {
    for (const vs of snapshot.of('VirtualService')) for (const d of unreachableRules(vs)) report(d);
  },
});
