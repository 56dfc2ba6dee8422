/**
 * Diagnostics: what validation and analysis say about a resource. Validation never throws; it
 * returns these. Each one names the resource, the field path (`spec.http[0].route[1].weight`) and,
 * where the resource came from a file, the file, line and column.
 */

export type Level = 'Error' | 'Warning' | 'Info';

/** Identifies a resource the way istioctl prints it: `VirtualService default/reviews`. */
export interface ResourceRef {
  kind: string;
  name: string;
  namespace?: string;
}

export interface SourcePos {
  file: string;
  line: number; // 1-based
  col: number; // 1-based
}

export interface Diagnostic {
  level: Level;
  /** Istio message code (IST0101 ...) for analysis; undefined for plain validation errors. */
  code?: string;
  /** Istio message name (ReferencedResourceNotFound ...) where `code` is set. */
  codeName?: string;
  message: string;
  resource?: ResourceRef;
  /** Field path inside the resource, e.g. `spec.http[0].route[1].weight`. */
  path?: string;
  pos?: SourcePos;
}

/** `VirtualService default/reviews` (cluster-scoped resources print without a namespace). */
export function formatRef(ref: ResourceRef): string {
  return ref.namespace ? `${ref.kind} ${ref.namespace}/${ref.name}` : `${ref.kind} ${ref.name}`;
}

/** Joins a path of keys and indices the way Kubernetes prints it: `spec.http[0].route`. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${p}` : p;
  }
  return out;
}

/**
 * One line for a validation error:
 * `file.yaml:12:5: VirtualService default/reviews: spec.http[0].route[1].weight: weight -1 is negative`.
 */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.pos ? `${d.pos.file}:${d.pos.line}:${d.pos.col}: ` : '';
  const what = d.resource ? `${formatRef(d.resource)}: ` : '';
  const field = d.path ? `${d.path}: ` : '';
  const lvl = d.level === 'Error' ? '' : `${d.level.toLowerCase()}: `;
  return `${where}${lvl}${what}${field}${d.message}`;
}
