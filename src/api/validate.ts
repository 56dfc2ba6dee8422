/**
 * Validation of one resource, in the order a cluster applies it: the API server's schema (OpenAPI
 * and CEL from Istio's CRDs) first, then istiod's webhook rules. As in a cluster, the webhook rules
 * run only on a resource whose structure passed, so they can rely on field types.
 */
import type { Diagnostic } from './diagnostics.js';
import { positionOf, refOf, type ConfigResource } from '../config/resource.js';
import { schemaValidate } from './schema/index.js';
import { semanticValidate } from './validation/index.js';

/** Every problem with `r`, each carrying the resource, field path and source position. */
export function validateResource(r: ConfigResource): Diagnostic[] {
  let diags = schemaValidate(r);
  if (!diags.some((d) => d.level === 'Error')) diags = diags.concat(semanticValidate(r));
  const ref = refOf(r);
  for (const d of diags) {
    d.resource ??= ref;
    if (!d.pos) d.pos = positionOf(r, d.path ? parsePath(d.path) : []);
  }
  return diags;
}

/** Parses `spec.http[0].route` back into ['spec','http',0,'route'] (for source positions). */
export function parsePath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /([^.[\]]+)|\[(\d+)\]|\[([^\]]*)\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path))) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[3] !== undefined) out.push(m[3]);
  }
  return out;
}
