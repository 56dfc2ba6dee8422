/**
 * Istio's CustomResourceDefinitions, read from the CRD bundle (`crd-all.gen.yaml`) on first use.
 *
 * The bundle is ~20k lines; parsing it all would cost a few hundred milliseconds at start-up, so it
 * is only split into documents and each document's group and kind are picked out of its header.
 * A CRD's YAML is parsed the first time a resource of that kind is met, and kept (and kept on
 * disk as JSON by cache.ts for later processes).
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { crdBundlePath } from '../../common/paths.js';
import { cacheKey, readCache, writeCache } from './cache.js';

/** The OpenAPI v3 subset Kubernetes allows in structural schemas (plus its x-kubernetes extensions). */
export interface JsonSchema {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  required?: string[];
  enum?: unknown[];
  nullable?: boolean;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
  not?: JsonSchema;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-validations'?: ValidationRule[];
  [keyword: string]: unknown;
}

/** One `x-kubernetes-validations` entry. */
export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  optionalOldSelf?: boolean;
}

export interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  deprecated: boolean;
  /** The version's openAPIV3Schema, parsed on first call; undefined if it cannot be read. */
  schema(): JsonSchema | undefined;
}

export interface Crd {
  group: string;
  kind: string;
  namespaced: boolean;
  versions: CrdVersion[];
}

interface Entry {
  group: string;
  kind: string;
  text: string;
  parsed?: Crd | null;
}

interface Bundle {
  /** `group/kind` -> entry. */
  entries: Map<string, Entry>;
  /** Every group the bundle defines (networking.istio.io ...). */
  groups: Set<string>;
  error?: string;
}

let bundle: Bundle | undefined;
/** `group/version Kind` of every version schema parsed so far (to show that loading is lazy). */
const parsedVersions: string[] = [];

/** Which version schemas have been parsed so far, in order. */
export function parsedSchemas(): readonly string[] {
  return parsedVersions;
}

function load(): Bundle {
  if (bundle) return bundle;
  const b: Bundle = { entries: new Map(), groups: new Set() };
  let text: string;
  try {
    text = readFileSync(crdBundlePath, 'utf8');
  } catch (e) {
    b.error = `cannot read Istio's CRD schemas at ${crdBundlePath}: ${(e as Error).message}`;
    bundle = b;
    return b;
  }
  for (const doc of text.split(/^---[ \t]*$/m)) {
    const group = /^ {2}group:[ \t]*["']?([^\s"']+)/m.exec(doc)?.[1];
    const kind = /^ {2}names:\n(?: {4}.*\n)*? {4}kind:[ \t]*["']?([^\s"']+)/m.exec(doc)?.[1];
    if (!group || !kind) continue;
    b.groups.add(group);
    b.entries.set(`${group}/${kind}`, { group, kind, text: doc });
  }
  if (b.entries.size === 0) b.error = `no CustomResourceDefinitions found in ${crdBundlePath}`;
  bundle = b;
  return b;
}

/** Why the bundle could not be used (undefined when it loaded). */
export function bundleError(): string | undefined {
  return load().error;
}

/** True when `group` is one the CRD bundle defines (an Istio API group). */
export function isCrdGroup(group: string): boolean {
  return load().groups.has(group);
}

/** Every group/kind the bundle defines. */
export function allCrds(): { group: string; kind: string }[] {
  return [...load().entries.values()].map((e) => ({ group: e.group, kind: e.kind }));
}

/** Kinds defined in `group`, sorted. */
export function kindsOf(group: string): string[] {
  return [...load().entries.values()].filter((e) => e.group === group).map((e) => e.kind).sort();
}

/** Every group/kind pair whose kind matches `kind` case-insensitively (for "did you mean"). */
export function crdsNamed(kind: string): { group: string; kind: string }[] {
  const k = kind.toLowerCase();
  return [...load().entries.values()].filter((e) => e.kind.toLowerCase() === k).map((e) => ({ group: e.group, kind: e.kind }));
}

/** The CRD for `group` + `kind`, parsed on first use; undefined when there is none. */
export function findCrd(group: string, kind: string): Crd | undefined {
  const entry = load().entries.get(`${group}/${kind}`);
  if (!entry) return undefined;
  if (entry.parsed === undefined) entry.parsed = parseCrd(entry);
  return entry.parsed ?? undefined;
}

/**
 * Reads a CRD's header (scope) and the list of versions without parsing their schemas: each item
 * of `spec.versions` is cut out of the text (items start at `  - ` under `  versions:`) and parsed
 * only when its schema is asked for. Most kinds are met in one version, and the three versions of
 * DestinationRule or VirtualService are thousands of lines each.
 */
function parseCrd(entry: Entry): Crd | null {
  const text = entry.text;
  const at = /^ {2}versions:[ \t]*\n/m.exec(text);
  if (!at) return null;
  const scope = /^ {2}scope:[ \t]*(\S+)/m.exec(text)?.[1];
  const items = text.slice(at.index + at[0].length).split(/^(?= {2}- )/m).filter((c) => c.startsWith('  - '));
  const versions: CrdVersion[] = [];
  for (const item of items) {
    const name = /^ {4}name:[ \t]*["']?([^\s"']+)/m.exec(item)?.[1] ?? /^ {2}- name:[ \t]*["']?([^\s"']+)/m.exec(item)?.[1];
    if (!name) continue;
    let schema: JsonSchema | undefined | null = null;
    versions.push({
      name,
      served: /^ {4}served:[ \t]*true\b/m.test(item),
      storage: /^ {4}storage:[ \t]*true\b/m.test(item),
      deprecated: /^ {4}deprecated:[ \t]*true\b/m.test(item),
      schema: () => {
        if (schema === null) {
          schema = parseVersionSchema(item);
          parsedVersions.push(`${entry.group}/${name} ${entry.kind}`);
        }
        return schema;
      },
    });
  }
  return { group: entry.group, kind: entry.kind, namespaced: scope !== 'Cluster', versions };
}

/**
 * The CRD text without its `description:` scalars (about 40% of the bytes, and of the parse time;
 * validation never reads them). A description's continuation lines are exactly the following lines
 * indented deeper than its key. Only keys with a value on the same line are dropped, so a field
 * that happened to be named `description` (its schema on the lines below) would be kept.
 */
export function stripDescriptions(text: string): string {
  const out: string[] = [];
  let skipIndent = -1;
  for (const line of text.split('\n')) {
    if (skipIndent >= 0) {
      const indent = line.search(/\S/);
      if (indent < 0 || indent > skipIndent) continue;
      skipIndent = -1;
    }
    const m = /^( *)description:[ \t]+\S/.exec(line);
    if (m) {
      skipIndent = m[1]!.length;
      continue;
    }
    out.push(line);
  }
  return out.join('\n');
}

function parseVersionSchema(item: string): JsonSchema | undefined {
  const text = stripDescriptions(item);
  const name = `schema-${cacheKey(text)}.json`;
  const cached = readCache(name);
  if (cached) {
    try {
      return JSON.parse(cached) as JsonSchema;
    } catch {
      // a damaged entry: parse the YAML again and rewrite it
    }
  }
  try {
    // The bundle is generated and trusted: no duplicate-key checks.
    const list: unknown = parse(text, { uniqueKeys: false });
    const ver = obj(Array.isArray(list) ? list[0] : undefined);
    const schema = obj(obj(ver?.schema)?.openAPIV3Schema) as JsonSchema | undefined;
    if (schema) writeCache(name, JSON.stringify(schema));
    return schema;
  } catch {
    return undefined;
  }
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
