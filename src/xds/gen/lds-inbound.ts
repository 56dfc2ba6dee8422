/**
 * Sidecar inbound: `virtualInbound` on 15006 receives all captured inbound traffic; per served
 * port it has a plaintext chain and (mesh mTLS on) an Istio mTLS chain, each ending in an HCM with
 * an inline route table `inbound|<port>||` or a tcp_proxy to `inbound|<port>||`; unknown ports
 * pass through to InboundPassthroughCluster (Istio: listener_inbound.go). Sidecar ingress
 * listeners replace the served ports; with captureMode NONE they get their own bound listener.
 *
 * Inbound mTLS follows PERMISSIVE (plaintext and mTLS both accepted) while auto mTLS is on; with
 * enableAutoMtls off only plaintext chains are written (PeerAuthentication comes later).
 */
import type { Proxy } from '../../model/proxy.js';
import type { PushContext } from '../../model/push-context.js';
import { BlackHoleCluster, inboundClusterName, InboundCapturePort, InboundPassthroughCluster, listenerName, VirtualInboundListener, WildcardAddress } from '../../model/naming.js';
import { isHTTP, parseProtocol } from '../../model/protocol.js';
import type { Protocol } from '../../model/service.js';
import type { MtlsMode } from '../../model/peer-authentication.js';
import type { EnvoyJson } from '../codec.js';
import { httpInspector, originalDst, socketAddress, tcpProxyFilter, tlsInspector } from './common.js';
import { httpConnectionManager } from './http-connection-manager.js';
import { serviceInstances } from './scope.js';
import { ALPN_ISTIO_ALL, ALPN_PLAINTEXT_HTTP, inboundMtlsContext } from './tls.js';

interface InboundPort {
  port: number;
  protocol: Protocol;
  /** `reviews.default.svc.cluster.local:9080` for the decorator. */
  operationHost: string;
  servicePort: number;
  captureNone: boolean;
  bind?: string;
}

/** A port-level PeerAuthentication may ask for mTLS on one port of an otherwise plaintext workload. */
function inboundPortsNeedTls(proxy: Proxy, push: PushContext): boolean {
  return inboundPorts(proxy, push).some((p) => inboundMode(proxy, push, p.port) !== 'DISABLE');
}

function inboundPorts(proxy: Proxy, push: PushContext): InboundPort[] {
  const sidecar = push.sidecarFor(proxy);
  if (sidecar?.spec.ingress?.length) {
    return sidecar.spec.ingress.map((il) => ({
      port: il.port.number ?? 0,
      protocol: parseProtocol(il.port.protocol),
      operationHost: `${il.port.name ?? 'inbound'}`,
      servicePort: il.port.number ?? 0,
      captureNone: il.captureMode === 'NONE' || proxy.interceptionMode === 'NONE',
      bind: il.bind,
    }));
  }
  const out = new Map<number, InboundPort>();
  for (const inst of serviceInstances(proxy, push)) {
    if (out.has(inst.targetPort)) continue;
    out.set(inst.targetPort, {
      port: inst.targetPort,
      protocol: inst.servicePort.protocol,
      operationHost: `${inst.service.hostname}:${inst.servicePort.port}`,
      servicePort: inst.servicePort.port,
      captureNone: proxy.interceptionMode === 'NONE',
    });
  }
  return [...out.values()];
}

function inboundRouteConfig(p: InboundPort): EnvoyJson {
  const cluster = inboundClusterName(p.port);
  const route: Record<string, unknown> = { cluster, timeout: '0s', max_stream_duration: { max_stream_duration: '0s', grpc_timeout_header_max: '0s' } };
  if (p.protocol !== 'GRPC') route.retry_policy = { retry_on: 'reset-before-request', num_retries: 2 };
  return {
    name: cluster,
    virtual_hosts: [{ name: `inbound|http|${p.servicePort}`, domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route: route as EnvoyJson, decorator: { operation: `${p.operationHost}/*` } }] }],
    validate_clusters: false,
  };
}

/** Which inbound chains a mode needs: plaintext, Istio mTLS, or both (PERMISSIVE). */
function modes(mode: MtlsMode): { plain: boolean; mtls: boolean } {
  return { plain: mode !== 'STRICT', mtls: mode !== 'DISABLE' };
}

function chainsForPort(proxy: Proxy, push: PushContext, p: InboundPort, mode: MtlsMode, matchPort: boolean): EnvoyJson[] {
  const { plain, mtls } = modes(mode);
  const name = listenerName(WildcardAddress, p.port);
  const base: EnvoyJson = matchPort ? { destination_port: p.port } : {};
  const hcm = () => httpConnectionManager({ proxy, push, direction: 'inbound', statPrefix: `inbound_${name}`, routeConfig: inboundRouteConfig(p), protocol: p.protocol });
  const tcp = () => tcpProxyFilter(inboundClusterName(p.port));
  const out: EnvoyJson[] = [];
  const http = isHTTP(p.protocol);
  const auto = p.protocol === 'Unsupported';
  if (http || auto) {
    if (plain) out.push({ filter_chain_match: { ...base, transport_protocol: 'raw_buffer', ...(auto ? { application_protocols: ALPN_PLAINTEXT_HTTP } : {}) }, filters: [hcm()], name });
    if (mtls) out.push({ filter_chain_match: { ...base, transport_protocol: 'tls', application_protocols: ALPN_ISTIO_ALL.filter((a) => !auto || a.startsWith('istio-http') || a === 'istio-h2') }, filters: [hcm()], transport_socket: inboundMtlsContext(['h2', 'http/1.1']), name });
  }
  if (!http) {
    if (plain) out.push({ filter_chain_match: { ...base, transport_protocol: 'raw_buffer' }, filters: [tcp()], name });
    if (mtls) out.push({ filter_chain_match: { ...base, transport_protocol: 'tls', application_protocols: auto ? ['istio-peer-exchange', 'istio'] : ALPN_ISTIO_ALL }, filters: [tcp()], transport_socket: inboundMtlsContext(['istio-peer-exchange', 'istio']), name });
  }
  return out;
}

/**
 * The inbound mTLS mode for a port: PeerAuthentication when any exists; otherwise PERMISSIVE with
 * auto mTLS on and plaintext only (DISABLE) with it off.
 */
function inboundMode(proxy: Proxy, push: PushContext, port?: number): MtlsMode {
  if (push.peerAuthentications.empty) return push.mesh.enableAutoMtls ? 'PERMISSIVE' : 'DISABLE';
  return push.peerAuthentications.modeFor(proxy.namespace, proxy.labels, port);
}

export function inboundListeners(proxy: Proxy, push: PushContext): EnvoyJson[] {
  const defaultMode = inboundMode(proxy, push);
  const mtls = defaultMode !== 'DISABLE' || inboundPortsNeedTls(proxy, push);
  const ports = inboundPorts(proxy, push);
  const out: EnvoyJson[] = [];
  for (const p of ports.filter((x) => x.captureNone)) {
    // Without capture the app's clients connect to the pod IP, so bind there (127.0.0.1 stays free for egress).
    const bind = p.bind ?? proxy.ipAddresses[0] ?? WildcardAddress;
    out.push({
      name: listenerName(bind, p.port),
      address: socketAddress(bind, p.port),
      filter_chains: chainsForPort(proxy, push, p, inboundMode(proxy, push, p.port), false),
      // Without mTLS nothing needs the TLS inspector, and server-first protocols must not wait on it.
      listener_filters: [...(mtls ? [tlsInspector()] : []), ...(p.protocol === 'Unsupported' ? [httpInspector()] : [])],
      listener_filters_timeout: '0s',
      continue_on_listener_filters_timeout: true,
      traffic_direction: 'INBOUND',
    });
  }
  if (proxy.interceptionMode === 'NONE') return out;
  const captured = ports.filter((x) => !x.captureNone);
  const chains: EnvoyJson[] = [{ filter_chain_match: { destination_port: InboundCapturePort }, filters: [tcpProxyFilter(BlackHoleCluster)], name: 'virtualInbound-blackhole' }];
  for (const p of captured) chains.push(...chainsForPort(proxy, push, p, inboundMode(proxy, push, p.port), true));
  // Ports no service declares: pass through, decoding HTTP when it is HTTP (for telemetry).
  const passthrough: InboundPort = { port: 0, protocol: 'Unsupported', operationHost: 'InboundPassthroughCluster', servicePort: 0, captureNone: false };
  const ptHcm = httpConnectionManager({
    proxy, push, direction: 'inbound', statPrefix: InboundPassthroughCluster,
    routeConfig: {
      name: InboundPassthroughCluster,
      virtual_hosts: [{ name: 'inbound|http|0', domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: InboundPassthroughCluster, timeout: '0s', max_stream_duration: { max_stream_duration: '0s', grpc_timeout_header_max: '0s' } }, decorator: { operation: ':0/*' } }] }],
      validate_clusters: false,
    },
    protocol: passthrough.protocol,
  });
  const pt = modes(defaultMode);
  if (pt.plain) chains.push({ filter_chain_match: { transport_protocol: 'raw_buffer', application_protocols: ALPN_PLAINTEXT_HTTP }, filters: [ptHcm], name: 'virtualInbound-catchall-http' });
  if (pt.mtls) chains.push({ filter_chain_match: { transport_protocol: 'tls', application_protocols: ALPN_ISTIO_ALL }, filters: [tcpProxyFilter(InboundPassthroughCluster)], transport_socket: inboundMtlsContext(['istio-peer-exchange', 'istio', 'h2', 'http/1.1']), name: 'virtualInbound-catchall-tls' });
  // STRICT: plaintext to undeclared ports is refused, as Istio does (the catch-all chain drops it).
  chains.push({ filter_chain_match: {}, filters: [tcpProxyFilter(pt.plain ? InboundPassthroughCluster : BlackHoleCluster)], name: 'virtualInbound' });
  // HTTP detection only where it is needed: not on ports declared HTTP or TCP (server-first protocols would stall).
  const declared = captured.filter((p) => p.protocol !== 'Unsupported').map((p) => p.port);
  const httpInsp: Record<string, unknown> = { ...httpInspector() };
  const rules = declared.map((port) => ({ destination_port_range: { start: port, end: port + 1 } }));
  // Envoy wants two or more rules in an or_match.
  if (rules.length === 1) httpInsp.filter_disabled = rules[0];
  else if (rules.length > 1) httpInsp.filter_disabled = { or_match: { rules } };
  out.push({
    name: VirtualInboundListener,
    address: socketAddress(WildcardAddress, InboundCapturePort),
    filter_chains: chains,
    listener_filters: [originalDst(), ...(mtls ? [tlsInspector()] : []), httpInsp as EnvoyJson],
    listener_filters_timeout: '0s',
    continue_on_listener_filters_timeout: true,
    traffic_direction: 'INBOUND',
  });
  return out;
}
