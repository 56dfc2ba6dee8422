/**
 * Reading Envoy config in its JSON form with a record of what was read.
 *
 * Spar's proxy promises that every field it accepts does what Envoy documents and that every other
 * field is rejected by name. `Fields` makes that promise mechanical: each compiler reads the fields it
 * implements through a `Fields`, and `done()` reports every key left unread as
 * "Listener.filter_chains[0].foo: not supported by spar proxy". Errors accumulate in a `ConfigErrors`
 * (decode into a result, never throw — STYLE.md habit 1) and become the NACK text or the startup error.
 */
import type { EnvoyJson } from '../../xds/codec.js';

export type Json = EnvoyJson[string];

/** Errors found while compiling one resource, each with its field path. */
export class ConfigErrors {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    this.list.push(`${path}: ${message}`);
  }
  get ok(): boolean {
    return this.list.length === 0;
  }
  toString(): string {
    return this.list.join('; ');
  }
}

/** Thrown only at the outermost compile call, carrying every error (never on the request path). */
export class ConfigError extends Error {
  constructor(readonly errors: string[]) {
    super(errors.join('; '));
    this.name = 'ConfigError';
  }
}

/** A JSON object being read; every key not read by the end is reported as unsupported. */
export class Fields {
  private readonly seen = new Set<string>();
  constructor(readonly obj: EnvoyJson, readonly path: string, readonly errs: ConfigErrors) {}

  static of(v: Json | undefined, path: string, errs: ConfigErrors): Fields {
    if (v === undefined || v === null) return new Fields({}, path, errs);
    if (typeof v !== 'object' || Array.isArray(v)) {
      errs.add(path, 'expected an object');
      return new Fields({}, path, errs);
    }
    return new Fields(v as EnvoyJson, path, errs);
  }

  has(k: string): boolean {
    return this.obj[k] !== undefined && this.obj[k] !== null;
  }
  /** Marks a field read without interpreting it (used for fields that are only documentation, e.g. `name`). */
  ignore(...keys: string[]): void {
    for (const k of keys) this.seen.add(k);
  }
  raw(k: string): Json | undefined {
    this.seen.add(k);
    return this.obj[k] ?? undefined;
  }
  str(k: string, def = ''): string {
    const v = this.raw(k);
    if (v === undefined || v === null) return def;
    if (typeof v !== 'string') {
      this.errs.add(`${this.path}.${k}`, 'expected a string');
      return def;
    }
    return v;
  }
  bool(k: string, def = false): boolean {
    let v = this.raw(k);
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && 'value' in v) v = (v as EnvoyJson).value; // BoolValue in object form
    if (v === undefined || v === null) return def;
    if (typeof v !== 'boolean') {
      this.errs.add(`${this.path}.${k}`, 'expected a boolean');
      return def;
    }
    return v;
  }
  num(k: string, def = 0): number {
    let v = this.raw(k);
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && 'value' in v) v = (v as EnvoyJson).value; // UInt32Value in object form
    if (v === undefined || v === null) return def;
    const n = typeof v === 'string' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      this.errs.add(`${this.path}.${k}`, 'expected a number');
      return def;
    }
    return n;
  }
  /** A google.protobuf.Duration ("1.5s") in milliseconds; `def` when unset. */
  durationMs(k: string, def: number): number {
    const v = this.raw(k);
    if (v === undefined || v === null) return def;
    const ms = parseDurationMs(v);
    if (ms === undefined) {
      this.errs.add(`${this.path}.${k}`, `invalid duration ${JSON.stringify(v)} (expected e.g. "1.5s")`);
      return def;
    }
    return ms;
  }
  /** One of the enum's names (proto JSON form); `def` when unset. */
  enumOf<T extends string>(k: string, allowed: readonly T[], def: T): T {
    const v = this.raw(k);
    if (v === undefined || v === null) return def;
    if (!allowed.includes(v as T)) {
      this.errs.add(`${this.path}.${k}`, `value ${JSON.stringify(v)} not supported by spar proxy (supported: ${allowed.join(', ')})`);
      return def;
    }
    return v as T;
  }
  obj_(k: string): Fields {
    return Fields.of(this.raw(k), `${this.path}.${k}`, this.errs);
  }
  /** A sub-object, or undefined when the field is unset. */
  opt(k: string): Fields | undefined {
    if (!this.has(k)) {
      this.seen.add(k);
      return undefined;
    }
    return this.obj_(k);
  }
  list(k: string): Fields[] {
    const v = this.raw(k);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.errs.add(`${this.path}.${k}`, 'expected a list');
      return [];
    }
    return v.map((x, i) => Fields.of(x, `${this.path}.${k}[${i}]`, this.errs));
  }
  strList(k: string): string[] {
    const v = this.raw(k);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
      this.errs.add(`${this.path}.${k}`, 'expected a list of strings');
      return [];
    }
    return v as string[];
  }
  /** Reports a field as present but not supported (with a reason), e.g. a value Spar cannot honour. */
  unsupported(k: string, why = 'not supported by spar proxy'): void {
    this.seen.add(k);
    if (this.has(k)) this.errs.add(`${this.path}.${k}`, why);
  }
  /** Rejects a field only when set to something other than its default (false, 0, "0s", empty). */
  unsupportedIfSet(k: string, why = 'not supported by spar proxy'): void {
    let v = this.raw(k);
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && 'value' in v) v = (v as EnvoyJson).value;
    if (v === undefined || v === null || v === false || v === 0 || v === '' || v === '0s') return;
    if (Array.isArray(v) && v.length === 0) return;
    this.errs.add(`${this.path}.${k}`, why);
  }
  error(k: string, message: string): void {
    this.errs.add(k ? `${this.path}.${k}` : this.path, message);
  }
  /** Reports every key not read as unsupported. Call once, after reading. */
  done(): void {
    for (const k of Object.keys(this.obj)) {
      if (k === '@type' || this.seen.has(k)) continue;
      this.errs.add(`${this.path}.${k}`, 'field not supported by spar proxy');
    }
  }
}

/** "1.5s" / "0.010s" → milliseconds; also accepts the object form {seconds, nanos}. */
export function parseDurationMs(v: Json): number | undefined {
  if (typeof v === 'string') {
    const m = /^(-?\d+)(?:\.(\d{1,9}))?s$/.exec(v);
    if (!m) return undefined;
    const frac = m[2] ? Number(m[2].padEnd(9, '0')) / 1e6 : 0;
    return Number(m[1]) * 1000 + frac;
  }
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as { seconds?: number | string; nanos?: number };
    return Number(o.seconds ?? 0) * 1000 + (o.nanos ?? 0) / 1e6;
  }
  return undefined;
}

/** The message type name of an Any's `@type` URL. */
export function typeName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}
