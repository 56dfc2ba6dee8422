/**
 * Header maps and header mutations.
 *
 * A request's headers live in one object with lower-case names and Envoy's pseudo-headers
 * (`:method`, `:path`, `:authority`, `:scheme`), whichever codec produced them, so route matching,
 * mutations and access logs read one shape. `host` is always folded into `:authority`, as Envoy does.
 * Mutations (`request_headers_to_add` ...) are compiled once: constant values stay strings, values with
 * `%VARIABLES%` become formatters.
 */
import { Fields } from '../config/fields.js';
import { compileFormat } from '../access-log/formatter.js';
import type { StreamInfo } from '../stream-info.js';

export type Headers = Record<string, string | string[] | undefined>;

/** Hop-by-hop headers Envoy never forwards (RFC 9110 §7.6.1, plus proxy-connection). */
export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'http2-settings']);

export function headerName(n: string): string {
  const l = n.toLowerCase();
  return l === 'host' ? ':authority' : l;
}

export function getHeader(h: Headers, name: string): string | undefined {
  const v = h[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(',');
}

type Action = 'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS';

interface AddOp {
  name: string;
  value: string | ((si: StreamInfo) => string);
  action: Action;
  keepEmpty: boolean;
}

/** A compiled set of header mutations (remove first, then add — per level, as Envoy's HeaderParser). */
export interface HeaderMutation {
  apply(h: Headers, si: StreamInfo): void;
}

const NOOP: HeaderMutation = { apply() {} };

export function compileHeaderMutation(adds: Fields[], removes: string[], f: Fields): HeaderMutation {
  if (adds.length === 0 && removes.length === 0) return NOOP;
  const ops: AddOp[] = [];
  for (const a of adds) {
    const hdr = a.obj_('header');
    const name = headerName(hdr.str('key'));
    const raw = hdr.str('value');
    hdr.unsupported('raw_value', 'raw_value is not supported by spar proxy (use value)');
    hdr.done();
    let action: Action = a.has('append') ? (a.bool('append', true) ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD') : 'APPEND_IF_EXISTS_OR_ADD';
    if (a.has('append_action')) {
      if (a.has('append')) a.error('append', 'append and append_action cannot both be set');
      action = a.enumOf('append_action', ['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS'] as const, 'APPEND_IF_EXISTS_OR_ADD');
    }
    const keepEmpty = a.bool('keep_empty_value');
    a.done();
    if (!name) {
      a.error('header.key', 'required');
      continue;
    }
    const errors: string[] = [];
    const fmt = compileFormat(raw, errors);
    for (const e of errors) a.error('header.value', e);
    ops.push({ name, value: fmt.constant ? fmt.format(undefined as never, '') : (si) => fmt.format(si, ''), action, keepEmpty });
  }
  const rm = removes.map(headerName);
  for (const r of rm) if (r.startsWith(':')) f.error('', `pseudo-header ${r} cannot be removed`);
  return {
    apply(h, si) {
      for (let i = 0; i < rm.length; i++) delete h[rm[i]];
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i];
        const v = typeof op.value === 'string' ? op.value : op.value(si);
        if (v === '' && !op.keepEmpty) continue;
        const cur = h[op.name];
        switch (op.action) {
          case 'APPEND_IF_EXISTS_OR_ADD':
            h[op.name] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [cur, v];
            break;
          case 'ADD_IF_ABSENT':
            if (cur === undefined) h[op.name] = v;
            break;
          case 'OVERWRITE_IF_EXISTS_OR_ADD':
            h[op.name] = v;
            break;
          case 'OVERWRITE_IF_EXISTS':
            if (cur !== undefined) h[op.name] = v;
            break;
        }
      }
    },
  };
}

/** Reads `<prefix>_headers_to_add` / `<prefix>_headers_to_remove` of a route, vhost or route config. */
export function readMutation(f: Fields, kind: 'request' | 'response'): HeaderMutation {
  return compileHeaderMutation(f.list(`${kind}_headers_to_add`), f.strList(`${kind}_headers_to_remove`), f);
}

/** Several levels applied in order; nothing to do costs nothing. */
export function chain(levels: HeaderMutation[]): HeaderMutation {
  const real = levels.filter((l) => l !== NOOP);
  if (real.length === 0) return NOOP;
  if (real.length === 1) return real[0];
  return { apply: (h, si) => { for (const l of real) l.apply(h, si); } };
}

export function isNoop(m: HeaderMutation): boolean {
  return m === NOOP;
}
