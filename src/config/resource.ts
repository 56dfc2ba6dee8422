/**
 * ConfigResource: one Kubernetes-style object (Istio CRD or core kind) as read from YAML, with
 * where it came from so that every diagnostic can point at a file, line and column.
 */
import type { Document, LineCounter } from 'yaml';
import { isNode, isPair } from 'yaml';
import type { ResourceRef, SourcePos } from '../api/diagnostics.js';

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** Where a resource was read from. */
export interface ResourceSource {
  file: string;
  /** Index of the YAML document within the file (0-based). */
  docIndex: number;
  doc: Document.Parsed;
  lineCounter: LineCounter;
  /** Path of this object inside the document (non-empty for items of a `kind: List`). */
  basePath: (string | number)[];
}

export interface ConfigResource {
  apiVersion: string;
  kind: string;
  /** API group (`networking.istio.io`; '' for core kinds). */
  group: string;
  /** API version within the group (`v1`, `v1beta1` ...). */
  version: string;
  /** metadata.name ('' when missing; validation reports it). */
  name: string;
  /** metadata.namespace, or the default namespace given when reading. */
  namespace: string;
  metadata: ObjectMeta;
  /** `spec` (or {} when absent). Kinds without spec (Service has one; ConfigMap does not) keep the raw object. */
  spec: Record<string, unknown>;
  /** The whole object as written. */
  raw: Record<string, unknown>;
  source?: ResourceSource;
}

/** `{kind, name, namespace}` for messages. */
export function refOf(r: ConfigResource): ResourceRef {
  return { kind: r.kind, name: r.name, namespace: r.namespace || undefined };
}

/** Splits `networking.istio.io/v1` into group and version (`v1` alone is the core group). */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.lastIndexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

/**
 * The source position of `path` inside the resource (e.g. ['spec','http',0,'route']). When the
 * exact field is absent (a required field that is missing), the nearest present ancestor is used.
 */
export function positionOf(r: ConfigResource, path: readonly (string | number)[] = []): SourcePos | undefined {
  const src = r.source;
  if (!src) return undefined;
  const full = [...src.basePath, ...path];
  for (let n = full.length; n >= 0; n--) {
    const node = n === 0 ? src.doc.contents : src.doc.getIn(full.slice(0, n), true);
    if (isNode(node) && node.range) {
      // Point at the key of a mapping entry when there is one: "field: value" reads better.
      const keyPos = n > 0 ? keyOffset(src.doc, full.slice(0, n)) : undefined;
      const offset = keyPos ?? node.range[0];
      const lp = src.lineCounter.linePos(offset);
      return { file: src.file, line: lp.line, col: lp.col };
    }
  }
  return { file: src.file, line: 1, col: 1 };
}

function keyOffset(doc: Document.Parsed, path: readonly (string | number)[]): number | undefined {
  const last = path[path.length - 1];
  if (typeof last !== 'string') return undefined;
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  if (!parent || typeof parent !== 'object' || !('items' in parent)) return undefined;
  for (const item of (parent as { items: unknown[] }).items) {
    if (isPair(item) && isNode(item.key) && (item.key as { value?: unknown }).value === last && item.key.range) return item.key.range[0];
  }
  return undefined;
}
