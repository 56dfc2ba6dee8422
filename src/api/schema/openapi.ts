/**
 * OpenAPI v3 validation of a (pruned) custom resource with Ajv, reported the way the API server's
 * kube-openapi validator words it (`apiextensions-apiserver` `kubeOpenAPIResultToFieldErrors`):
 *
 *   spec.url: Invalid value: "": spec.url in body should be at least 1 chars long
 *   spec.mtls.mode: Unsupported value: "BLAH": supported values: "UNSET", ...
 *   spec: Invalid value: "null": spec in body must be of type object: "null"
 *
 * Each served version's schema is compiled once, on first use. Kubernetes extensions are mapped
 * onto JSON Schema before compiling: `nullable` is Ajv's own keyword, `x-kubernetes-int-or-string`
 * becomes `anyOf: [integer, string]`, and the other `x-kubernetes-*` keywords are annotations here
 * (pruning, list types and CEL rules are applied by structural.ts and cel.ts).
 */
import { createRequire } from 'node:module';
import { Ajv, _, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import standaloneModule from 'ajv/dist/standalone/index.js';
import formatsPlugin from 'ajv-formats';
import { cacheKey, readCache, writeCache } from './cache.js';
import type { JsonSchema } from './crds.js';
import { childPath, indexPath, keyPath, type FieldError } from './field-error.js';

const K8S_KEYWORDS = [
  'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string', 'x-kubernetes-embedded-resource',
  'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-map-type', 'x-kubernetes-validations',
];

/** Number formats: annotations for kube-openapi (it checks string formats only), so not compiled. */
const IGNORED_FORMATS = new Set(['int32', 'int64', 'float', 'double']);

// Ajv's code optimiser costs more at compile time than it saves on objects this small. `source`
// and `formats` let a compiled validator be saved as standalone code (cache.ts).
const AJV_OPTIONS: Options = {
  allErrors: true, strict: false, messages: false, validateSchema: false, logger: false, inlineRefs: false,
  code: { optimize: false, source: true, formats: _`require("ajv-formats/dist/formats").fullFormats` },
};
const requireHere = createRequire(import.meta.url);
const AJV_FINGERPRINT = `${ajvVersion()} ${JSON.stringify(AJV_OPTIONS)}`;

function ajvVersion(): string {
  try {
    return String((requireHere('ajv/package.json') as { version?: unknown }).version);
  } catch {
    return 'unknown';
  }
}

let ajv: Ajv | undefined;

function instance(): Ajv {
  if (ajv) return ajv;
  ajv = new Ajv(AJV_OPTIONS);
  ajv.addVocabulary(K8S_KEYWORDS);
  // kube-openapi checks string formats only; number formats (int32, int64, float, double) are
  // annotations in CRDs.
  // ajv-formats is CommonJS: its default import is module.exports, whose `default` is the plugin.
  formatsPlugin.default(ajv, ['date-time', 'byte']);
  for (const f of IGNORED_FORMATS) ajv.addFormat(f, true);
  return ajv;
}

export interface CompiledSchema {
  validate?: ValidateFunction;
  /** The schema as compiled (root properties apiVersion/kind/metadata added). */
  schema: JsonSchema;
  error?: string;
}

const compiled = new WeakMap<JsonSchema, CompiledSchema>();

/** Compiles a version's openAPIV3Schema (cached per schema object). Never throws. */
export function compileSchema(root: JsonSchema): CompiledSchema {
  const hit = compiled.get(root);
  if (hit) return hit;
  const schema = toAjvSchema(root) as JsonSchema;
  // metadata is checked by metadata.ts (ObjectMeta's own rules), not by the CRD schema.
  schema.properties = { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: {}, ...schema.properties };
  let out: CompiledSchema;
  try {
    const hoisted = hoistRepeats(schema);
    const name = `ajv-${cacheKey(JSON.stringify(hoisted), AJV_FINGERPRINT)}.cjs`;
    let validate = loadStandalone(readCache(name));
    if (!validate) {
      validate = instance().compile(hoisted);
      writeCache(name, standaloneModule.default(instance(), validate));
    }
    out = { schema, validate };
  } catch (e) {
    out = { schema, error: `cannot compile the CRD schema: ${(e as Error).message}` };
  }
  compiled.set(root, out);
  return out;
}

/** A validator from Ajv's standalone (CommonJS) code, or undefined. */
function loadStandalone(code: string | undefined): ValidateFunction | undefined {
  if (!code) return undefined;
  try {
    const mod: { exports: { default?: unknown } } = { exports: {} };
    new Function('require', 'module', 'exports', code)(requireHere, mod, mod.exports);
    return typeof mod.exports.default === 'function' ? (mod.exports.default as ValidateFunction) : undefined;
  } catch {
    return undefined;
  }
}

/** A copy of a Kubernetes structural schema that Ajv reads with Kubernetes' meaning. */
function toAjvSchema(s: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'description' || k === 'x-kubernetes-validations') continue;
    if (k === 'format' && typeof v === 'string' && IGNORED_FORMATS.has(v)) continue;
    if (k === 'properties' && v && typeof v === 'object') {
      out.properties = Object.fromEntries(Object.entries(v as Record<string, JsonSchema>).map(([p, ps]) => [p, toAjvSchema(ps)]));
    } else if ((k === 'items' || k === 'not' || k === 'additionalProperties') && v && typeof v === 'object') {
      out[k] = toAjvSchema(v as JsonSchema);
    } else if ((k === 'oneOf' || k === 'anyOf' || k === 'allOf') && Array.isArray(v)) {
      out[k] = v.map((x: JsonSchema) => toAjvSchema(x));
    } else {
      out[k] = v;
    }
  }
  if (out['x-kubernetes-int-or-string'] && !out.type && !out.anyOf) out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  if (out.nullable && !out.type) {
    delete out.nullable;
    if (out.anyOf) out.anyOf = [...out.anyOf, { type: 'null' }];
  }
  return out;
}

const HOIST_MIN_CHARS = 400;

/**
 * A copy of `schema` where every sub-schema that occurs more than once (DestinationRule's
 * TrafficPolicy appears at the top, in each subset and per port) is compiled once, as a
 * definition reached by `$ref`: the generated code, and the compile time, roughly halve. Only
 * property/item/map-value positions are hoisted, never the inside of oneOf/anyOf/not branches, so
 * error schema paths still say when an error came from a branch.
 */
function hoistRepeats(schema: JsonSchema): JsonSchema {
  // Intern every sub-schema bottom-up: its identity is its own keywords plus its children's ids,
  // so equal sub-schemas get equal ids without stringifying whole subtrees at every level.
  const ids = new Map<JsonSchema, number>();
  const byKey = new Map<string, { id: number; size: number; uses: number }>();
  const intern = (s: JsonSchema): { id: number; size: number; uses: number } => {
    const kids: string[] = [];
    let size = 0;
    const child = (c: JsonSchema) => {
      const e = intern(c);
      size += e.size;
      return e.id;
    };
    for (const [k, v] of Object.entries(s.properties ?? {})) kids.push(`${k}=${child(v)}`);
    const items = s.items ? child(s.items) : -1;
    const additional = typeof s.additionalProperties === 'object' ? child(s.additionalProperties) : -1;
    const own = JSON.stringify({ ...s, properties: undefined, items: undefined, additionalProperties: typeof s.additionalProperties === 'object' ? undefined : s.additionalProperties });
    const key = `${own}|${kids.join(',')}|${items}|${additional}`;
    let e = byKey.get(key);
    if (!e) {
      e = { id: byKey.size, size: size + own.length, uses: 0 };
      byKey.set(key, e);
    }
    e.uses++;
    ids.set(s, e.id);
    return e;
  };
  intern(schema);
  const entries = [...byKey.values()];
  const defs: Record<string, JsonSchema> = {};
  const rewrite = (s: JsonSchema): JsonSchema => {
    const e = entries[ids.get(s) ?? -1];
    if (!e || e.uses < 2 || e.size < HOIST_MIN_CHARS) return mapChildren(s, rewrite);
    const name = `s${e.id}`;
    defs[name] ??= mapChildren(s, rewrite);
    return { $ref: `#/definitions/${name}` };
  };
  const out = mapChildren(schema, rewrite);
  if (Object.keys(defs).length > 0) out.definitions = defs;
  return out;
}

function mapChildren(s: JsonSchema, f: (c: JsonSchema) => JsonSchema): JsonSchema {
  const out: JsonSchema = { ...s };
  if (s.properties) out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, f(v)]));
  if (s.items) out.items = f(s.items);
  if (typeof s.additionalProperties === 'object') out.additionalProperties = f(s.additionalProperties);
  return out;
}

/** Validates `value` against a compiled schema; errors as the API server reports them. */
export function openApiErrors(c: CompiledSchema, value: unknown): FieldError[] {
  if (!c.validate) return [{ type: 'Invalid', path: '', value: 'object', detail: c.error }];
  if (c.validate(value)) return [];
  const out: FieldError[] = [];
  for (const e of c.validate.errors ?? []) {
    const fe = toFieldError(e, c.schema, valueAt(value, e.instancePath));
    if (fe) out.push(fe);
  }
  return out;
}

/** The Kubernetes field path of an Ajv instancePath (map entries as `[key]`, list items as `[i]`). */
function fieldPath(root: JsonSchema, pointer: string): string {
  if (!pointer) return '';
  let path = '';
  let s: JsonSchema | undefined = root;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (s?.properties?.[seg]) {
      path = childPath(path, seg);
      s = s.properties[seg];
    } else if (s?.items && /^\d+$/.test(seg)) {
      path = indexPath(path, Number(seg));
      s = s.items;
    } else if (s && typeof s.additionalProperties === 'object') {
      path = keyPath(path, seg);
      s = s.additionalProperties;
    } else {
      path = /^\d+$/.test(seg) ? indexPath(path, Number(seg)) : childPath(path, seg);
      s = undefined;
    }
  }
  return path;
}

/** kube-openapi's name for the JSON type of a value. */
export function jsonType(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

const BRANCH = /\/(?:oneOf|anyOf|allOf)\/\d+\/|\/not\//;
const COMPARISON: Record<string, string> = {
  '>=': 'greater than or equal to', '>': 'greater than', '<=': 'less than or equal to', '<': 'less than',
};

/** The value at a JSON pointer (Ajv's `verbose` would put it in each error, at a cost in code size). */
function valueAt(root: unknown, pointer: string): unknown {
  let v = root;
  if (!pointer) return v;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(v)) v = v[Number(seg)];
    else if (v && typeof v === 'object') v = (v as Record<string, unknown>)[seg];
    else return undefined;
  }
  return v;
}

function toFieldError(e: ErrorObject, root: JsonSchema, data: unknown): FieldError | undefined {
  // kube-openapi reports a failed oneOf/anyOf/not once, not each branch's own failures.
  if (BRANCH.test(e.schemaPath)) return undefined;
  const path = fieldPath(root, e.instancePath);
  const name = path || 'body';
  const p = e.params as Record<string, unknown>;
  const invalid = (detail: string, value: unknown = data): FieldError => ({ type: 'Invalid', path, value: value ?? '', detail: `${name} in body ${detail}` });
  switch (e.keyword) {
    case 'required':
      return { type: 'Required', path: childPath(path, String(p.missingProperty)) };
    case 'type': {
      const actual = jsonType(data);
      return { type: 'TypeInvalid', path, value: actual, detail: `${name} in body must be of type ${String(p.type).replace(/,null$/, '')}: ${JSON.stringify(actual)}` };
    }
    case 'enum':
      return { type: 'NotSupported', path, value: data, supported: (p.allowedValues as unknown[]) ?? [] };
    case 'maxLength':
      return { type: 'TooLong', path, value: data, max: Number(p.limit) };
    case 'maxItems':
      return { type: 'TooMany', path, actual: Array.isArray(data) ? data.length : -1, max: Number(p.limit) };
    case 'maxProperties':
      return { type: 'TooMany', path, actual: data && typeof data === 'object' ? Object.keys(data).length : -1, max: Number(p.limit) };
    case 'minLength':
      return invalid(`should be at least ${String(p.limit)} chars long`);
    case 'minItems':
      return invalid(`should have at least ${String(p.limit)} items`, jsonType(data));
    case 'minProperties':
      return invalid(`should have at least ${String(p.limit)} properties`, jsonType(data));
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return invalid(`should be ${COMPARISON[String(p.comparison)] ?? String(p.comparison)} ${String(p.limit)}`);
    case 'multipleOf':
      return invalid(`should be a multiple of ${String(p.multipleOf)}`);
    case 'pattern':
      return invalid(`should match '${String(p.pattern)}'`);
    case 'format':
      return { type: 'TypeInvalid', path, value: data, detail: `${name} in body must be of type ${String(p.format)}: ${JSON.stringify(String(data))}` };
    case 'uniqueItems':
      return invalid("shouldn't contain duplicates", jsonType(data));
    case 'oneOf': {
      const passing = p.passingSchemas;
      const found = Array.isArray(passing) ? `Found ${passing.length} valid alternatives` : 'Found none valid';
      return invalid(`must validate one and only one schema (oneOf). ${found}`, jsonType(data));
    }
    case 'anyOf':
      return invalid('must validate at least one schema (anyOf)', jsonType(data));
    case 'not':
      return invalid('must not validate the schema (not)', jsonType(data));
    case 'additionalProperties':
      return { type: 'UnknownField', path: childPath(path, String(p.additionalProperty)) };
    default:
      return invalid(`failed ${e.keyword} validation`, jsonType(data));
  }
}
