/**
 * Proxyless gRPC clients (@grpc/grpc-js-xds, grpc-go ...) as Istio serves them (Istio:
 * pilot/pkg/networking/grpcgen): a node whose metadata says `GENERATOR: grpc` asks for listeners by
 * target name (`host:port`), and gets an API listener whose HTTP connection manager takes routes
 * from RDS `outbound|<port>||<host>`; routes and clusters are the sidecar's, reduced to what gRPC
 * implements (gRFC A27/A28/A31/A32): virtual hosts for that host only, ROUND_ROBIN instead of
 * LEAST_REQUEST, plain text unless a DestinationRule asks for TLS, only max_requests of the
 * circuit breakers.
 *
 * It wraps the sidecar generators (src/xds/gen) rather than re-reading Istio config, so
 * VirtualService and DestinationRule semantics stay in one place.
 */
import type { EnvoyJson } from '../xds/codec.js';
import { TypeUrl, type ResourceTypeUrl } from '../xds/resource-types.js';
import type { XdsGenerator } from '../xds/server/generator.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const FAULT = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';

interface HasMetadata {
  metadata: Record<string, unknown>;
}

/** Is this node a proxyless gRPC client (Istio's `GENERATOR: grpc`)? */
export function isProxylessGrpc(proxy: HasMetadata): boolean {
  return proxy.metadata.GENERATOR === 'grpc';
}

/** `reviews.default.svc.cluster.local:9080` → host and port. */
function splitTarget(name: string): { host: string; port: number } | undefined {
  const i = name.lastIndexOf(':');
  if (i <= 0) return undefined;
  const port = Number(name.slice(i + 1));
  return Number.isInteger(port) && port > 0 ? { host: name.slice(0, i), port } : undefined;
}

/** `outbound|9080||reviews.default.svc.cluster.local` → host and port. */
function splitRouteName(name: string): { host: string; port: number } | undefined {
  const p = name.split('|');
  if (p.length !== 4 || p[0] !== 'outbound') return undefined;
  return { host: p[3], port: Number(p[1]) };
}

function apiListener(name: string, host: string, port: number): EnvoyJson {
  return {
    '@type': TypeUrl.Listener,
    name,
    api_listener: {
      api_listener: {
        '@type': HCM,
        stat_prefix: name,
        rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: `outbound|${port}||${host}` },
        http_filters: [
          { name: 'envoy.filters.http.fault', typed_config: { '@type': FAULT } },
          { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } },
        ],
      },
    },
  };
}

/** A sidecar cluster as gRPC can use it. */
function grpcCluster(c: EnvoyJson): EnvoyJson {
  const { transport_socket_matches: _tsm, common_lb_config: _clb, typed_extension_protocol_options: _teo, circuit_breakers, lb_policy, ...rest } = c;
  const out: EnvoyJson = { ...rest, lb_policy: lb_policy === 'RING_HASH' ? 'RING_HASH' : 'ROUND_ROBIN' };
  const thresholds = (circuit_breakers as EnvoyJson | undefined)?.thresholds as EnvoyJson[] | undefined;
  const maxRequests = thresholds?.[0]?.max_requests;
  if (maxRequests !== undefined) out.circuit_breakers = { thresholds: [{ max_requests: maxRequests }] };
  return out;
}

/** gRPC needs every locality named (even `{}`) and weighted (gRFC A27 ignores unweighted ones). */
function grpcLoadAssignment(cla: EnvoyJson): EnvoyJson {
  const endpoints = ((cla.endpoints as EnvoyJson[] | undefined) ?? []).map((le) => {
    const lbs = (le.lb_endpoints as EnvoyJson[] | undefined) ?? [];
    const weight = lbs.reduce((n, e) => n + Number(e.load_balancing_weight ?? 1), 0);
    return { ...le, locality: le.locality ?? {}, load_balancing_weight: le.load_balancing_weight ?? Math.max(1, weight) };
  });
  return { ...cla, endpoints };
}

/** Only the virtual hosts a target `host:port` can match, under Istio's grpcgen route name. */
function grpcRoute(rc: EnvoyJson, name: string, host: string, port: number): EnvoyJson {
  // gRPC matches domains against the target as written (`host:port`); Envoy strips the port first,
  // so sidecar virtual hosts list bare names: add the `:port` form of each.
  const vhosts = ((rc.virtual_hosts as EnvoyJson[] | undefined) ?? [])
    .filter((vh) => {
      const domains = (vh.domains as string[] | undefined) ?? [];
      return domains.includes(host) || domains.includes(`${host}:${port}`);
    })
    .map((vh) => {
      const domains = (vh.domains as string[]).flatMap((d) => (d.includes(':') || d === '*' ? [d] : [d, `${d}:${port}`]));
      return { ...vh, domains: [...new Set(domains)] };
    });
  return { '@type': TypeUrl.RouteConfiguration, name, virtual_hosts: vhosts, ...(rc.validate_clusters !== undefined ? { validate_clusters: false } : {}) };
}

/** `base` for Envoy and Spar proxies, the gRPC translation for proxyless nodes. */
export function withProxylessGrpc<P extends HasMetadata, C>(base: XdsGenerator<P, C>): XdsGenerator<P, C> {
  return {
    proxyFromNode: (node) => base.proxyFromNode(node),
    configKindsAffecting: (t) => base.configKindsAffecting(t),
    generate(proxy: P, push: C, typeUrl: ResourceTypeUrl, names?: string[]): EnvoyJson[] {
      if (!isProxylessGrpc(proxy)) return base.generate(proxy, push, typeUrl, names);
      switch (typeUrl) {
        case TypeUrl.Listener: {
          const out: EnvoyJson[] = [];
          for (const n of names ?? []) {
            const t = splitTarget(n);
            if (t) out.push(apiListener(n, t.host, t.port));
          }
          return out;
        }
        case TypeUrl.RouteConfiguration: {
          const out: EnvoyJson[] = [];
          for (const n of names ?? []) {
            const r = splitRouteName(n);
            if (!r) continue;
            const rc = base.generate(proxy, push, TypeUrl.RouteConfiguration, [String(r.port)])[0];
            if (rc) out.push(grpcRoute(rc, n, r.host, r.port));
          }
          return out;
        }
        case TypeUrl.Cluster:
          return base.generate(proxy, push, typeUrl).filter((c) => !names || names.includes(String(c.name))).map(grpcCluster);
        case TypeUrl.ClusterLoadAssignment:
          return base.generate(proxy, push, typeUrl, names).map(grpcLoadAssignment);
        default:
          return base.generate(proxy, push, typeUrl, names);
      }
    },
  };
}
