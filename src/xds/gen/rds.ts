/**
 * RDS: route tables (Istio: httproute.go).
 *
 * Sidecars: table `<port>` for each outbound HTTP port, one virtual host per service on that port
 * (`reviews.default.svc.cluster.local:9080`, domains for every short form and the VIP) whose
 * routes come from the VirtualService for that host or are the default route, then a catch-all
 * `allow_any` (PassthroughCluster) or `block_all` (502) per the outbound traffic policy. Sniffed
 * ports with a VIP get table `<host>:<port>` with just that service.
 * Routers: the tables their Gateway servers name (see gateway.ts).
 */
import type { Proxy } from '../../model/proxy.js';
import type { PushContext, VirtualServiceConfig } from '../../model/push-context.js';
import { hostMatches } from '../../model/host.js';
import { outboundClusterName, PassthroughCluster, virtualHostDomains, virtualHostName } from '../../model/naming.js';
import type { Service } from '../../model/service.js';
import type { EnvoyJson } from '../codec.js';
import { TypeUrl } from '../resource-types.js';
import { MAX_DIRECT_RESPONSE_BODY } from './common.js';
import { gatewayRouteConfigs } from './gateway.js';
import { outboundListenerPlan } from './outbound-plan.js';
import { defaultRoute, hashPolicy, routesForVirtualService, type RouteContext } from './route/translate.js';


export function generateRoutes(proxy: Proxy, push: PushContext, names?: string[]): EnvoyJson[] {
  if (proxy.type === 'router') {
    const all = gatewayRouteConfigs(proxy, push);
    return (names?.length ? all.filter((r) => names.includes(String(r.name))) : all).map((r) => ({ '@type': TypeUrl.RouteConfiguration, ...r }));
  }
  const plans = outboundListenerPlan(proxy, push);
  const byRoute = new Map<string, Service[]>();
  for (const p of plans) {
    if (!p.routeName) continue;
    const list = byRoute.get(p.routeName) ?? [];
    for (const s of p.http) if (!list.includes(s.service)) list.push(s.service);
    byRoute.set(p.routeName, list);
  }
  const wanted = names?.length ? names : [...byRoute.keys()];
  return wanted.map((n) => ({ '@type': TypeUrl.RouteConfiguration, ...sidecarRouteConfig(proxy, push, n, byRoute.get(n) ?? []) }));
}

/** Finds the VirtualService for a host: exact host first (oldest wins), then wildcards. */
export function virtualServiceIndex(vss: readonly VirtualServiceConfig[]): (host: string) => VirtualServiceConfig | undefined {
  const exact = new Map<string, VirtualServiceConfig>();
  const wild: VirtualServiceConfig[] = [];
  for (const vs of vss) {
    for (const h of vs.hosts) {
      if (h.startsWith('*')) wild.push(vs);
      else if (!exact.has(h)) exact.set(h, vs);
    }
  }
  // Among wildcards the most specific matching host wins (Istio's mostSpecificWildcardVsIndex).
  return (host) => {
    const hit = exact.get(host);
    if (hit) return hit;
    let best: VirtualServiceConfig | undefined;
    let bestLen = -1;
    for (const vs of wild) {
      for (const h of vs.hosts) {
        if (h.startsWith('*') && hostMatches(h, host) && h.length > bestLen) {
          best = vs;
          bestLen = h.length;
        }
      }
    }
    return best;
  };
}

function sidecarRouteConfig(proxy: Proxy, push: PushContext, name: string, services: Service[]): EnvoyJson {
  const sniffed = name.includes(':');
  const port = Number(sniffed ? name.slice(name.lastIndexOf(':') + 1) : name);
  const vsFor = virtualServiceIndex(push.virtualServicesFor(proxy.namespace, ['mesh']));
  const ctx: RouteContext = { proxy, push, port, gateways: ['mesh'] };
  const seen = new Set<string>();
  const vhosts: EnvoyJson[] = [];
  for (const svc of [...services].sort((a, b) => (a.hostname < b.hostname ? -1 : 1))) {
    const domains = virtualHostDomains(svc.hostname, svc.addresses, proxy.namespace, push.mesh.dnsDomain).filter((d) => !seen.has(d));
    if (domains.length === 0) continue;
    for (const d of domains) seen.add(d);
    const vs = vsFor(svc.hostname);
    let routes = vs ? routesForVirtualService(ctx, vs) : [];
    if (!vs) {
      const cluster = outboundClusterName(port, '', svc.hostname);
      const r = defaultRoute(cluster, svc.hostname, port, push.mesh.defaultHttpRetryPolicy) as Record<string, unknown>;
      const hp = hashPolicy(ctx, cluster);
      if (hp) {
        const action = r.route as Record<string, unknown>;
        action.hash_policy = [hp];
        // Consistent hashing must come back to the same host on retry: no previous_hosts predicate.
        if (action.retry_policy) delete (action.retry_policy as Record<string, unknown>).retry_host_predicate;
      }
      routes = [r as EnvoyJson];
    }
    vhosts.push({ name: virtualHostName(svc.hostname, port), domains, routes, include_request_attempt_count: true });
  }
  if (!sniffed) {
    vhosts.push(...nonServiceHostVirtualHosts(ctx, push.virtualServicesFor(proxy.namespace, ['mesh']), services, port, seen));
    vhosts.push(catchAllVirtualHost(proxy, push));
  }
  return { name, virtual_hosts: vhosts, validate_clusters: false, max_direct_response_body_size_bytes: MAX_DIRECT_RESPONSE_BODY, ignore_port_in_host_matching: true };
}

/**
 * VirtualService hosts that name no service (`httpbin.org` with no ServiceEntry): Istio serves them
 * on the ports of the VirtualService's other, registered hosts, or on port 80 when it has none.
 */
function nonServiceHostVirtualHosts(ctx: RouteContext, vss: readonly VirtualServiceConfig[], services: readonly Service[], port: number, seen: Set<string>): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  for (const vs of vss) {
    const extra = vs.hosts.filter((h) => !h.startsWith('*') && !ctx.push.servicesByHost.has(h) && !seen.has(h));
    if (!extra.length) continue;
    const registered = vs.hosts.filter((h) => ctx.push.servicesByHost.has(h));
    const onThisPort = registered.length ? services.some((s) => registered.includes(s.hostname)) : port === 80;
    if (!onThisPort) continue;
    const routes = routesForVirtualService(ctx, vs);
    if (!routes.length) continue;
    for (const h of extra) {
      seen.add(h);
      out.push({ name: virtualHostName(h, port), domains: [h], routes, include_request_attempt_count: true });
    }
  }
  return out;
}

/** `allow_any` to PassthroughCluster, or `block_all` answering 502 under REGISTRY_ONLY. */
export function catchAllVirtualHost(proxy: Proxy, push: PushContext): EnvoyJson {
  const mode = push.sidecarFor(proxy)?.spec.outboundTrafficPolicy?.mode ?? push.mesh.outboundTrafficPolicy;
  if (mode === 'REGISTRY_ONLY') {
    return { name: 'block_all', domains: ['*'], routes: [{ name: 'block_all', match: { prefix: '/' }, direct_response: { status: 502 } }], include_request_attempt_count: true };
  }
  const egress = push.sidecarFor(proxy)?.spec.outboundTrafficPolicy?.egressProxy;
  const cluster = egress ? outboundClusterName(egress.port?.number ?? 0, egress.subset ?? '', egress.host) : PassthroughCluster;
  return {
    name: 'allow_any',
    domains: ['*'],
    routes: [{ name: 'allow_any', match: { prefix: '/' }, route: { cluster, timeout: '0s', max_grpc_timeout: '0s' } }],
    include_request_attempt_count: true,
  };
}
