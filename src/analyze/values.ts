/**
 * Reading loosely typed YAML values without trusting them: analysis runs on resources that may
 * have failed validation, so every field read here degrades to an empty value instead of throwing.
 */

export function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

export function num(v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return 0;
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** A string map (labels, annotations, selectors); non-string values are printed as strings. */
export function labelsOf(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(obj(v))) out[k] = x == null ? '' : str(x);
  return out;
}

export function strings(v: unknown): string[] {
  return arr(v).map(str);
}

/**
 * A canonical JSON form (keys sorted, empty and default values dropped) so that two matches that
 * mean the same thing compare equal, as Istio compares protobuf messages.
 */
export function canonical(v: unknown): string {
  return JSON.stringify(prune(v)) ?? '';
}

function prune(v: unknown): unknown {
  if (Array.isArray(v)) {
    const a = v.map(prune).filter((x) => x !== undefined);
    return a.length ? a : undefined;
  }
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = prune((v as Record<string, unknown>)[k]);
      if (x !== undefined) out[k] = x;
    }
    return Object.keys(out).length ? out : undefined;
  }
  if (v === false || v === 0 || v === '' || v === null) return undefined;
  return v;
}
