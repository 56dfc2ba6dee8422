/**
 * JSON the way productpage's `simplejson.dumps` writes it (", " and ": " separators, non-ASCII as
 * \uXXXX), so the API's bodies match the real image byte for byte where clients compare them.
 */

function dumpString(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** simplejson.dumps(value) with its default options. */
export function pyJsonDumps(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return dumpString(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? 'Infinity' : v < 0 ? '-Infinity' : 'NaN';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${v.map(pyJsonDumps).join(', ')}]`;
  if (typeof v === 'object') {
    return `{${Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${dumpString(k)}: ${pyJsonDumps(x)}`)
      .join(', ')}}`;
  }
  return 'null';
}
