/**
 * Which outbound listeners a sidecar gets, and which services each carries (Istio:
 * buildSidecarOutboundListeners). LDS builds the listeners from this plan and RDS the route
 * tables it names, so the two always agree:
 *
 * - an HTTP service port p → `0.0.0.0_p`, shared by every HTTP service on p, route table `p`;
 * - a TCP (or TLS, Mongo ...) port with a VIP → `<vip>_p` with tcp_proxy; without a VIP →
 *   `0.0.0.0_p`, chains told apart by SNI (TLS) or a single default chain;
 * - an unnamed port (auto-detect) → `<vip>_p` sniffing HTTP vs TCP, route table `<host>:p`
 *   (or `0.0.0.0_p` with route table `p` when there is no VIP).
 * Sidecar egress listeners with a port add explicit listeners that bind (captureMode NONE, bind).
 * When the proxy has no traffic capture, listeners bind to 127.0.0.1 instead of relying on 15001.
 */
import type { Proxy } from '../../model/proxy.js';
import type { PushContext } from '../../model/push-context.js';
import { parseScopedHost, scopedMatches } from '../../model/push-context.js';
import { isHTTP, parseProtocol } from '../../model/protocol.js';
import { listenerName, WildcardAddress } from '../../model/naming.js';
import type { Protocol, Service, ServicePort } from '../../model/service.js';

export type ListenerKind = 'http' | 'tcp' | 'auto';

export interface PlannedService {
  service: Service;
  port: ServicePort;
  /** A ServiceEntry address that is a CIDR range: the chain matches destinations in it. */
  cidr?: string;
}

export interface OutboundListenerPlan {
  name: string;
  bind: string;
  port: number;
  kind: ListenerKind;
  /** Route table name for the HTTP chain (http and auto listeners). */
  routeName?: string;
  /** Services whose HTTP traffic this listener carries (virtual hosts of routeName). */
  http: PlannedService[];
  /** Services whose TCP traffic this listener carries. */
  tcp: PlannedService[];
  bindToPort: boolean;
}

const kindOf = (p: Protocol): ListenerKind => (isHTTP(p) ? 'http' : p === 'Unsupported' ? 'auto' : 'tcp');

export function outboundListenerPlan(proxy: Proxy, push: PushContext): OutboundListenerPlan[] {
  const plans = new Map<string, OutboundListenerPlan>();
  const noCapture = proxy.interceptionMode === 'NONE';
  const defaultBind = noCapture ? '127.0.0.1' : WildcardAddress;
  const add = (bind: string, port: number, kind: ListenerKind, ps: PlannedService, routeName: string | undefined, bindToPort: boolean) => {
    const name = listenerName(bind, port);
    let p = plans.get(name);
    if (!p) {
      p = { name, bind, port, kind, routeName, http: [], tcp: [], bindToPort };
      plans.set(name, p);
    } else if (p.kind !== kind) {
      // HTTP and TCP services share a port without VIPs: sniff, as Istio does for such conflicts.
      p.kind = 'auto';
      p.routeName ??= routeName ?? String(port);
    }
    if (kind === 'http' || kind === 'auto') p.http.push(ps);
    if (kind === 'tcp' || kind === 'auto') p.tcp.push(ps);
  };

  const sidecar = push.sidecarFor(proxy);
  const explicit = (sidecar?.spec.egress ?? []).filter((e) => e.port?.number);
  const services = push.servicesFor(proxy);
  for (const e of explicit) {
    const port = e.port!.number!;
    const bind = e.bind ?? (e.captureMode === 'NONE' || noCapture ? '127.0.0.1' : WildcardAddress);
    const bindToPort = e.captureMode === 'NONE' || noCapture || !!e.bind;
    const hosts = (e.hosts ?? []).map((h) => parseScopedHost(h, sidecar!.namespace));
    const proto = parseProtocol(e.port!.protocol);
    const kind = kindOf(proto === 'Unsupported' ? 'HTTP' : proto);
    for (const svc of services) {
      if (!hosts.some((h) => scopedMatches(h, svc.namespace, svc.hostname))) continue;
      const sp = svc.ports.find((p) => p.port === port) ?? svc.ports[0];
      if (!sp) continue;
      add(bind, port, kind, { service: svc, port: sp }, kind === 'http' ? String(port) : undefined, bindToPort);
    }
    if (!plans.has(listenerName(bind, port))) plans.set(listenerName(bind, port), { name: listenerName(bind, port), bind, port, kind, routeName: kind === 'http' ? String(port) : undefined, http: [], tcp: [], bindToPort });
  }
  const explicitPorts = new Set(explicit.map((e) => e.port!.number!));

  for (const svc of services) {
    for (const sp of svc.ports) {
      if (sp.protocol === 'UDP' || explicitPorts.has(sp.port)) continue;
      const kind = kindOf(sp.protocol);
      const addr = noCapture ? undefined : svc.addresses[0];
      // A ServiceEntry address may be a CIDR: a /32 is a VIP; a wider range matches on the wildcard listener.
      const vip = addr?.endsWith('/32') ? addr.slice(0, -3) : addr?.includes('/') ? undefined : addr;
      const cidr = addr?.includes('/') && !vip ? addr : undefined;
      const ps: PlannedService = cidr ? { service: svc, port: sp, cidr } : { service: svc, port: sp };
      if (kind === 'http') add(defaultBind, sp.port, 'http', ps, String(sp.port), noCapture);
      else if (vip) add(vip, sp.port, kind, ps, kind === 'auto' ? `${svc.hostname}:${sp.port}` : undefined, false);
      else add(defaultBind, sp.port, kind, ps, kind === 'auto' ? String(sp.port) : undefined, noCapture);
    }
  }
  return [...plans.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
