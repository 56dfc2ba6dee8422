/**
 * The proxy's bootstrap as Istio's agent writes it (tools/packaging envoy_bootstrap.json, goldens in
 * ../shared/istio/testdata/bootstrap): the node (`sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local`,
 * cluster `<app>.<ns>`, Istio's metadata keys), delta ADS to the pilot through the static
 * `xds-grpc` cluster, CDS/LDS from ADS, the `sds-grpc`, `agent` and `prometheus_stats` clusters,
 * and the two static listeners: 15090 (`/stats/prometheus` → admin) and 15021 (`/healthz/ready` →
 * the agent's status port 15020).
 *
 * Parts of the golden that only tune Envoy internals (stats tag regexes, stats matcher, overload
 * manager, internal listener extension, deferred stats) are written for real Envoy only: `spar
 * proxy` rejects what it does not implement by name, so its bootstrap leaves them out, with the
 * other fields it does not take yet (pipe addresses: no `sds-grpc` and ADS over TCP to the agent's
 * xDS forwarder on 127.0.0.1:15010; the admin access log; listener connection-limit flags).
 */

import { parse as parseYaml } from 'yaml';

export type Json = Record<string, unknown>;

/** The Istio release whose agent this one stands in for (ISTIO_VERSION in node metadata). */
export const ISTIO_VERSION = '1.28.0';

export interface BootstrapOptions {
  /** `sidecar` or `router` (a gateway). */
  type: 'sidecar' | 'router';
  podName: string;
  namespace: string;
  podIp: string;
  /** More IPs of the pod (INSTANCE_IPS lists them all). */
  instanceIps?: string[];
  serviceAccount: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  /** The Deployment (WORKLOAD_NAME) and its owner reference (OWNER). */
  workloadName?: string;
  /** Container ports (POD_PORTS) and app container names (APP_CONTAINERS). */
  podPorts?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  appContainers?: string[];
  /** The pilot: `unix:///path` or `host:port`. */
  discoveryAddress: string;
  /** The agent's SDS socket. */
  sdsPath?: string;
  adminPort?: number;
  statusPort?: number;
  /** Drain duration (PROXY_CONFIG.drainDuration), seconds. */
  drainDurationS?: number;
  dnsDomain?: string;
  meshId?: string;
  clusterId?: string;
  /** Which proxy will read it: Envoy gets every section of Istio's golden. */
  flavor: 'envoy' | 'spar';
}

/** `sidecar~10.88.0.5~productpage-v1-xxx.default~default.svc.cluster.local`. */
export function nodeId(o: Pick<BootstrapOptions, 'type' | 'podIp' | 'podName' | 'namespace' | 'dnsDomain'>): string {
  return `${o.type}~${o.podIp}~${o.podName}.${o.namespace}~${o.namespace}.svc.${o.dnsDomain ?? 'cluster.local'}`;
}

/** Istio's service cluster: the canonical name (`service.istio.io/canonical-name`, `app`, or the workload) dot namespace. */
export function serviceCluster(o: Pick<BootstrapOptions, 'labels' | 'workloadName' | 'podName' | 'namespace'>): string {
  const name = o.labels['service.istio.io/canonical-name'] ?? o.labels['app.kubernetes.io/name'] ?? o.labels.app ?? o.workloadName ?? o.podName;
  return `${name}.${o.namespace}`;
}

/**
 * Envoy's stats inclusion list: Istio's defaults, plus the pod's `proxy.istio.io/config`
 * proxyStatsMatcher (inclusionPrefixes / inclusionSuffixes / inclusionRegexps), as the injector
 * renders it — e.g. samples/httpbin/sample-client/fortio-deploy.yaml asks for `cluster.outbound`.
 * An annotation that is not valid YAML adds nothing (`spar analyze` reports it).
 */
export function statsInclusion(annotations: Record<string, string> = {}): Json[] {
  const patterns: Json[] = ['reporter=', 'cluster_manager', 'listener_manager', 'server', 'cluster.xds-grpc', 'wasm', 'component', 'istio'].map((prefix) => ({ prefix }));
  const raw = annotations['proxy.istio.io/config'];
  if (!raw) return patterns;
  let cfg: unknown;
  try {
    cfg = parseYaml(raw);
  } catch {
    return patterns;
  }
  const m = (cfg as { proxyStatsMatcher?: Record<string, unknown> } | null)?.proxyStatsMatcher;
  const list = (k: string) => (Array.isArray(m?.[k]) ? (m[k] as unknown[]).filter((x): x is string => typeof x === 'string') : []);
  for (const prefix of list('inclusionPrefixes')) if (!patterns.some((p) => p.prefix === prefix)) patterns.push({ prefix });
  for (const suffix of list('inclusionSuffixes')) patterns.push({ suffix });
  for (const regex of list('inclusionRegexps')) patterns.push({ safe_regex: { regex } });
  return patterns;
}

function address(a: string): Json {
  if (a.startsWith('unix:')) return { pipe: { path: a.replace(/^unix:(\/\/)?/, '') } };
  const i = a.lastIndexOf(':');
  return { socket_address: { protocol: 'TCP', address: a.slice(0, i).replace(/^\[|\]$/g, ''), port_value: Number(a.slice(i + 1)) } };
}

const H2: Json = {
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
    '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
    explicit_http_config: { http2_protocol_options: {} },
  },
};

function staticCluster(name: string, addr: Json, connectTimeout: string, extra: Json = {}): Json {
  return {
    name,
    alt_stat_name: `${name};`,
    type: 'STATIC',
    connect_timeout: connectTimeout,
    lb_policy: 'ROUND_ROBIN',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: addr } }] }] },
    ...extra,
  };
}

const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

function routeListener(name: string, port: number, statPrefix: string, prefix: string, cluster: string, envoy: boolean): Json {
  return {
    name,
    address: { socket_address: { protocol: 'TCP', address: '0.0.0.0', port_value: port } },
    ...(envoy ? { ignore_global_conn_limit: true, bypass_overload_manager: true } : {}),
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          codec_type: 'AUTO',
          stat_prefix: statPrefix,
          route_config: { virtual_hosts: [{ name: 'backend', domains: ['*'], routes: [{ match: { prefix }, route: { cluster } }] }] },
          http_filters: [ROUTER],
        },
      }],
    }],
  };
}

/** The bootstrap JSON for one proxy. */
export function buildBootstrap(o: BootstrapOptions): Json {
  const adminPort = o.adminPort ?? 15000;
  const statusPort = o.statusPort ?? 15020;
  const dnsDomain = o.dnsDomain ?? 'cluster.local';
  const envoy = o.flavor === 'envoy';
  const ips = [o.podIp, ...(o.instanceIps ?? []).filter((ip) => ip !== o.podIp)];
  const metadata: Json = {
    ...(o.annotations && Object.keys(o.annotations).length > 0 ? { ANNOTATIONS: o.annotations } : {}),
    ...(o.appContainers?.length ? { APP_CONTAINERS: o.appContainers.join(',') } : {}),
    CLUSTER_ID: o.clusterId ?? 'Kubernetes',
    ENVOY_PROMETHEUS_PORT: 15090,
    ENVOY_STATUS_PORT: 15021,
    INSTANCE_IPS: ips.join(','),
    INTERCEPTION_MODE: 'REDIRECT',
    ISTIO_VERSION,
    LABELS: o.labels,
    MESH_ID: o.meshId ?? dnsDomain,
    METADATA_DISCOVERY: 'false',
    NAME: o.podName,
    NAMESPACE: o.namespace,
    NODE_NAME: 'spar-local',
    OUTLIER_LOG_PATH: '/dev/stdout',
    ...(o.workloadName ? { OWNER: `kubernetes://apis/apps/v1/namespaces/${o.namespace}/deployments/${o.workloadName}` } : {}),
    PILOT_SAN: [`spiffe://${dnsDomain}/ns/istio-system/sa/istiod`],
    POD_NAME: o.podName,
    ...(o.podPorts?.length ? { POD_PORTS: JSON.stringify(o.podPorts) } : {}),
    PROXY_CONFIG: {
      binaryPath: o.flavor === 'envoy' ? 'envoy' : 'spar proxy',
      configPath: './etc/istio/proxy',
      discoveryAddress: o.discoveryAddress,
      drainDuration: `${o.drainDurationS ?? 5}s`,
      proxyAdminPort: adminPort,
      serviceCluster: 'istio-proxy',
      statusPort,
    },
    SERVICE_ACCOUNT: o.serviceAccount,
    ...(o.workloadName ? { WORKLOAD_NAME: o.workloadName } : {}),
  };
  const bootstrap: Json = {
    node: { id: nodeId(o), cluster: serviceCluster(o), locality: {}, metadata },
    layered_runtime: {
      layers: [
        {
          name: 'global config',
          static_layer: {
            ...(o.flavor === 'envoy' ? { 'envoy.deprecated_features:envoy.config.listener.v3.Listener.hidden_envoy_deprecated_use_original_dst': true } : {}),
            'envoy.reloadable_features.http_reject_path_with_fragment': false,
            're2.max_program_size.error_level': '32768',
          },
        },
        { name: 'admin', admin_layer: {} },
      ],
    },
    admin: {
      ...(o.flavor === 'envoy' ? { access_log: [{ name: 'envoy.access_loggers.file', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: '/dev/null' } }] } : {}),
      address: { socket_address: { address: '127.0.0.1', port_value: adminPort } },
    },
    dynamic_resources: {
      lds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' },
      cds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' },
      ads_config: { api_type: 'DELTA_GRPC', set_node_on_first_message_only: true, transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] },
    },
    static_resources: {
      clusters: [
        staticCluster('prometheus_stats', { socket_address: { protocol: 'TCP', address: '127.0.0.1', port_value: adminPort } }, '0.250s'),
        staticCluster('agent', { socket_address: { protocol: 'TCP', address: '127.0.0.1', port_value: statusPort } }, '0.250s'),
        ...(envoy ? [staticCluster('sds-grpc', { pipe: { path: o.sdsPath ?? './var/run/secrets/workload-spiffe-uds/socket' } }, '1s', { typed_extension_protocol_options: H2 })] : []),
        staticCluster('xds-grpc', address(o.discoveryAddress), '1s', {
          circuit_breakers: { thresholds: ['DEFAULT', 'HIGH'].map((priority) => ({ priority, max_connections: 100000, max_pending_requests: 100000, max_requests: 100000 })) },
          upstream_connection_options: { tcp_keepalive: { keepalive_time: 300 } },
          ...(envoy ? { max_requests_per_connection: 1 } : {}),
          typed_extension_protocol_options: H2,
        }),
      ],
      listeners: [
        routeListener('0.0.0.0_15090', 15090, 'stats', '/stats/prometheus', 'prometheus_stats', envoy),
        routeListener('0.0.0.0_15021', 15021, 'agent', '/healthz/ready', 'agent', envoy),
      ],
    },
  };
  if (envoy) {
    Object.assign(bootstrap, {
      application_log_config: { log_format: { text_format: '%Y-%m-%dT%T.%fZ\t%l\tenvoy %n %g:%#\t%v\tthread=%t' } },
      bootstrap_extensions: [{
        name: 'envoy.bootstrap.internal_listener',
        typed_config: { '@type': 'type.googleapis.com/udpa.type.v1.TypedStruct', type_url: 'type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener', value: { buffer_size_kb: 64 } },
      }],
      stats_config: { use_all_default_tags: false, stats_matcher: { inclusion_list: { patterns: statsInclusion(o.annotations) } } },
      overload_manager: { resource_monitors: [{ name: 'envoy.resource_monitors.global_downstream_max_connections', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig', max_active_downstream_connections: 2147483647 } }] },
      cluster_manager: { outlier_detection: { event_log_path: '/dev/stdout' } },
    });
  }
  return bootstrap;
}
