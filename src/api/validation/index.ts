/**
 * Semantic validation: the rules istiod's validating webhook applies after the schema has passed
 * (hosts, weights, durations, regexes, gateway references, mutually exclusive fields ...).
 */
import type { Diagnostic } from '../diagnostics.js';
import type { ConfigResource } from '../../config/resource.js';

/** Errors and warnings istiod's webhook would give for this resource. Never throws. */
export function semanticValidate(_r: ConfigResource): Diagnostic[] {
  return [];
}
