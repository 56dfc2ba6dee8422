/**
 * Sidecar outbound listeners (Istio: listener.go buildSidecarOutboundListeners) from the
 * outbound plan, and `virtualOutbound` on 15001 that receives all captured traffic and hands each
 * connection to the listener for its original destination (use_original_dst), or passes it
 * through (ALLOW_ANY) / drops it (REGISTRY_ONLY).
 */
import type { Proxy } from '../../model/proxy.js';
import type { PushContext } from '../../model/push-context.js';
import { hostMatches } from '../../model/host.js';
import { BlackHoleCluster, OutboundCapturePort, outboundClusterName, PassthroughCluster, VirtualOutboundListener, WildcardAddress } from '../../model/naming.js';
import type { EnvoyJson } from '../codec.js';
import { duration, httpInspector, socketAddress, tcpProxyFilter, tlsInspector, weightedTcpProxyFilter } from './common.js';
import { httpConnectionManager } from './http-connection-manager.js';
import { outboundListenerPlan, type OutboundListenerPlan, type PlannedService } from './outbound-plan.js';
import { matchAppliesTo } from './route/match.js';
import { destinationCluster, type RouteContext } from './route/translate.js';
import { ALPN_PLAINTEXT_HTTP } from './tls.js';

/** Where traffic nobody claims goes: PassthroughCluster (ALLOW_ANY) or BlackHoleCluster. */
export function catchAllCluster(proxy: Proxy, push: PushContext): string {
  const sc = push.sidecarFor(proxy);
  const mode = sc?.spec.outboundTrafficPolicy?.mode ?? push.mesh.outboundTrafficPolicy;
  if (mode === 'REGISTRY_ONLY') return BlackHoleCluster;
  const egress = sc?.spec.outboundTrafficPolicy?.egressProxy;
  return egress ? outboundClusterName(egress.port?.number ?? 0, egress.subset ?? '', egress.host) : PassthroughCluster;
}

function passthroughChain(proxy: Proxy, push: PushContext): EnvoyJson {
  const c = catchAllCluster(proxy, push);
  return { filter_chain_match: {}, filters: [tcpProxyFilter(c, c)], name: 'PassthroughFilterChain' };
}

export function virtualOutboundListener(proxy: Proxy, push: PushContext): EnvoyJson {
  const c = catchAllCluster(proxy, push);
  return {
    name: VirtualOutboundListener,
    address: socketAddress(WildcardAddress, OutboundCapturePort),
    filter_chains: [
      { filter_chain_match: { destination_port: OutboundCapturePort }, filters: [tcpProxyFilter(BlackHoleCluster)], name: 'virtualOutbound-blackhole' },
      { filters: [tcpProxyFilter(c)], name: 'virtualOutbound-catchall-tcp' },
    ],
    use_original_dst: true,
    traffic_direction: 'OUTBOUND',
  };
}

interface Chain {
  match?: EnvoyJson;
  filters: EnvoyJson[];
  name?: string;
  sni?: boolean;
}

/** TCP chains for one service port: VirtualService tcp/tls routes, else straight to its cluster. */
function tcpChains(proxy: Proxy, push: PushContext, ps: PlannedService, statPrefix: string): Chain[] {
  const { service: svc, port } = ps;
  const ctx: RouteContext = { proxy, push, port: port.port, gateways: ['mesh'] };
  const vs = push.virtualServicesFor(proxy.namespace, ['mesh']).find((v) => v.hosts.some((h) => hostMatches(h, svc.hostname)));
  const out: Chain[] = [];
  const isTls = port.protocol === 'TLS' || port.protocol === 'HTTPS';
  if (vs && isTls) {
    for (const r of vs.spec.tls ?? []) {
      for (const m of r.match ?? []) {
        if (!matchAppliesTo(m, proxy, port.port, ['mesh'], vs.namespace)) continue;
        const dests = (r.route ?? []).map((d) => ({ name: destinationCluster(ctx, d.destination, vs.namespace), weight: d.weight ?? 100 }));
        if (!dests.length) continue;
        const match: Record<string, unknown> = {};
        if (m.sniHosts?.length) match.server_names = m.sniHosts;
        if (m.destinationSubnets?.length) match.prefix_ranges = m.destinationSubnets.map(cidr);
        out.push({ match: match as EnvoyJson, filters: [weightedTcpProxyFilter(statPrefix, dests)], sni: true });
      }
    }
  }
  if (vs && !out.length) {
    for (const r of vs.spec.tcp ?? []) {
      const ms = r.match?.length ? r.match : [undefined];
      const m = ms.find((x) => matchAppliesTo(x, proxy, port.port, ['mesh'], vs.namespace));
      if (ms.length && m === undefined && r.match?.length) continue;
      const dests = (r.route ?? []).map((d) => ({ name: destinationCluster(ctx, d.destination, vs.namespace), weight: d.weight ?? 100 }));
      if (!dests.length) continue;
      const match = m?.destinationSubnets?.length ? ({ prefix_ranges: m.destinationSubnets.map(cidr) } as EnvoyJson) : undefined;
      out.push({ match, filters: [weightedTcpProxyFilter(statPrefix, dests)] });
      if (!match) break;
    }
  }
  if (!out.length) {
    const cluster = outboundClusterName(port.port, '', svc.hostname);
    // A TLS service without a VIP is told apart from others on the port by SNI.
    const sni = isTls && svc.addresses.length === 0 && !svc.hostname.startsWith('*');
    const match: Record<string, unknown> = {};
    if (ps.cidr) match.prefix_ranges = [cidr(ps.cidr)];
    if (sni) match.server_names = [svc.hostname];
    out.push({ match: Object.keys(match).length ? (match as EnvoyJson) : undefined, filters: [tcpProxyFilter(cluster, cluster)], sni });
  }
  return out;
}

export function cidr(s: string): EnvoyJson {
  const [ip, len] = s.split('/');
  return { address_prefix: ip, prefix_len: len ? Number(len) : ip.includes(':') ? 128 : 32 };
}

function buildListener(proxy: Proxy, push: PushContext, plan: OutboundListenerPlan): EnvoyJson | undefined {
  const statPrefix = `outbound_${plan.name}`;
  const chains: Chain[] = [];
  for (const ps of plan.tcp) chains.push(...tcpChains(proxy, push, ps, outboundClusterName(ps.port.port, '', ps.service.hostname)));
  const sniff = plan.kind === 'auto' || (plan.kind === 'http' && plan.bind === WildcardAddress && !plan.bindToPort);
  if (plan.kind === 'http' || plan.kind === 'auto') {
    const hcm = httpConnectionManager({ proxy, push, direction: 'outbound', statPrefix, rds: plan.routeName, protocol: plan.http[0]?.port.protocol });
    chains.push({ match: sniff ? { transport_protocol: 'raw_buffer', application_protocols: ALPN_PLAINTEXT_HTTP } : undefined, filters: [hcm], name: plan.name });
  }
  const l: Record<string, unknown> = { name: plan.name, address: socketAddress(plan.bind, plan.port) };
  const filterChains: EnvoyJson[] = [];
  let defaultChain: EnvoyJson | undefined;
  const seen = new Set<string>();
  for (const c of chains) {
    const key = JSON.stringify(c.match ?? {});
    if (seen.has(key)) continue; // Envoy rejects two chains with the same match; the first wins, as in Istio.
    seen.add(key);
    const fc: Record<string, unknown> = {};
    if (c.match && Object.keys(c.match).length) fc.filter_chain_match = c.match;
    fc.filters = c.filters;
    if (c.name) fc.name = c.name;
    if (!fc.filter_chain_match) defaultChain = fc as EnvoyJson;
    else filterChains.push(fc as EnvoyJson);
  }
  if (defaultChain && filterChains.length === 0) filterChains.push(defaultChain);
  else if (!defaultChain) defaultChain = passthroughChain(proxy, push);
  if (filterChains.length === 0) return undefined;
  l.filter_chains = filterChains;
  if (defaultChain !== filterChains[0]) l.default_filter_chain = defaultChain;
  const listenerFilters: EnvoyJson[] = [];
  if (chains.some((c) => c.sni)) listenerFilters.push(tlsInspector());
  if (sniff) listenerFilters.push(httpInspector());
  if (listenerFilters.length) l.listener_filters = listenerFilters;
  l.listener_filters_timeout = sniff ? (duration(push.mesh.protocolDetectionTimeout) ?? '0s') : '0s';
  l.continue_on_listener_filters_timeout = true;
  l.traffic_direction = 'OUTBOUND';
  if (!plan.bindToPort) l.bind_to_port = false;
  return l as EnvoyJson;
}

export function outboundListeners(proxy: Proxy, push: PushContext): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  for (const plan of outboundListenerPlan(proxy, push)) {
    const l = buildListener(proxy, push, plan);
    if (l) out.push(l);
  }
  return out;
}
