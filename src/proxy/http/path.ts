/**
 * Path normalization as the connection manager's `normalize_path` and `merge_slashes` do it
 * (RFC 3986 section 6: decode unreserved percent-encodings, resolve dot segments; collapse `//`).
 * Only the path part is touched; the query is kept as it came.
 */

const UNRESERVED = /%(2[DdEe]|3[0-9]|4[1-9A-Fa-f]|5[0-9Aa]|5[Ff]|6[1-9A-Fa-f]|7[0-9Aa]|7[Ee])/g;

/** The normalized path, or undefined when the path is invalid (Envoy answers 400). */
export function normalizePath(raw: string, dots: boolean, merge: boolean): string | undefined {
  const q = raw.search(/[?#]/);
  let path = q >= 0 ? raw.slice(0, q) : raw;
  const rest = q >= 0 ? raw.slice(q) : '';
  if (!path.startsWith('/')) return path === '*' ? raw : undefined;
  if (dots) {
    path = path.replace(UNRESERVED, (m) => String.fromCharCode(parseInt(m.slice(1), 16)));
    if (path.includes('\\')) path = path.replace(/\\/g, '/');
    const out: string[] = [];
    const segs = path.split('/');
    for (let i = 1; i < segs.length; i++) {
      const s = segs[i];
      if (s === '.') { if (i === segs.length - 1) out.push(''); continue; }
      if (s === '..') { out.pop(); if (i === segs.length - 1) out.push(''); continue; }
      out.push(s);
    }
    path = '/' + out.join('/');
  }
  if (merge) path = path.replace(/\/{2,}/g, '/');
  return path + rest;
}
