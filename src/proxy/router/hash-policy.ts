/**
 * Route hash_policy (for RING_HASH / MAGLEV clusters): header, cookie, connection properties
 * (source_ip), query_parameter. Policies are tried in order; `terminal` stops at the first that
 * produced a hash; several hashes are combined, as Envoy does. A cookie policy with a `ttl`
 * generates the cookie when the request has none (Istio's consistentHash.httpCookie): the value is
 * a hash of the connection's addresses (the same for every request on a connection), the balancer
 * hashes that value, and the router sends it back in Set-Cookie (name="value"; Max-Age; Path; HttpOnly).
 */
import { Fields } from '../config/fields.js';
import { getHeader, headerName, type Headers } from '../http/headers.js';
import { hashString } from '../lb/load-balancer.js';

/** The request's connection, for generated cookies; `setCookie` receives the header value to send back. */
export interface HashContext {
  connection: string;
  setCookie?: string;
}

export type HashPolicy = (h: Headers, sourceIp: string, query: string, ctx?: HashContext) => number | undefined;

export function compileHashPolicies(list: Fields[]): HashPolicy {
  const parts: { fn: (h: Headers, ip: string, q: string, ctx?: HashContext) => string | undefined; terminal: boolean }[] = [];
  for (const p of list) {
    const terminal = p.bool('terminal');
    let fn: ((h: Headers, ip: string, q: string, ctx?: HashContext) => string | undefined) | undefined;
    const hdr = p.opt('header');
    if (hdr) {
      const name = headerName(hdr.str('header_name'));
      hdr.unsupported('regex_rewrite', 'not supported by spar proxy yet');
      hdr.done();
      fn = (h) => getHeader(h, name);
    }
    const ck = p.opt('cookie');
    if (ck) {
      const name = ck.str('name');
      const ttl = ck.has('ttl') ? ck.durationMs('ttl', 0) : undefined;
      const path = ck.str('path');
      const attrs = ck.list('attributes').map((a) => {
        const n = a.str('name'), v = a.str('value');
        a.done();
        return v ? `${n}=${v}` : n;
      });
      ck.done();
      const re = new RegExp(`(?:^|;\\s*)${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}=([^;]*)`);
      const read = (h: Headers) => {
        const v = re.exec(getHeader(h, 'cookie') ?? '')?.[1];
        // A quoted cookie value counts without its quotes (as Envoy parses it).
        return v !== undefined && v.length >= 2 && v[0] === '"' && v[v.length - 1] === '"' ? v.slice(1, -1) : v;
      };
      if (ttl === undefined) fn = read;
      else {
        const suffix = `${ttl > 0 ? `; Max-Age=${Math.floor(ttl / 1000)}` : ''}${path ? `; Path=${path}` : ''}${attrs.map((a) => `; ${a}`).join('')}; HttpOnly`;
        fn = (h, _ip, _q, ctx) => {
          const v = read(h);
          if (v !== undefined || !ctx) return v;
          const value = hashString(ctx.connection).toString(16).padStart(8, '0') + hashString(`${ctx.connection}|spar`).toString(16).padStart(8, '0');
          ctx.setCookie = `${name}="${value}"${suffix}`;
          return value;
        };
      }
    }
    const cp = p.opt('connection_properties');
    if (cp) {
      const src = cp.bool('source_ip');
      cp.done();
      fn = src ? (_h, ip) => ip : () => undefined;
    }
    const qp = p.opt('query_parameter');
    if (qp) {
      const name = qp.str('name');
      qp.done();
      fn = (_h, _ip, q) => new URLSearchParams(q).get(name) ?? undefined;
    }
    p.unsupported('filter_state', 'not supported by spar proxy');
    p.done();
    if (fn) parts.push({ fn, terminal });
    else p.error('', 'one of header, cookie, connection_properties, query_parameter is required');
  }
  return (h, ip, q, ctx) => {
    let hash: number | undefined;
    for (const part of parts) {
      const v = part.fn(h, ip, q, ctx);
      if (v === undefined) continue;
      const x = hashString(v);
      hash = hash === undefined ? x : (((hash << 1) | (hash >>> 31)) ^ x) >>> 0;
      if (part.terminal) break;
    }
    return hash;
  };
}
