/**
 * A tiny generator for ADS server tests: the push context is simply the resources of each type,
 * the same for every proxy; `names` filters. Lets the server be tested without the real generators.
 */
import type { EnvoyJson } from '../../src/xds/codec.js';
import { TypeUrl, type ResourceTypeUrl } from '../../src/xds/resource-types.js';
import type { XdsGenerator } from '../../src/xds/server/generator.js';

export type StaticPush = Partial<Record<ResourceTypeUrl, EnvoyJson[]>>;

export interface TestProxy {
  id: string;
}

export const staticGenerator: XdsGenerator<TestProxy, StaticPush> & { calls: number } = {
  calls: 0,
  proxyFromNode(node) {
    if (typeof node.id !== 'string' || !node.id.includes('~')) throw new Error(`node id "${String(node.id)}" is not type~ip~pod.ns~domain`);
    return { id: node.id };
  },
  generate(_proxy, push, typeUrl, names) {
    staticGenerator.calls++;
    const all = push[typeUrl] ?? [];
    if (!names) return all;
    const want = new Set(names);
    return all.filter((r) => want.has(String(typeUrl === TypeUrl.ClusterLoadAssignment ? r.cluster_name : r.name)));
  },
  configKindsAffecting(typeUrl) {
    switch (typeUrl) {
      case TypeUrl.Cluster:
        return new Set(['Service', 'DestinationRule']);
      case TypeUrl.ClusterLoadAssignment:
        return new Set(['Service', 'EndpointSlice']);
      case TypeUrl.Listener:
        return new Set(['Service', 'Gateway']);
      case TypeUrl.RouteConfiguration:
        return new Set(['Service', 'VirtualService']);
      default:
        return new Set();
    }
  },
};

export const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

export function edsCluster(name: string): EnvoyJson {
  return { '@type': TypeUrl.Cluster, name, type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name } };
}

export function endpoints(name: string, addrs: [string, number][]): EnvoyJson {
  return {
    '@type': TypeUrl.ClusterLoadAssignment,
    cluster_name: name,
    endpoints: [{ lb_endpoints: addrs.map(([address, port_value]) => ({ endpoint: { address: { socket_address: { address, port_value } } } })) }],
  };
}

/** An HTTP listener on addr:port whose routes come from RDS `routeName`. */
export function httpListener(name: string, addr: string, port: number, routeName: string): EnvoyJson {
  return {
    '@type': TypeUrl.Listener,
    name,
    address: { socket_address: { address: addr, port_value: port } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': HCM,
          stat_prefix: name,
          rds: { route_config_name: routeName, config_source: { ads: {}, resource_api_version: 'V3' } },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
        },
      }],
    }],
  };
}

export function routeConfig(name: string, vhosts: { name: string; domains: string[]; cluster: string }[]): EnvoyJson {
  return {
    '@type': TypeUrl.RouteConfiguration,
    name,
    virtual_hosts: vhosts.map((v) => ({ name: v.name, domains: v.domains, routes: [{ match: { prefix: '/' }, route: { cluster: v.cluster } }] })),
  };
}

export function node(pod: string, ns = 'default', ip = '127.0.0.1'): EnvoyJson {
  return { id: `sidecar~${ip}~${pod}.${ns}~${ns}.svc.cluster.local`, cluster: `${pod.split('-')[0]}.${ns}`, metadata: { NAMESPACE: ns, ISTIO_VERSION: '1.28.0', CLUSTER_ID: 'Kubernetes', LABELS: { app: pod.split('-')[0] } } };
}
