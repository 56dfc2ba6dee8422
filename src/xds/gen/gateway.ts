/**
 * Router (ingress/egress gateway) listeners and route tables from Gateway resources (Istio:
 * gateway.go). Servers of every Gateway selecting the proxy are grouped by port into
 * `0.0.0.0_<port>` listeners (the port the gateway Service targets):
 * - HTTP servers → one HCM with RDS `http.<port>`;
 * - HTTPS/TLS servers that terminate (SIMPLE, MUTUAL, OPTIONAL_MUTUAL) → a chain per server
 *   matched by SNI with its DownstreamTlsContext (certificates by SDS `kubernetes://<credentialName>`),
 *   HCM with RDS `https.<port>.<portName>.<gateway>.<namespace>`;
 * - TLS PASSTHROUGH → chains by SNI from VirtualService `tls` routes; AUTO_PASSTHROUGH → the
 *   SNI names the cluster (sni_cluster);
 * - TCP servers → tcp_proxy from VirtualService `tcp` routes.
 */
import type { Server, TCPRoute, TLSRoute } from '../../api/types.js';
import type { Proxy } from '../../model/proxy.js';
import type { GatewayConfig, PushContext, VirtualServiceConfig } from '../../model/push-context.js';
import { hostsOverlap, hostMatches } from '../../model/host.js';
import { BlackHoleCluster, listenerName, WildcardAddress } from '../../model/naming.js';
import { parseProtocol } from '../../model/protocol.js';
import { selectorMatches } from '../../model/service.js';
import type { EnvoyJson } from '../codec.js';
import { Ext, tlsInspector, weightedTcpProxyFilter } from './common.js';
import { httpConnectionManager } from './http-connection-manager.js';
import { destinationCluster, routesForVirtualService, type RouteContext } from './route/translate.js';
import { isCatchAll, matchAppliesTo } from './route/match.js';
import { MAX_DIRECT_RESPONSE_BODY } from './common.js';
import { gatewayTlsContext } from './tls.js';

export interface GatewayServer {
  gateway: GatewayConfig;
  /** `namespace/name`. */
  gatewayName: string;
  server: Server;
}

export interface GatewayPort {
  /** The first server's Gateway port number (what clients of the gateway Service use). */
  port: number;
  /** The address the listener binds (a server's `bind`, else 0.0.0.0). */
  bind: string;
  /** The port the proxy listens on. */
  listenPort: number;
  servers: GatewayServer[];
}

/** A server whose TLS the gateway terminates (an HTTP server's `tls` only carries httpsRedirect). */
const terminates = (s: Server) => {
  const p = parseProtocol(s.port.protocol);
  if (!s.tls || (p !== 'HTTPS' && p !== 'TLS')) return false;
  return s.tls.mode === 'SIMPLE' || s.tls.mode === 'MUTUAL' || s.tls.mode === 'OPTIONAL_MUTUAL' || s.tls.mode === 'ISTIO_MUTUAL' || s.tls.mode === undefined;
};
const isHttpServer = (s: Server) => {
  const p = parseProtocol(s.port.protocol);
  return p === 'HTTP' || p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-Web' || (p === 'HTTPS' && terminates(s));
};

export function gatewayPorts(proxy: Proxy, push: PushContext): GatewayPort[] {
  const byPort = new Map<string, GatewayPort>();
  for (const gw of push.gatewaysFor(proxy)) {
    for (const server of gw.spec.servers ?? []) {
      // Validation rejects a server without a port; generation skips it rather than fail the proxy.
      if (!server?.port?.number) continue;
      const port = server.port.number;
      const bind = server.bind ?? WildcardAddress;
      // Servers meet on the port the proxy listens on: Gateway ports 80 and 8080 may both target 8080.
      const listenPort = listenPortFor(proxy, push, port, server.port.targetPort);
      let gp = byPort.get(`${bind}:${listenPort}`);
      if (!gp) {
        gp = { port, bind, listenPort, servers: [] };
        byPort.set(`${bind}:${listenPort}`, gp);
      }
      gp.servers.push({ gateway: gw, gatewayName: `${gw.namespace}/${gw.name}`, server });
    }
  }
  return [...byPort.values()].sort((a, b) => a.listenPort - b.listenPort || (a.bind < b.bind ? -1 : 1));
}

/** Gateway port → the container port, through the Service that selects the gateway pods. */
function listenPortFor(proxy: Proxy, push: PushContext, port: number, targetPort: number | undefined): number {
  for (const s of push.services) {
    if (!selectorMatches(s.selector, proxy.labels)) continue;
    const sp = s.ports.find((p) => p.port === port);
    if (sp?.targetPort) return sp.targetPort;
  }
  return targetPort ?? port;
}

/** `http.8080` for plaintext HTTP; `https.443.https.bookinfo-gateway.default` for a terminating server. */
export function gatewayRouteName(gs: GatewayServer, listenPort: number): string {
  if (!terminates(gs.server)) return `http.${listenPort}`;
  return `https.${gs.server.port.number}.${gs.server.port.name}.${gs.gateway.name}.${gs.gateway.namespace}`;
}

/** Server host `ns/host` → {ns, host}; `*` namespace when none given. */
function serverHost(h: string): { ns: string; host: string } {
  const i = h.indexOf('/');
  return i < 0 ? { ns: '*', host: h } : { ns: h.slice(0, i), host: h.slice(i + 1) };
}

function serverHostsFor(gs: GatewayServer, vs: VirtualServiceConfig): string[] {
  const out: string[] = [];
  for (const sh of gs.server.hosts ?? []) {
    const { ns, host } = serverHost(sh);
    const nsOk = ns === '*' || (ns === '.' ? vs.namespace === gs.gateway.namespace : ns === vs.namespace);
    if (!nsOk) continue;
    for (const vh of vs.hosts) {
      // The more specific of the two names the virtual host.
      if (hostMatches(host, vh)) out.push(vh);
      else if (hostMatches(vh, host)) out.push(host);
    }
  }
  return [...new Set(out)];
}

/** VirtualServices bound to the server's gateway, exported to its namespace, with an overlapping host. */
function virtualServicesForServer(push: PushContext, gs: GatewayServer): VirtualServiceConfig[] {
  return push.virtualServicesFor(gs.gateway.namespace, [gs.gatewayName]).filter((vs) => (gs.server.hosts ?? []).some((h) => vs.hosts.some((vh) => hostsOverlap(serverHost(h).host, vh))));
}

export function gatewayRouteConfigs(proxy: Proxy, push: PushContext): EnvoyJson[] {
  const tables = new Map<string, { servers: GatewayServer[]; port: GatewayPort }>();
  for (const gp of gatewayPorts(proxy, push)) {
    for (const gs of gp.servers) {
      if (!isHttpServer(gs.server)) continue;
      const name = gatewayRouteName(gs, gp.listenPort);
      const t = tables.get(name) ?? { servers: [], port: gp };
      t.servers.push(gs);
      tables.set(name, t);
    }
  }
  const out: EnvoyJson[] = [];
  for (const [name, t] of tables) {
    // Keyed by host: servers on Gateway ports 80 and 8080 that share the listener share its domains.
    const vhosts = new Map<string, { name: string; domains: string[]; routes: EnvoyJson[]; redirect: boolean }>();
    for (const gs of t.servers) {
      const ctx: RouteContext = { proxy, push, port: gs.server.port.number, gateways: [gs.gatewayName], isTLS: terminates(gs.server) };
      for (const vs of virtualServicesForServer(push, gs)) {
        const routes = routesForVirtualService(ctx, vs);
        for (const host of serverHostsFor(gs, vs)) {
          const key = host;
          const vh = vhosts.get(key) ?? { name: `${host}:${gs.server.port.number}`, domains: [host], routes: [], redirect: false };
          vh.routes.push(...routes);
          vh.redirect ||= !!gs.server.tls?.httpsRedirect;
          vhosts.set(key, vh);
        }
      }
      if (gs.server.tls?.httpsRedirect) {
        for (const h of gs.server.hosts ?? []) {
          const host = serverHost(h).host;
          if (!vhosts.has(host)) vhosts.set(host, { name: `${host}:${gs.server.port.number}`, domains: [host], routes: [], redirect: true });
        }
      }
    }
    const virtual_hosts: EnvoyJson[] = [];
    const seen = new Set<string>();
    for (const [, vh] of [...vhosts].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const domains = vh.domains.filter((d) => !seen.has(d));
      if (!domains.length) continue;
      domains.forEach((d) => seen.add(d));
      // Routes merged from several VirtualServices: catch-alls last, else they would shadow the rest (Istio's SortVHostRoutes).
      const routes = [...vh.routes.filter((r) => !isCatchAll(r.match as EnvoyJson)), ...vh.routes.filter((r) => isCatchAll(r.match as EnvoyJson))];
      const v: Record<string, unknown> = { name: vh.name, domains, routes, include_request_attempt_count: true };
      if (vh.redirect) v.require_tls = 'ALL';
      if (vh.routes.length === 0 && !vh.redirect) continue;
      virtual_hosts.push(v as EnvoyJson);
    }
    if (virtual_hosts.length === 0) {
      virtual_hosts.push({ name: `blackhole:${t.port.port}`, domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, direct_response: { status: 404 } }] });
    }
    out.push({ name, virtual_hosts, validate_clusters: false, max_direct_response_body_size_bytes: MAX_DIRECT_RESPONSE_BODY, ignore_port_in_host_matching: true });
  }
  return out;
}

/** The first tcp/tls route of a gateway-bound VirtualService that applies to this server. */
function l4Routes(push: PushContext, proxy: Proxy, gs: GatewayServer, port: number, kind: 'tcp' | 'tls'): { vs: VirtualServiceConfig; route: TCPRoute | TLSRoute }[] {
  const out: { vs: VirtualServiceConfig; route: TCPRoute | TLSRoute }[] = [];
  for (const vs of virtualServicesForServer(push, gs)) {
    for (const r of (kind === 'tcp' ? vs.spec.tcp : vs.spec.tls) ?? []) {
      const matches = r.match?.length ? r.match : [undefined];
      if (matches.some((m) => matchAppliesTo(m, proxy, port, [gs.gatewayName], vs.namespace))) out.push({ vs, route: r });
    }
  }
  return out;
}

function tcpFilter(proxy: Proxy, push: PushContext, port: number, vs: VirtualServiceConfig, route: TCPRoute | TLSRoute, stat: string): EnvoyJson | undefined {
  const ctx: RouteContext = { proxy, push, port, gateways: [] };
  const dests = (route.route ?? []).filter((d, _i, all) => all.length === 1 || (d.weight ?? 0) > 0);
  if (!dests.length) return undefined;
  return weightedTcpProxyFilter(stat, dests.map((d) => ({ name: destinationCluster(ctx, d.destination, vs.namespace), weight: d.weight ?? 100 })));
}

export function gatewayListeners(proxy: Proxy, push: PushContext): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  for (const gp of gatewayPorts(proxy, push)) {
    const name = listenerName(gp.bind, gp.listenPort);
    const stat = `outbound_${name}`;
    const chains: EnvoyJson[] = [];
    const used = new Set<string>();
    let needsTls = false;
    const push1 = (match: EnvoyJson | undefined, chain: Record<string, unknown>) => {
      const key = JSON.stringify(match ?? {});
      if (used.has(key)) return;
      used.add(key);
      if (match && Object.keys(match).length) chain.filter_chain_match = match;
      chains.push(chain as EnvoyJson);
    };
    for (const gs of gp.servers) {
      const s = gs.server;
      const hosts = (s.hosts ?? []).map((h) => serverHost(h).host);
      const sni = hosts.includes('*') ? undefined : hosts;
      if (isHttpServer(s)) {
        const hcm = httpConnectionManager({ proxy, push, direction: 'gateway', statPrefix: stat, rds: gatewayRouteName(gs, gp.listenPort), protocol: parseProtocol(s.port.protocol) });
        if (s.tls && terminates(s)) {
          needsTls = true;
          push1(sni ? { server_names: sni } : undefined, { filters: [hcm], transport_socket: gatewayTlsContext(s.tls, ['h2', 'http/1.1']), name: `${gs.gatewayName}/${s.port.name}` });
        } else {
          push1(undefined, { filters: [hcm] });
        }
        continue;
      }
      const proto = parseProtocol(s.port.protocol);
      if (s.tls?.mode === 'AUTO_PASSTHROUGH') {
        needsTls = true;
        push1(sni ? { server_names: sni } : undefined, {
          filters: [{ name: 'envoy.filters.network.sni_cluster', typed_config: { '@type': Ext.SniCluster } }, weightedTcpProxyFilter(stat, [{ name: BlackHoleCluster, weight: 100 }])],
        });
        continue;
      }
      if (s.tls?.mode === 'PASSTHROUGH' || ((proto === 'TLS' || proto === 'HTTPS') && !s.tls)) {
        needsTls = true;
        for (const { vs, route } of l4Routes(push, proxy, gs, s.port.number, 'tls')) {
          const sniHosts = ((route as TLSRoute).match ?? []).flatMap((m) => m.sniHosts ?? []);
          const f = tcpFilter(proxy, push, s.port.number, vs, route, stat);
          if (f) push1(sniHosts.length ? { server_names: sniHosts } : undefined, { filters: [f] });
        }
        continue;
      }
      // TCP, or TLS terminated then proxied as TCP.
      const first = l4Routes(push, proxy, gs, s.port.number, 'tcp')[0];
      const f = first && tcpFilter(proxy, push, s.port.number, first.vs, first.route, stat);
      if (!f) continue;
      if (s.tls && terminates(s)) {
        needsTls = true;
        push1(sni ? { server_names: sni } : undefined, { filters: [f], transport_socket: gatewayTlsContext(s.tls, []) });
      } else {
        push1(undefined, { filters: [f] });
      }
    }
    if (chains.length === 0) continue;
    const l: Record<string, unknown> = { name, address: { socket_address: { address: gp.bind, port_value: gp.listenPort } } };
    if (needsTls) l.listener_filters = [tlsInspector()];
    l.filter_chains = chains;
    l.traffic_direction = 'OUTBOUND';
    out.push(l as EnvoyJson);
  }
  return out;
}
