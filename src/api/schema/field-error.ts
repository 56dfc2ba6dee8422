/**
 * Kubernetes field errors (`k8s.io/apimachinery/pkg/util/validation/field`), so that Spar's schema
 * messages read exactly as the API server prints them:
 *
 *   spec.rules[0].from[0].source: Invalid value: "object": Cannot set serviceAccounts with namespaces or principals
 *   spec.mtls.mode: Unsupported value: "BLAH": supported values: "UNSET", "DISABLE", "PERMISSIVE", "STRICT"
 *   spec.hosts: Required value
 *
 * A Diagnostic keeps the field path in `path` and the rest (`Invalid value: ...`) in `message`;
 * `formatDiagnostic` joins them with ": " as the API server does.
 */
import type { Diagnostic } from '../diagnostics.js';

/** `field.ErrorType` values (the ones a CRD's schema and CEL rules can produce). */
export type FieldErrorType =
  | 'Required'
  | 'Forbidden'
  | 'Invalid'
  | 'TypeInvalid'
  | 'NotSupported'
  | 'Duplicate'
  | 'TooLong'
  | 'TooMany'
  | 'UnknownField'
  /** Not an API-server error: a rule Spar could not evaluate (a Warning, never blocking). */
  | 'Unchecked';

export interface FieldError {
  type: FieldErrorType;
  /** Field path as Kubernetes prints it: `spec.http[0].route`, map keys as `spec.ports[http]`. */
  path: string;
  /** The offending value (printed the way Go's `%v`/`%q` would); omitted for Required/Forbidden. */
  value?: unknown;
  detail?: string;
  /** Allowed values (NotSupported). */
  supported?: readonly unknown[];
  /** Limits (TooLong, TooMany). */
  max?: number;
  actual?: number;
}

/** Errors after which the API server does not run CEL rules (`hasBlockingErr` in apiextensions). */
export function isBlocking(e: FieldError): boolean {
  return e.type === 'Required' || e.type === 'NotSupported' || e.type === 'TooLong' || e.type === 'TooMany' || e.type === 'TypeInvalid';
}

/** `a.b` (a property), building the same strings as `field.Path.Child`. */
export function childPath(parent: string, name: string): string {
  return parent ? `${parent}.${name}` : name;
}

/** `a[3]` (`field.Path.Index`). */
export function indexPath(parent: string, i: number): string {
  return `${parent}[${i}]`;
}

/** `a[key]` (`field.Path.Key`, used for map entries). */
export function keyPath(parent: string, key: string): string {
  return `${parent}[${key}]`;
}

/** A value the way `field.Error` prints it: strings quoted, numbers and booleans bare, null as "null". */
export function goValue(v: unknown): string {
  if (v === null || v === undefined) return '"null"';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[]interface {}{${v.map(goValue).join(', ')}}`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).map(([k, x]) => `${JSON.stringify(k)}:${goValue(x)}`);
    return `map[string]interface {}{${entries.join(', ')}}`;
  }
  return JSON.stringify(String(v));
}

/** The part after the path: `Invalid value: "object": detail` (`field.Error.ErrorBody`). */
export function errorBody(e: FieldError): string {
  const detail = e.detail ? `: ${e.detail}` : '';
  switch (e.type) {
    case 'Required':
      return `Required value${detail}`;
    case 'Forbidden':
      return `Forbidden${detail}`;
    case 'TooLong':
      return `Too long: may not be more than ${e.max ?? -1} bytes`;
    case 'TooMany':
      return `Too many: ${e.actual ?? -1}: must have at most ${e.max ?? -1} items`;
    case 'NotSupported': {
      const values = (e.supported ?? []).map((s) => (typeof s === 'string' ? JSON.stringify(s) : JSON.stringify(s))).join(', ');
      return `Unsupported value: ${goValue(e.value)}${values ? `: supported values: ${values}` : ''}`;
    }
    case 'Duplicate':
      return `Duplicate value: ${goValue(e.value)}${detail}`;
    case 'UnknownField':
      return `unknown field ${JSON.stringify(e.path)}`;
    case 'Unchecked':
      return `not checked: ${e.detail ?? ''}`;
    case 'Invalid':
    case 'TypeInvalid':
      return `Invalid value: ${goValue(e.value)}${detail}`;
  }
}

/** A FieldError as a Spar Diagnostic: an Error (the API server would refuse the object), or a Warning for `Unchecked`. */
export function toDiagnostic(e: FieldError): Diagnostic {
  return { level: e.type === 'Unchecked' ? 'Warning' : 'Error', message: errorBody(e), path: e.path || undefined };
}
