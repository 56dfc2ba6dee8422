/**
 * Semantic validation: the rules istiod's validating webhook applies after the schema has passed
 * (Istio's pkg/config/validation): hosts, weights, durations, RE2 regexes, gateway references,
 * mutually exclusive fields, selectors, policy actions ... One module per kind, dispatched here by
 * kind; the shared checks live in hosts.ts, duration.ts, regex.ts, ports.ts, labels.ts,
 * headers.ts, tls.ts and common.ts. Every message is Istio's own text; every diagnostic carries the
 * field path it is about, so `validateResource` can point at the line.
 */
import type { Diagnostic } from '../diagnostics.js';
import type { ConfigResource } from '../../config/resource.js';
import { validateMetadata } from './common.js';
import { validateDestinationRule } from './destinationrule.js';
import { validateEnvoyFilter } from './envoyfilter.js';
import { validateTrafficExtension, validateWasmPlugin } from './extensions.js';
import { validateGateway } from './gateway.js';
import { validateWorkloadSelector } from './labels.js';
import { Report, num } from './report.js';
import { validateRequestAuthentication } from './requestauthentication.js';
import { validateAuthorizationPolicy, validatePeerAuthentication } from './security.js';
import { validateServiceEntry } from './serviceentry.js';
import { validateSidecar } from './sidecar.js';
import { validateTelemetry } from './telemetry.js';
import { validateVirtualService } from './virtualservice.js';
import { validateWorkloadEntryResource, validateWorkloadGroup } from './workloadentry.js';

type KindValidator = (rep: Report, r: ConfigResource) => void;

/** ProxyConfig (networking.istio.io/v1beta1): a selector and a non-negative concurrency. */
function validateProxyConfig(rep: Report, r: ConfigResource): void {
  validateWorkloadSelector(rep, 'spec.selector', r.spec.selector);
  if (num(r.spec.concurrency) < 0) rep.error('spec.concurrency', 'concurrency must be greater than or equal to 0');
}

/** Validators by `group/kind` (kinds of other groups, e.g. Kubernetes core, have no webhook rules). */
const VALIDATORS: Record<string, KindValidator> = {
  'networking.istio.io/VirtualService': validateVirtualService,
  'networking.istio.io/DestinationRule': validateDestinationRule,
  'networking.istio.io/Gateway': validateGateway,
  'networking.istio.io/ServiceEntry': validateServiceEntry,
  'networking.istio.io/Sidecar': validateSidecar,
  'networking.istio.io/WorkloadEntry': validateWorkloadEntryResource,
  'networking.istio.io/WorkloadGroup': validateWorkloadGroup,
  'networking.istio.io/EnvoyFilter': validateEnvoyFilter,
  'networking.istio.io/ProxyConfig': validateProxyConfig,
  'security.istio.io/AuthorizationPolicy': validateAuthorizationPolicy,
  'security.istio.io/PeerAuthentication': validatePeerAuthentication,
  'security.istio.io/RequestAuthentication': validateRequestAuthentication,
  'telemetry.istio.io/Telemetry': validateTelemetry,
  'extensions.istio.io/WasmPlugin': validateWasmPlugin,
  'extensions.istio.io/TrafficExtension': validateTrafficExtension,
};

/** Errors and warnings istiod's webhook would give for this resource. Never throws. */
export function semanticValidate(r: ConfigResource): Diagnostic[] {
  const validate = VALIDATORS[`${r.group}/${r.kind}`];
  if (!validate) return [];
  const rep = new Report();
  try {
    validateMetadata(rep, r);
    validate(rep, r);
  } catch (e) {
    // A rule tripping over an input shape nobody foresaw is a Spar bug; say so instead of crashing.
    rep.error('spec', `internal error in ${r.kind} validation (please report): ${e instanceof Error ? e.message : String(e)}`);
  }
  return rep.diags;
}
