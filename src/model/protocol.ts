/**
 * Protocol selection as Istio does it (https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/):
 * Kubernetes `appProtocol` first, then the port-name prefix (`http-`, `grpc-web`, `tcp-` ...,
 * the name alone or `<proto>-<suffix>`), else the port is sniffed (`Unsupported`).
 */
import type { Protocol } from './service.js';

const BY_NAME: Record<string, Protocol> = {
  http: 'HTTP', http2: 'HTTP2', grpc: 'GRPC', 'grpc-web': 'GRPC-Web', https: 'HTTPS', tls: 'TLS', tcp: 'TCP',
  mongo: 'Mongo', redis: 'Redis', mysql: 'MySQL', udp: 'UDP',
};

/** Istio protocol from a name (`HTTP`, `grpc`, `h2c` ...); Unsupported when unknown. */
export function parseProtocol(s: string | undefined): Protocol {
  if (!s) return 'Unsupported';
  const l = s.toLowerCase();
  // appProtocol also takes Kubernetes' standard names.
  if (l === 'kubernetes.io/h2c' || l === 'h2c') return 'HTTP2';
  if (l === 'kubernetes.io/ws' || l === 'kubernetes.io/wss') return 'HTTP';
  return BY_NAME[l] ?? 'Unsupported';
}

/** Protocol of a Kubernetes service port (UDP ports are UDP whatever their name). */
export function kubePortProtocol(name: string | undefined, appProtocol: string | undefined, l4: string | undefined): Protocol {
  if (l4 === 'UDP') return 'UDP';
  if (l4 === 'SCTP') return 'Unsupported';
  const fromApp = parseProtocol(appProtocol);
  if (fromApp !== 'Unsupported') return fromApp;
  return protocolFromPortName(name);
}

/** `http-web` → HTTP, `grpc-web-x` → GRPC-Web, `web` → Unsupported. */
export function protocolFromPortName(name: string | undefined): Protocol {
  if (!name) return 'Unsupported';
  const l = name.toLowerCase();
  if (l === 'grpc-web' || l.startsWith('grpc-web-')) return 'GRPC-Web';
  const i = l.indexOf('-');
  return parseProtocol(i < 0 ? l : l.slice(0, i));
}

export const isHTTP = (p: Protocol): boolean => p === 'HTTP' || p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-Web';
/** Protocols that take a plain TCP proxy (TLS is routed by SNI, which is still TCP proxying). */
export const isTCP = (p: Protocol): boolean => p === 'TCP' || p === 'HTTPS' || p === 'TLS' || p === 'Mongo' || p === 'Redis' || p === 'MySQL';
export const isHTTP2 = (p: Protocol): boolean => p === 'HTTP2' || p === 'GRPC';
