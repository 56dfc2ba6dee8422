/** CIDR ranges (envoy.config.core.v3.CidrRange) for filter chain matching, with their specificity. */
import { isIPv4, isIPv6 } from 'node:net';
import { Fields } from '../config/fields.js';

export interface Cidr {
  v6: boolean;
  base: bigint;
  len: number;
}

function toBig(ip: string): { v6: boolean; n: bigint } | undefined {
  if (ip.startsWith('::ffff:') && isIPv4(ip.slice(7))) ip = ip.slice(7);
  if (isIPv4(ip)) {
    const p = ip.split('.').map(Number);
    return { v6: false, n: BigInt(((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3]) };
  }
  if (!isIPv6(ip)) return undefined;
  const [head, tail] = ip.split('::');
  const hs = head ? head.split(':') : [];
  const ts = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const groups = [...hs, ...new Array(8 - hs.length - ts.length).fill('0'), ...ts];
  let n = 0n;
  for (const g of groups) n = (n << 16n) | BigInt(parseInt(g || '0', 16));
  return { v6: true, n };
}

export function readCidr(f: Fields): Cidr | undefined {
  const addr = f.str('address_prefix');
  const b = toBig(addr);
  const len = f.num('prefix_len', b?.v6 ? 128 : 32);
  f.done();
  if (!b) {
    f.error('address_prefix', `invalid IP address ${JSON.stringify(addr)}`);
    return undefined;
  }
  const bits = b.v6 ? 128 : 32;
  const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(bits - len);
  return { v6: b.v6, base: b.n & mask, len };
}

/** The prefix length of the most specific range containing ip, or -1. */
export function longestMatch(ranges: Cidr[], ip: string): number {
  const b = toBig(ip);
  if (!b) return -1;
  let best = -1;
  for (const r of ranges) {
    if (r.v6 !== b.v6) continue;
    const bits = r.v6 ? 128 : 32;
    const mask = r.len === 0 ? 0n : ((1n << BigInt(r.len)) - 1n) << BigInt(bits - r.len);
    if ((b.n & mask) === r.base && r.len > best) best = r.len;
  }
  return best;
}
