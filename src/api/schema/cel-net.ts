/**
 * The Kubernetes CEL IP and CIDR libraries (k8s.io/apiserver/pkg/cel/library `ip.go`, `cidr.go`):
 * `isIP`, `ip`, `ip.isCanonical`, `isCIDR`, `cidr` and their methods (`family`, `isLoopback`,
 * `containsIP`, `prefixLength`, `masked` ...). Istio's current CRDs call none of them; they are here
 * so that a newer CRD bundle using them is checked rather than reported as not checkable.
 *
 * Parsing follows Go's `net/netip` as Kubernetes uses it: dotted-quad IPv4 without leading zeros,
 * RFC 4291 IPv6, and no zones or IPv4-mapped IPv6 addresses. Values are CEL maps tagged with a key
 * the methods check (see cel-lib.ts for why).
 */
import { celFunc, celMethod, CelScalar, mapType, type CelFunc, type CelMap } from '@bufbuild/cel';

const NET_TYPE = mapType(CelScalar.STRING, CelScalar.DYN);
const IP_MARK = '@k8s.ip';
const CIDR_MARK = '@k8s.cidr';

interface Addr {
  family: 4 | 6;
  bytes: number[];
}

function parseAddr(s: string): Addr | string {
  if (s.includes('%')) return `IP address with zone value is not allowed: ${s}`;
  const v4 = parseV4(s);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseV6(s);
  if (!v6) return `ParseAddr(${JSON.stringify(s)}): unable to parse IP`;
  if (v6.slice(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff) return `IPv4-mapped IPv6 address is not allowed: ${s}`;
  return { family: 6, bytes: v6 };
}

function parseV4(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.map(Number);
}

function parseV6(s: string): number[] | undefined {
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseV4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return undefined;
  const words = [...head, ...Array<number>(Math.max(missing, 0)).fill(0), ...tail];
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

/** Go's `netip.Addr.String()`: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run as ::). */
function formatAddr(a: Addr): string {
  if (a.family === 4) return a.bytes.join('.');
  const words = Array.from({ length: 8 }, (_, i) => (a.bytes[2 * i]! << 8) | a.bytes[2 * i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function parsePrefix(s: string): { addr: Addr; bits: number } | string {
  const slash = s.lastIndexOf('/');
  if (slash < 0) return `network address parse error during conversion from string: netip.ParsePrefix(${JSON.stringify(s)}): no '/'`;
  const addr = parseAddr(s.slice(0, slash));
  if (typeof addr === 'string') return addr;
  const bitsText = s.slice(slash + 1);
  const max = addr.family === 4 ? 32 : 128;
  if (!/^(0|[1-9][0-9]*)$/.test(bitsText) || Number(bitsText) > max) return `netip.ParsePrefix(${JSON.stringify(s)}): bad bits after slash: ${JSON.stringify(bitsText)}`;
  return { addr, bits: Number(bitsText) };
}

function masked(a: Addr, bits: number): Addr {
  return { family: a.family, bytes: a.bytes.map((b, i) => (i * 8 >= bits ? 0 : i * 8 + 8 <= bits ? b : b & (0xff << (8 - (bits - i * 8))) & 0xff)) };
}

function ipValue(a: Addr): CelMap {
  return new Map<string, unknown>([[IP_MARK, true], ['text', formatAddr(a)]]) as unknown as CelMap;
}

function cidrValue(a: Addr, bits: number): CelMap {
  return new Map<string, unknown>([[CIDR_MARK, true], ['text', `${formatAddr(a)}/${bits}`]]) as unknown as CelMap;
}

function addrOf(m: CelMap): Addr {
  if (m.get(IP_MARK) !== true) throw new Error('no such overload: not an IP value');
  const a = parseAddr(String(m.get('text')));
  if (typeof a === 'string') throw new Error(a);
  return a;
}

function prefixOf(m: CelMap): { addr: Addr; bits: number } {
  if (m.get(CIDR_MARK) !== true) throw new Error('no such overload: not a CIDR value');
  const p = parsePrefix(String(m.get('text')));
  if (typeof p === 'string') throw new Error(p);
  return p;
}

function must<T>(v: T | string, what: string): T {
  if (typeof v === 'string') throw new Error(`${what} parse error during conversion from string: ${v}`);
  return v;
}

function contains(p: { addr: Addr; bits: number }, a: Addr): boolean {
  if (p.addr.family !== a.family) return false;
  const x = masked(a, p.bits).bytes;
  return masked(p.addr, p.bits).bytes.every((b, i) => b === x[i]);
}

const inRange = (a: Addr, v4: [number[], number], v6: [number[], number]) => {
  const [net, bits] = a.family === 4 ? v4 : v6;
  return contains({ addr: { family: a.family, bytes: [...net, ...Array<number>((a.family === 4 ? 4 : 16) - net.length).fill(0)] }, bits }, a);
};

const ipMethod = (name: string, f: (a: Addr) => boolean) => celMethod(name, NET_TYPE, [], CelScalar.BOOL, function () { return f(addrOf(this)); });
const isZero = (a: Addr) => a.bytes.every((b) => b === 0);
const isLoopback = (a: Addr) => inRange(a, [[127], 8], [[...Array<number>(15).fill(0), 1], 128]);
const isMulticast = (a: Addr) => inRange(a, [[224], 4], [[0xff], 8]);
const isLinkLocalUnicast = (a: Addr) => inRange(a, [[169, 254], 16], [[0xfe, 0x80], 10]);

/** The IP and CIDR functions, for the CEL environment. */
export const netCelFunctions: CelFunc[] = [
  celFunc('isIP', [CelScalar.STRING], CelScalar.BOOL, (s) => typeof parseAddr(s) !== 'string'),
  celFunc('ip', [CelScalar.STRING], NET_TYPE, (s) => ipValue(must(parseAddr(s), `IP Address ${JSON.stringify(s)}`))),
  celFunc('ip.isCanonical', [CelScalar.STRING], CelScalar.BOOL, (s) => formatAddr(must(parseAddr(s), `IP Address ${JSON.stringify(s)}`)) === s),
  celMethod('family', NET_TYPE, [], CelScalar.INT, function () { return BigInt(addrOf(this).family); }),
  ipMethod('isUnspecified', isZero),
  ipMethod('isLoopback', isLoopback),
  ipMethod('isLinkLocalMulticast', (a) => inRange(a, [[224, 0, 0], 24], [[0xff, 0x02], 16])),
  ipMethod('isLinkLocalUnicast', isLinkLocalUnicast),
  ipMethod('isGlobalUnicast', (a) => !isZero(a) && !isLoopback(a) && !isMulticast(a) && !isLinkLocalUnicast(a) && !(a.family === 4 && a.bytes.every((b) => b === 255))),
  celFunc('isCIDR', [CelScalar.STRING], CelScalar.BOOL, (s) => typeof parsePrefix(s) !== 'string'),
  celFunc('cidr', [CelScalar.STRING], NET_TYPE, (s) => {
    const p = must(parsePrefix(s), `network address ${JSON.stringify(s)}`);
    return cidrValue(p.addr, p.bits);
  }),
  celMethod('containsIP', NET_TYPE, [CelScalar.STRING], CelScalar.BOOL, function (s) { return contains(prefixOf(this), must(parseAddr(s), `IP Address ${JSON.stringify(s)}`)); }),
  celMethod('containsIP', NET_TYPE, [NET_TYPE], CelScalar.BOOL, function (ip) { return contains(prefixOf(this), addrOf(ip)); }),
  celMethod('containsCIDR', NET_TYPE, [CelScalar.STRING], CelScalar.BOOL, function (s) {
    const inner = must(parsePrefix(s), `network address ${JSON.stringify(s)}`);
    const outer = prefixOf(this);
    return inner.bits >= outer.bits && contains(outer, inner.addr);
  }),
  celMethod('containsCIDR', NET_TYPE, [NET_TYPE], CelScalar.BOOL, function (c) {
    const inner = prefixOf(c);
    const outer = prefixOf(this);
    return inner.bits >= outer.bits && contains(outer, inner.addr);
  }),
  celMethod('ip', NET_TYPE, [], NET_TYPE, function () { return ipValue(prefixOf(this).addr); }),
  celMethod('masked', NET_TYPE, [], NET_TYPE, function () {
    const p = prefixOf(this);
    return cidrValue(masked(p.addr, p.bits), p.bits);
  }),
  celMethod('prefixLength', NET_TYPE, [], CelScalar.INT, function () { return BigInt(prefixOf(this).bits); }),
  celFunc('string', [NET_TYPE], CelScalar.STRING, (m) => {
    if (m.get(IP_MARK) !== true && m.get(CIDR_MARK) !== true) throw new Error('no such overload: string(map)');
    return String(m.get('text'));
  }),
];
