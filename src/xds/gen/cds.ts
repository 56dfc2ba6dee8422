/**
 * CDS: Envoy clusters for a proxy (Istio: cluster.go, cluster_builder.go).
 *
 * - `outbound|<port>|<subset>|<host>` for every visible service port and DestinationRule subset:
 *   EDS for Kubernetes services and STATIC ServiceEntries, STRICT_DNS/LOGICAL_DNS (endpoints
 *   inline) for DNS resolution, ORIGINAL_DST for resolution NONE and headless services.
 * - `inbound|<targetPort>||` for each port the proxy's workload serves (ORIGINAL_DST, bound to
 *   127.0.0.6 so the app sees traffic from the proxy), STATIC when a Sidecar ingress names a
 *   defaultEndpoint.
 * - PassthroughCluster, BlackHoleCluster, InboundPassthroughCluster.
 */
import type { ConnectionPoolSettings } from '../../api/types.js';
import type { Proxy } from '../../model/proxy.js';
import type { PushContext } from '../../model/push-context.js';
import { BlackHoleCluster, inboundClusterName, InboundPassthroughCluster, PassthroughCluster } from '../../model/naming.js';
import { isHTTP2, parseProtocol } from '../../model/protocol.js';
import type { EnvoyJson } from '../codec.js';
import { TypeUrl } from '../resource-types.js';
import { adsConfigSource, duration, HTTP_PROTOCOL_OPTIONS_KEY, Ext, socketAddress } from './common.js';
import { localityLbEndpoints } from './eds.js';
import { gatewayPorts } from './gateway.js';
import { outboundClusters, serviceInstances, type OutboundCluster } from './scope.js';
import { istioMtlsSni } from './tls.js';
import {
  applyConnectionPool, applyLoadBalancer, applyOutlierDetection, applyTls, defaultCircuitBreakers, effectivePolicy, finish,
  applyProxyProtocol, setHttp2, useDownstreamProtocol, type ClusterDraft,
} from './traffic-policy.js';

/** Where the inbound cluster sends from (Istio's InboundPassthroughBindIpv4). */
export const INBOUND_BIND_IP = '127.0.0.6';

export function generateClusters(proxy: Proxy, push: PushContext): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  const sniDnat = proxy.type === 'router' && gatewayPorts(proxy, push).some((gp) => gp.servers.some((s) => s.server.tls?.mode === 'AUTO_PASSTHROUGH'));
  for (const oc of outboundClusters(proxy, push)) {
    const c = cachedOutboundCluster(proxy, push, oc);
    if (!c) continue;
    out.push(c);
    if (sniDnat) out.push(typed(sniDnatCluster(c, oc)));
  }
  if (proxy.type === 'sidecar') out.push(...inboundClusters(proxy, push).map(typed));
  out.push(typed(blackHoleCluster(push)), typed(passthroughCluster(push)));
  if (proxy.type === 'sidecar') out.push(typed(inboundPassthroughCluster(push)));
  return out;
}

const typed = (c: EnvoyJson): EnvoyJson => ({ '@type': TypeUrl.Cluster, ...c });

/**
 * Outbound clusters, cached per push context (Istio's XdsCache keys a cluster by its name and the
 * service, DestinationRule and proxy properties behind it). An EDS or ORIGINAL_DST cluster depends
 * on the proxy only through its type and the DestinationRule it sees (its namespace); everything
 * else comes from the push context (service, port, subset, mesh, PeerAuthentication, identities).
 * So every sidecar of a push shares one object per cluster: generated once, not once per proxy,
 * and encoded once (the server's resource cache keys by object). DNS clusters carry the proxy's
 * locality and IP family and are not cached. A new push context starts empty: nothing survives a
 * config change, so nothing can go stale. The objects are shared: never modify a returned cluster.
 */
const clusterCache = new WeakMap<PushContext, Map<string, { oc: OutboundCluster; cluster: EnvoyJson | undefined }>>();

function cachedOutboundCluster(proxy: Proxy, push: PushContext, oc: OutboundCluster): EnvoyJson | undefined {
  if (oc.service.resolution === 'DNSLB' || oc.service.resolution === 'DNSRoundRobinLB') {
    const c = outboundCluster(proxy, push, oc);
    return c && typed(c);
  }
  let byName = clusterCache.get(push);
  if (!byName) {
    byName = new Map();
    clusterCache.set(push, byName);
  }
  const key = `${proxy.type}\0${oc.name}`;
  const hit = byName.get(key);
  if (hit && hit.oc.service === oc.service && hit.oc.port === oc.port && hit.oc.subset === oc.subset && hit.oc.dr === oc.dr) return hit.cluster;
  const c = outboundCluster(proxy, push, oc);
  const cluster = c && typed(c);
  byName.set(key, { oc, cluster });
  return cluster;
}

function outboundCluster(proxy: Proxy, push: PushContext, oc: OutboundCluster): EnvoyJson | undefined {
  const { service: svc, port } = oc;
  const mesh = push.mesh;
  const base: Record<string, unknown> & EnvoyJson = { name: oc.name };
  switch (svc.resolution) {
    case 'ClientSideLB':
      Object.assign(base, { type: 'EDS', eds_cluster_config: { eds_config: adsConfigSource(), service_name: oc.name } });
      break;
    case 'DNSLB':
    case 'DNSRoundRobinLB': {
      let groups = localityLbEndpoints(proxy, push, oc);
      if (svc.resolution === 'DNSRoundRobinLB') groups = groups.slice(0, 1).map((g) => ({ ...g, lb_endpoints: (g.lb_endpoints as EnvoyJson[]).slice(0, 1) }));
      // Istio leaves out DNS clusters with no endpoints (Envoy would reject them).
      if (groups.length === 0) return undefined;
      Object.assign(base, {
        type: svc.resolution === 'DNSLB' ? 'STRICT_DNS' : 'LOGICAL_DNS',
        dns_lookup_family: dnsLookupFamily(proxy),
        dns_refresh_rate: duration(mesh.dnsRefreshRate) ?? '60s',
        respect_dns_ttl: true,
        load_assignment: { cluster_name: oc.name, endpoints: groups },
      });
      break;
    }
    case 'Passthrough':
      Object.assign(base, { type: 'ORIGINAL_DST' });
      break;
  }
  base.connect_timeout = duration(mesh.connectTimeout) ?? '10s';
  base.circuit_breakers = defaultCircuitBreakers();
  base.common_lb_config = {};
  const d: ClusterDraft = { cluster: base };
  if (isHTTP2(port.protocol)) setHttp2(d);
  else if (port.protocol === 'Unsupported' && proxy.type === 'sidecar') useDownstreamProtocol(d);
  const policy = effectivePolicy(oc.dr?.spec.trafficPolicy, oc.subset?.trafficPolicy, port.port);
  // h2 upgrade (Istio's shouldH2Upgrade): the DestinationRule decides, else the mesh; explicit HTTP ports only.
  const h2 = policy.connectionPool?.http?.useClientProtocol ? 'DO_NOT_UPGRADE' : policy.connectionPool?.http?.h2UpgradePolicy;
  if (port.protocol === 'HTTP' && (h2 === 'UPGRADE' || ((h2 === undefined || h2 === 'DEFAULT') && mesh.h2UpgradePolicy === 'UPGRADE'))) setHttp2(d);
  applyConnectionPool(d, policy.connectionPool, policy.retryBudget);
  applyOutlierDetection(d, policy.outlierDetection);
  applyLoadBalancer(d, policy.loadBalancer);
  const sans = push.serviceIdentities(svc);
  applyTls(d, policy.tls, {
    // Auto mTLS sends plaintext to namespaces whose PeerAuthentication disables mTLS.
    autoMtls: mesh.enableAutoMtls && !svc.meshExternal && push.peerAuthentications.namespaceMode(svc.namespace) !== 'DISABLE',
    sni: istioMtlsSni(port.port, oc.subset?.name ?? '', svc.hostname),
    sans,
    http2: isHTTP2(port.protocol),
    host: svc.hostname,
  });
  applyProxyProtocol(d, policy.proxyProtocol);
  base.metadata = clusterMetadata(oc);
  return finish(d);
}

/**
 * AUTO_PASSTHROUGH gateways route by SNI: the client's SNI (`outbound_.9080_.v1_.reviews...`) names
 * a cluster of that name carrying the same endpoints, without TLS of its own (the client's mTLS
 * passes through). Istio calls these SNI-DNAT clusters.
 */
function sniDnatCluster(c: EnvoyJson, oc: OutboundCluster): EnvoyJson {
  const { transport_socket: _ts, transport_socket_matches: _tsm, ...rest } = c;
  return { ...rest, name: istioMtlsSni(oc.port.port, oc.subset?.name ?? '', oc.service.hostname) };
}

function clusterMetadata(oc: OutboundCluster): EnvoyJson {
  const istio: Record<string, unknown> = {
    services: [{ host: oc.service.hostname, name: oc.service.name, namespace: oc.service.namespace }],
    default_original_port: oc.port.port,
  };
  if (oc.subset) istio.subset = oc.subset.name;
  if (oc.dr) istio.config = `/apis/networking.istio.io/v1/namespaces/${oc.dr.namespace}/destination-rule/${oc.dr.name}`;
  return { filter_metadata: { istio: istio as EnvoyJson } };
}

function inboundClusters(proxy: Proxy, push: PushContext): EnvoyJson[] {
  const out = new Map<string, EnvoyJson>();
  const sidecar = push.sidecarFor(proxy);
  const ingress = sidecar?.spec.ingress ?? [];
  const timeout = duration(push.mesh.connectTimeout) ?? '10s';
  if (ingress.length) {
    for (const il of ingress) {
      const port = il.port.number ?? 0;
      const name = inboundClusterName(port);
      const ep = parseDefaultEndpoint(il.defaultEndpoint, il.port.targetPort ?? port);
      const c: Record<string, unknown> = { name, connect_timeout: timeout, circuit_breakers: defaultCircuitBreakers(), common_lb_config: {} };
      if (ep) Object.assign(c, { type: 'STATIC', lb_policy: 'LEAST_REQUEST', load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(ep.ip, ep.port) } }] }] } });
      else Object.assign(c, originalDstInbound());
      if (isHTTP2(parseProtocol(il.port.protocol))) c.typed_extension_protocol_options = { [HTTP_PROTOCOL_OPTIONS_KEY]: { '@type': Ext.HttpProtocolOptions, explicit_http_config: { http2_protocol_options: {} } } };
      out.set(name, withInboundPool(c, il.connectionPool ?? sidecar?.spec.inboundConnectionPool));
    }
    return [...out.values()];
  }
  for (const inst of serviceInstances(proxy, push)) {
    const name = inboundClusterName(inst.targetPort);
    if (out.has(name)) continue;
    const c: Record<string, unknown> = { name, ...originalDstInbound(), connect_timeout: timeout, circuit_breakers: defaultCircuitBreakers(), common_lb_config: {} };
    c.metadata = { filter_metadata: { istio: { services: [{ host: inst.service.hostname, name: inst.service.name, namespace: inst.service.namespace }] } } };
    const d: ClusterDraft = { cluster: c as ClusterDraft['cluster'] };
    if (isHTTP2(inst.servicePort.protocol)) setHttp2(d);
    out.set(name, withInboundPool(finish(d) as Record<string, unknown>, sidecar?.spec.inboundConnectionPool));
  }
  return [...out.values()];
}

/** Sidecar `inboundConnectionPool` (or an ingress listener's `connectionPool`) on an inbound cluster. */
function withInboundPool(c: Record<string, unknown>, pool: ConnectionPoolSettings | undefined): EnvoyJson {
  if (!pool) return c as EnvoyJson;
  const d: ClusterDraft = { cluster: c as ClusterDraft['cluster'] };
  const opts = (c.typed_extension_protocol_options as Record<string, Record<string, unknown>> | undefined)?.[HTTP_PROTOCOL_OPTIONS_KEY];
  if (opts) {
    const { '@type': _t, ...rest } = opts;
    d.http = rest;
    delete c.typed_extension_protocol_options;
  }
  applyConnectionPool(d, pool);
  return finish(d);
}

function originalDstInbound(): EnvoyJson {
  return {
    type: 'ORIGINAL_DST',
    lb_policy: 'CLUSTER_PROVIDED',
    cleanup_interval: '60s',
    upstream_bind_config: { source_address: { address: INBOUND_BIND_IP, port_value: 0 } },
  };
}

/** Istio's choice by the proxy's own addresses: IPv4 only, IPv6 only, or both (dual stack). */
function dnsLookupFamily(proxy: Proxy): string {
  const v6 = proxy.ipAddresses.some((ip) => ip.includes(':'));
  const v4 = proxy.ipAddresses.length === 0 || proxy.ipAddresses.some((ip) => !ip.includes(':'));
  return v4 && v6 ? 'ALL' : v6 ? 'V6_ONLY' : 'V4_ONLY';
}

/** `127.0.0.1:8080`, `0.0.0.0:8080`, `unix:///path` → where a Sidecar ingress listener forwards to. */
export function parseDefaultEndpoint(s: string | undefined, fallbackPort: number): { ip: string; port: number } | undefined {
  if (!s || s.startsWith('unix://')) return undefined;
  const i = s.lastIndexOf(':');
  const ip = i < 0 ? s : s.slice(0, i);
  const port = i < 0 ? fallbackPort : Number(s.slice(i + 1));
  // 0.0.0.0 means "the instance IP": Istio's ORIGINAL_DST behaviour.
  if (ip === '0.0.0.0') return undefined;
  return { ip, port };
}

function passthroughCluster(push: PushContext): EnvoyJson {
  return {
    name: PassthroughCluster,
    type: 'ORIGINAL_DST',
    connect_timeout: duration(push.mesh.connectTimeout) ?? '10s',
    lb_policy: 'CLUSTER_PROVIDED',
    circuit_breakers: defaultCircuitBreakers(),
    typed_extension_protocol_options: {
      [HTTP_PROTOCOL_OPTIONS_KEY]: { '@type': Ext.HttpProtocolOptions, use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } },
    },
  };
}

function inboundPassthroughCluster(push: PushContext): EnvoyJson {
  return { ...passthroughCluster(push), name: InboundPassthroughCluster, upstream_bind_config: { source_address: { address: INBOUND_BIND_IP, port_value: 0 } } };
}

function blackHoleCluster(push: PushContext): EnvoyJson {
  return { name: BlackHoleCluster, type: 'STATIC', connect_timeout: duration(push.mesh.connectTimeout) ?? '10s', lb_policy: 'ROUND_ROBIN' };
}
