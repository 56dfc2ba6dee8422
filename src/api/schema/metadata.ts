/**
 * `metadata` checks the API server applies to every object (apimachinery `ValidateObjectMeta`):
 * a name or generateName, names in the DNS form the kind requires, a DNS-1123 label for the
 * namespace, well-formed label and annotation keys and values, and only ObjectMeta's own fields
 * (strict decoding reports any other as `unknown field "metadata.foo"`).
 *
 * Texts are apimachinery's (`IsDNS1123Subdomain`, `IsQualifiedName`, `IsValidLabelValue` ...).
 */
import { childPath, keyPath, type FieldError } from './field-error.js';

/** Which name rule a kind uses (`NameIsDNSSubdomain`, `NameIsDNSLabel`, `NameIsDNS1035Label`). */
export type NameRule = 'subdomain' | 'label' | 'dns1035';

const OBJECT_META_FIELDS = new Set([
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields',
]);

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const TOTAL_ANNOTATION_SIZE = 256 * 1024;

const SUBDOMAIN_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/** Problems with a DNS-style name, or [] ( `IsDNS1123Subdomain` / `IsDNS1123Label` / `IsDNS1035Label`). */
export function dnsNameErrors(name: string, rule: NameRule): string[] {
  const max = rule === 'subdomain' ? 253 : 63;
  const out: string[] = [];
  if (name.length > max) out.push(`must be no more than ${max} characters`);
  if (rule === 'subdomain' && !DNS1123_SUBDOMAIN.test(name)) out.push(SUBDOMAIN_MSG);
  if (rule === 'label' && !DNS1123_LABEL.test(name)) out.push(LABEL_MSG);
  if (rule === 'dns1035' && !DNS1035_LABEL.test(name)) out.push(DNS1035_MSG);
  return out;
}

/** `IsQualifiedName`: `[prefix/]name`, prefix a DNS subdomain, name up to 63 characters. */
export function qualifiedNameErrors(key: string): string[] {
  const parts = key.split('/');
  let name = key;
  const out: string[] = [];
  if (parts.length === 2) {
    const [prefix, n] = parts as [string, string];
    name = n;
    if (prefix.length === 0) out.push('prefix part must be non-empty');
    else for (const m of dnsNameErrors(prefix, 'subdomain')) out.push(`prefix part ${m}`);
  } else if (parts.length > 2) {
    return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"];
  }
  if (name.length === 0) out.push('name part must be non-empty');
  else if (name.length > 63) out.push('name part must be no more than 63 characters');
  if (name.length > 0 && !QUALIFIED_NAME.test(name)) {
    out.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
  }
  return out;
}

/** `IsValidLabelValue`. */
export function labelValueErrors(v: string): string[] {
  const out: string[] = [];
  if (v.length > 63) out.push('must be no more than 63 characters');
  if (!LABEL_VALUE.test(v)) {
    out.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
  }
  return out;
}

export interface MetaOptions {
  nameRule: NameRule;
  namespaced: boolean;
}

/** Every problem with `metadata` as the API server reports it. */
export function objectMetaErrors(metadata: unknown, opts: MetaOptions): FieldError[] {
  const out: FieldError[] = [];
  if (metadata === undefined || metadata === null) {
    out.push({ type: 'Required', path: 'metadata.name', detail: 'name or generateName is required' });
    return out;
  }
  if (typeof metadata !== 'object' || Array.isArray(metadata)) {
    out.push({ type: 'TypeInvalid', path: 'metadata', value: Array.isArray(metadata) ? 'array' : typeof metadata, detail: 'metadata must be an object (ObjectMeta)' });
    return out;
  }
  const m = metadata as Record<string, unknown>;
  for (const k of Object.keys(m)) if (!OBJECT_META_FIELDS.has(k)) out.push({ type: 'UnknownField', path: childPath('metadata', k) });
  for (const k of ['name', 'generateName', 'namespace'] as const) {
    if (m[k] !== undefined && m[k] !== null && typeof m[k] !== 'string') {
      out.push({ type: 'TypeInvalid', path: `metadata.${k}`, value: m[k], detail: `must be a string (ObjectMeta.${k} is a string)` });
    }
  }
  const name = typeof m.name === 'string' ? m.name : '';
  const generateName = typeof m.generateName === 'string' ? m.generateName : '';
  if (!name && !generateName) out.push({ type: 'Required', path: 'metadata.name', detail: 'name or generateName is required' });
  if (name) for (const msg of dnsNameErrors(name, opts.nameRule)) out.push({ type: 'Invalid', path: 'metadata.name', value: name, detail: msg });
  if (generateName) {
    // A prefix: the server appends random characters, so a trailing '-' is fine.
    const prefix = generateName.replace(/-$/, '');
    for (const msg of dnsNameErrors(prefix || 'a', opts.nameRule)) out.push({ type: 'Invalid', path: 'metadata.generateName', value: generateName, detail: msg });
  }
  if (opts.namespaced && typeof m.namespace === 'string' && m.namespace !== '') {
    for (const msg of dnsNameErrors(m.namespace, 'label')) out.push({ type: 'Invalid', path: 'metadata.namespace', value: m.namespace, detail: msg });
  }
  stringMap(m.labels, 'labels', out, (k, v, path) => {
    for (const msg of qualifiedNameErrors(k)) out.push({ type: 'Invalid', path: 'metadata.labels', value: k, detail: msg });
    for (const msg of labelValueErrors(v)) out.push({ type: 'Invalid', path, value: v, detail: msg });
  });
  let size = 0;
  stringMap(m.annotations, 'annotations', out, (k, v) => {
    size += k.length + v.length;
    for (const msg of qualifiedNameErrors(k.toLowerCase())) out.push({ type: 'Invalid', path: 'metadata.annotations', value: k, detail: msg });
  });
  if (size > TOTAL_ANNOTATION_SIZE) out.push({ type: 'TooLong', path: 'metadata.annotations', max: TOTAL_ANNOTATION_SIZE });
  return out;
}

/** labels/annotations: a map of strings (a number or bool value fails strict decoding). */
function stringMap(v: unknown, field: 'labels' | 'annotations', out: FieldError[], each: (k: string, v: string, path: string) => void): void {
  if (v === undefined || v === null) return;
  const path = `metadata.${field}`;
  if (typeof v !== 'object' || Array.isArray(v)) {
    out.push({ type: 'TypeInvalid', path, value: Array.isArray(v) ? 'array' : typeof v, detail: `${field} must be a map of string keys to string values` });
    return;
  }
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const at = keyPath(path, k);
    if (x === null) continue; // JSON null decodes to ""
    if (typeof x !== 'string') {
      out.push({ type: 'TypeInvalid', path: at, value: x, detail: `json: cannot unmarshal ${typeof x} into Go struct field ObjectMeta.metadata.${field} of type string (quote the value: "${String(x)}")` });
      continue;
    }
    each(k, x, at);
  }
}
