/**
 * Schema and webhook validation as analysis (Istio's schema.ValidationAnalyzer): every error
 * `spar validate` finds becomes IST0106 SchemaValidationError and every warning IST0133
 * SchemaWarning, on the same resource and line. Warnings that are the unreachable-rule checks
 * are left to virtualservice.UnreachableRulesAnalyzer, which reports them under their own codes.
 */
import { validateResource } from '../../api/validate.js';
import { register } from '../analyzer.js';
import { MSG, refFor } from '../messages.js';
import type { ConfigResource } from '../../config/resource.js';

/** API groups whose schemas and rules validateResource knows: Istio's, Kubernetes core/apps/batch, Gateway API. */
function validated(r: ConfigResource): boolean {
  return r.group === '' || r.group === 'apps' || r.group === 'batch' || r.group.endsWith('istio.io') || r.group === 'gateway.networking.k8s.io';
}

/** Webhook warnings that istioctl reports as IST0130/IST0131 instead of IST0133. */
const UNREACHABLE = /^virtualService rule .* (not used|is not used) \(/i;

register({
  name: 'schema.ValidationAnalyzer',
  description: "Runs schema and webhook validation as an analyzer on every Istio resource",
  inputs: ['*'],
  emits: [MSG.SchemaValidationError, MSG.SchemaWarning],
  analyze({ snapshot, report }) {
    for (const r of snapshot.resources) {
      if (!r.source || !validated(r)) continue; // stand-ins; kinds istioctl does not know pass unread, as there
      let diags;
      try {
        diags = validateResource(r);
      } catch (e) {
        // Validation is written never to throw; if it does, say so on the resource rather than stop analysis.
        diags = [{ level: 'Error' as const, message: `internal error while validating: ${(e as Error).message}` }];
      }
      for (const d of diags) {
        if (d.code === MSG.VirtualServiceUnreachableRule.code || d.code === MSG.VirtualServiceIneffectiveMatch.code) continue;
        if (d.level !== 'Error' && UNREACHABLE.test(d.message)) continue;
        // Kinds Spar has no schema for are skipped, as istioctl skips kinds it does not know.
        if (/^no matches for kind |^Spar has no schema for /.test(d.message)) continue;
        const type = d.level === 'Error' ? MSG.SchemaValidationError : MSG.SchemaWarning;
        const detail = d.path ? `${d.path}: ${d.message}` : d.message;
        report({
          ...d,
          resource: refFor(r),
          level: type.level,
          code: type.code,
          codeName: type.name,
          message: type.template.replace('%v', detail),
        });
      }
    }
  },
});
