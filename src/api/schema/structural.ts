/**
 * The structural-schema steps the API server takes before OpenAPI validation:
 *
 * - pruning: a field the schema does not declare is dropped, and with `kubectl`'s default
 *   `--validate=strict` each one is an error, `unknown field "spec.foo"` (strict decoding), unless
 *   an enclosing schema says `x-kubernetes-preserve-unknown-fields: true`;
 * - list types: `x-kubernetes-list-type: map` lists may not hold two items with the same keys,
 *   `set` lists may not hold the same item twice (`Duplicate value`).
 *
 * Pruning returns a new value (the resource as read is shared with other validators and is never
 * changed); validation then runs on the pruned copy, as it does in the API server.
 */
import type { JsonSchema } from './crds.js';
import { childPath, indexPath, keyPath, type FieldError } from './field-error.js';

/** The pruned copy of `value` under `schema`; unknown fields are reported into `errors`. */
export function prune(value: unknown, schema: JsonSchema, path: string, errors: FieldError[]): unknown {
  if (Array.isArray(value)) {
    const items = schema.items;
    return items ? value.map((v, i) => prune(v, items, indexPath(path, i), errors)) : value;
  }
  // A map where the schema wants a scalar is a type error for OpenAPI validation to report, not
  // a pile of unknown fields.
  if (value === null || typeof value !== 'object' || (schema.type !== 'object' && !schema.properties)) return value;
  const obj = value as Record<string, unknown>;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const props = schema.properties;
  const additional = typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
  if (!props && !additional && (preserve || schema.additionalProperties === true)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const prop = props?.[k];
    if (prop) out[k] = prune(v, prop, childPath(path, k), errors);
    else if (additional) out[k] = prune(v, additional, keyPath(path, k), errors);
    else if (preserve || schema.additionalProperties === true) out[k] = v;
    else errors.push({ type: 'UnknownField', path: childPath(path, k) });
  }
  return out;
}

/** Duplicate items in `x-kubernetes-list-type: map|set` lists, anywhere under `schema`. */
export function checkListTypes(value: unknown, schema: JsonSchema, path: string, errors: FieldError[]): void {
  if (Array.isArray(value)) {
    const listType = schema['x-kubernetes-list-type'];
    if (listType === 'map' || listType === 'set') {
      const keys = schema['x-kubernetes-list-map-keys'] ?? [];
      const seen = new Set<string>();
      value.forEach((item, i) => {
        const id = listType === 'map' && item && typeof item === 'object' && !Array.isArray(item) ? mapKey(item as Record<string, unknown>, keys) : undefined;
        const sig = JSON.stringify(listType === 'map' ? id : item);
        if (sig === undefined) return;
        if (seen.has(sig)) errors.push({ type: 'Duplicate', path: indexPath(path, i), value: listType === 'map' ? id : item });
        else seen.add(sig);
      });
    }
    const items = schema.items;
    if (items) value.forEach((v, i) => checkListTypes(v, items, indexPath(path, i), errors));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const props = schema.properties;
  const additional = typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const prop = props?.[k];
    if (prop) checkListTypes(v, prop, childPath(path, k), errors);
    else if (additional) checkListTypes(v, additional, keyPath(path, k), errors);
  }
}

function mapKey(item: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const id: Record<string, unknown> = {};
  for (const k of keys) if (k in item) id[k] = item[k];
  return id;
}
