/**
 * Route hash_policy (for RING_HASH / MAGLEV clusters): header, cookie (existing only), connection
 * properties (source_ip), query_parameter. Policies are tried in order; `terminal` stops at the first
 * that produced a hash; several hashes are combined, as Envoy does.
 */
import { Fields } from '../config/fields.js';
import { getHeader, headerName, type Headers } from '../http/headers.js';
import { hashString } from '../lb/load-balancer.js';

export type HashPolicy = (h: Headers, sourceIp: string, query: string) => number | undefined;

export function compileHashPolicies(list: Fields[]): HashPolicy {
  const parts: { fn: (h: Headers, ip: string, q: string) => string | undefined; terminal: boolean }[] = [];
  for (const p of list) {
    const terminal = p.bool('terminal');
    let fn: ((h: Headers, ip: string, q: string) => string | undefined) | undefined;
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
      if (ck.has('ttl')) ck.error('ttl', 'generated hash cookies are not supported by spar proxy yet');
      ck.ignore('path');
      ck.unsupported('attributes');
      ck.done();
      const re = new RegExp(`(?:^|;\\s*)${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}=([^;]*)`);
      fn = (h) => re.exec(getHeader(h, 'cookie') ?? '')?.[1];
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
  return (h, ip, q) => {
    let hash: number | undefined;
    for (const part of parts) {
      const v = part.fn(h, ip, q);
      if (v === undefined) continue;
      const x = hashString(v);
      hash = hash === undefined ? x : (((hash << 1) | (hash >>> 31)) ^ x) >>> 0;
      if (part.terminal) break;
    }
    return hash;
  };
}
