/**
 * Istio's names for Envoy resources, which users know from istioctl proxy-config:
 * `outbound|9080|v1|reviews.default.svc.cluster.local`, `inbound|9080||`, listener `0.0.0.0_9080`,
 * route `9080`, virtual host `reviews.default.svc.cluster.local:9080`.
 */

export const PassthroughCluster = 'PassthroughCluster';
export const BlackHoleCluster = 'BlackHoleCluster';
export const InboundPassthroughCluster = 'InboundPassthroughCluster';
export const VirtualOutboundListener = 'virtualOutbound';
export const VirtualInboundListener = 'virtualInbound';
export const OutboundCapturePort = 15001;
export const InboundCapturePort = 15006;
/** The cluster the bootstrap defines for SDS (the agent's UDS). */
export const SdsCluster = 'sds-grpc';
export const WildcardAddress = '0.0.0.0';

export function outboundClusterName(port: number, subset: string, host: string): string {
  return `outbound|${port}|${subset}|${host}`;
}

export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

export interface ParsedClusterName {
  direction: 'outbound' | 'inbound';
  port: number;
  subset: string;
  host: string;
}

/** Parses `outbound|9080|v1|reviews...`; undefined for other names. */
export function parseClusterName(name: string): ParsedClusterName | undefined {
  const parts = name.split('|');
  if (parts.length !== 4 || (parts[0] !== 'outbound' && parts[0] !== 'inbound')) return undefined;
  const port = Number(parts[1]);
  if (!Number.isInteger(port)) return undefined;
  return { direction: parts[0], port, subset: parts[2], host: parts[3] };
}

export function listenerName(address: string, port: number): string {
  return `${address}_${port}`;
}

export function virtualHostName(host: string, port: number): string {
  return `${host}:${port}`;
}

/**
 * Every name a client in `proxyNamespace` may use for a service (Istio's generateVirtualHostDomains):
 * the FQDN, `reviews.default.svc`, `reviews.default`, `reviews` (only from the same namespace) and
 * the VIPs. No `:port` forms: route tables set ignore_port_in_host_matching, as Istio does.
 */
export function virtualHostDomains(host: string, vips: readonly string[], proxyNamespace: string, dnsDomain: string): string[] {
  const names = [host];
  const suffix = `.svc.${dnsDomain}`;
  if (host.endsWith(suffix)) {
    const base = host.slice(0, -suffix.length); // reviews.default
    const dot = base.lastIndexOf('.');
    const ns = dot < 0 ? '' : base.slice(dot + 1);
    if (ns === proxyNamespace) names.push(base.slice(0, dot));
    names.push(`${base}.svc`, base);
  }
  for (const v of vips) if (!v.includes('/')) names.push(v.includes(':') ? `[${v}]` : v);
  return names;
}
