/**
 * Ports and protocols: port numbers (1..65535), port names (DNS-1123 labels) and Istio's protocol
 * names (`protocol.Parse`: HTTP, HTTP2, GRPC, GRPC-WEB, HTTPS, TLS, TCP, UDP, MONGO, REDIS, MYSQL,
 * HTTP_PROXY — case-insensitive), with the classes the rules ask about (is it HTTP? TLS? TCP?).
 */
import { isDNS1123Label } from './hosts.js';

export type Protocol = 'GRPC' | 'GRPC-Web' | 'HTTP' | 'HTTP_PROXY' | 'HTTP2' | 'HTTPS' | 'TCP' | 'TLS' | 'UDP' | 'Mongo' | 'Redis' | 'MySQL' | 'Unsupported';

const PROTOCOLS: Record<string, Protocol> = {
  tcp: 'TCP', udp: 'UDP', grpc: 'GRPC', 'grpc-web': 'GRPC-Web', http: 'HTTP', http_proxy: 'HTTP_PROXY', http2: 'HTTP2',
  https: 'HTTPS', tls: 'TLS', mongo: 'Mongo', redis: 'Redis', mysql: 'MySQL',
};

/** Istio's protocol.Parse (unknown names are 'Unsupported'). */
export function parseProtocol(s: string): Protocol {
  return PROTOCOLS[s.toLowerCase()] ?? 'Unsupported';
}

export function isHTTP(p: Protocol): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'HTTP_PROXY' || p === 'GRPC' || p === 'GRPC-Web';
}

export function isTLS(p: Protocol): boolean {
  return p === 'HTTPS' || p === 'TLS';
}

export function isTCP(p: Protocol): boolean {
  return p === 'TCP' || p === 'HTTPS' || p === 'TLS' || p === 'Mongo' || p === 'Redis' || p === 'MySQL';
}

/** `port number N must be in the range 1..65535` unless it is. */
export function validatePort(port: number): string | undefined {
  if (Number.isInteger(port) && port >= 1 && port <= 65535) return undefined;
  return `port number ${port} must be in the range 1..65535`;
}

export function validatePortName(name: string): string | undefined {
  return isDNS1123Label(name) ? undefined : `invalid port name: ${name}`;
}

/** An empty protocol is fine (sniffed); an unknown one is not. */
export function validateProtocol(protocol: string): string | undefined {
  if (protocol !== '' && parseProtocol(protocol) === 'Unsupported') return `unsupported protocol: ${protocol}`;
  return undefined;
}
