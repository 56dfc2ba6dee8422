/**
 * envoy.config.listener.v3.FilterChainMatch and Envoy's selection rule: criteria are checked in a
 * fixed order (destination port, destination IP, server name, transport protocol, application
 * protocols, direct source IP, source type, source IP, source port); at each step the chains that
 * name the most specific matching value survive, or, if none names a matching value, the chains that
 * do not constrain that criterion.
 */
import { Fields } from '../config/fields.js';
import { longestMatch, readCidr, type Cidr } from './cidr.js';

export interface ChainMatch {
  destinationPort?: number;
  prefixRanges: Cidr[];
  directSourcePrefixRanges: Cidr[];
  sourceType: 'ANY' | 'SAME_IP_OR_LOOPBACK' | 'EXTERNAL';
  sourcePrefixRanges: Cidr[];
  sourcePorts: number[];
  serverNames: string[];
  transportProtocol: string;
  applicationProtocols: string[];
}

export interface ConnectionFacts {
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  directRemoteIp: string;
  sni: string;
  transportProtocol: string;
  alpn: string[];
}

export function readChainMatch(f: Fields | undefined): ChainMatch {
  const m: ChainMatch = { prefixRanges: [], directSourcePrefixRanges: [], sourceType: 'ANY', sourcePrefixRanges: [], sourcePorts: [], serverNames: [], transportProtocol: '', applicationProtocols: [] };
  if (!f) return m;
  if (f.has('destination_port')) m.destinationPort = f.num('destination_port');
  m.prefixRanges = f.list('prefix_ranges').map(readCidr).filter((x): x is Cidr => !!x);
  m.directSourcePrefixRanges = f.list('direct_source_prefix_ranges').map(readCidr).filter((x): x is Cidr => !!x);
  m.sourceType = f.enumOf('source_type', ['ANY', 'SAME_IP_OR_LOOPBACK', 'EXTERNAL'] as const, 'ANY');
  m.sourcePrefixRanges = f.list('source_prefix_ranges').map(readCidr).filter((x): x is Cidr => !!x);
  m.sourcePorts = (f.raw('source_ports') as number[] | undefined) ?? [];
  m.serverNames = f.strList('server_names').map((s) => s.toLowerCase());
  m.transportProtocol = f.str('transport_protocol');
  m.applicationProtocols = f.strList('application_protocols');
  f.unsupported('address_suffix', 'not supported by spar proxy (as in Envoy, reserved)');
  f.unsupported('suffix_len', 'not supported by spar proxy (as in Envoy, reserved)');
  f.done();
  return m;
}

function isLoopbackOrSame(remote: string, local: string): boolean {
  return remote === local || remote.startsWith('127.') || remote === '::1' || remote.startsWith('::ffff:127.');
}

function sniScore(names: string[], sni: string): number {
  let best = -1;
  for (const n of names) {
    if (n === sni) return 1000;
    if (n.startsWith('*.') && sni.endsWith(n.slice(1)) && n.length > best) best = n.length;
  }
  return best;
}

type Stage<T> = (c: T) => number | undefined; // undefined: wildcard; -1: no match; >=0: specificity

function narrow<T>(cands: T[], stage: Stage<T>): T[] {
  let best = -1;
  const scored = cands.map((c) => {
    const s = stage(c);
    if (s !== undefined && s > best) best = s;
    return s;
  });
  if (best >= 0) return cands.filter((_, i) => scored[i] === best);
  return cands.filter((_, i) => scored[i] === undefined);
}

/** Envoy's filter chain selection over chains with their matches; undefined when none matches. */
export function selectChain<T extends { match: ChainMatch }>(chains: T[], c: ConnectionFacts): T | undefined {
  let cs = chains;
  const steps: Stage<T>[] = [
    (x) => (x.match.destinationPort === undefined ? undefined : x.match.destinationPort === c.localPort ? 0 : -1),
    (x) => (x.match.prefixRanges.length ? longestMatch(x.match.prefixRanges, c.localIp) : undefined),
    (x) => (x.match.serverNames.length ? sniScore(x.match.serverNames, c.sni) : undefined),
    (x) => (x.match.transportProtocol ? (x.match.transportProtocol === c.transportProtocol ? 0 : -1) : undefined),
    (x) => (x.match.applicationProtocols.length ? (x.match.applicationProtocols.some((p) => c.alpn.includes(p)) ? 0 : -1) : undefined),
    (x) => (x.match.directSourcePrefixRanges.length ? longestMatch(x.match.directSourcePrefixRanges, c.directRemoteIp) : undefined),
    (x) => {
      const t = x.match.sourceType;
      if (t === 'ANY') return undefined;
      const local = isLoopbackOrSame(c.remoteIp, c.localIp);
      return (t === 'SAME_IP_OR_LOOPBACK') === local ? 0 : -1;
    },
    (x) => (x.match.sourcePrefixRanges.length ? longestMatch(x.match.sourcePrefixRanges, c.remoteIp) : undefined),
    (x) => (x.match.sourcePorts.length ? (x.match.sourcePorts.includes(c.remotePort) ? 0 : -1) : undefined),
  ];
  for (const st of steps) {
    cs = narrow(cs, st);
    if (cs.length === 0) return undefined;
  }
  return cs[0];
}
