/**
 * The collector every webhook rule writes into: errors and warnings, each with the field path it is
 * about (`spec.http[0].route[1].weight`), so that `validateResource` can resolve a source position.
 *
 * Also the small guards the rules use to read a spec defensively: the schema has normally checked
 * the structure already, but a rule must never throw on a `null` list item or a string where a map
 * was expected (the CLI runs these on whatever YAML it was given).
 */
import type { Diagnostic } from '../diagnostics.js';

export class Report {
  readonly diags: Diagnostic[] = [];

  error(path: string, message: string): void {
    this.diags.push({ level: 'Error', message, path: path || undefined });
  }

  /** A warning; `code` carries the analyzer message it corresponds to (IST0130 ...), if any. */
  warn(path: string, message: string, code?: { code: string; codeName: string }): void {
    this.diags.push({ level: 'Warning', message, path: path || undefined, ...code });
  }

  /** Records `message` as an error when it is a string (the shape of the small check helpers). */
  check(path: string, message: string | undefined): void {
    if (message !== undefined) this.error(path, message);
  }

  get errorCount(): number {
    return this.diags.filter((d) => d.level === 'Error').length;
  }
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * Appends a field or index to a path: `at('spec.http', 0)` → `spec.http[0]`, `at('spec', 'hosts')`
 * → `spec.hosts`. Map keys use `key()` instead.
 */
export function at(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (IDENT.test(key)) return base ? `${base}.${key}` : key;
  return `${base}[${key}]`;
}

/**
 * Appends a map key the way Kubernetes prints one: always in brackets
 * (`spec.selector.matchLabels[app]`, `spec.ports[http]`), whatever the key looks like.
 */
export function key(base: string, k: string): string {
  return `${base}[${k}]`;
}

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `v` as a list (empty when absent or not a list). */
export function list<T = unknown>(v: T[] | undefined | null | unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : [];
}

/** Entries of a map (empty when absent or not a map). */
export function entries<T = unknown>(v: Record<string, T> | undefined | null | unknown): [string, T][] {
  return isObj(v) ? (Object.entries(v) as [string, T][]) : [];
}

/** `v` as a string ('' when absent or not a string, like a protobuf default). */
export function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** `v` as a number (0 when absent, like a protobuf default; NaN-free). */
export function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** True when a field is present (protobuf "has"): not undefined and not null. */
export function has(v: unknown): boolean {
  return v !== undefined && v !== null;
}

/** Number of keys of a map value (0 when absent). */
export function size(v: unknown): number {
  return isObj(v) ? Object.keys(v).length : Array.isArray(v) ? v.length : 0;
}

/** Go's `%f` formatting of a float (six decimals), used in some of Istio's messages. */
export function goFloat(n: number): string {
  return n.toFixed(6);
}
