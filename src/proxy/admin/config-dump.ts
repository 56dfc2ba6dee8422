/**
 * /config_dump in Envoy's shape: `configs[]` of BootstrapConfigDump, ClustersConfigDump,
 * ListenersConfigDump, ScopedRoutesConfigDump, RoutesConfigDump, SecretsConfigDump (and
 * EndpointsConfigDump with ?include_eds), each resource in Envoy's JSON form with its `@type`.
 * `?resource=dynamic_active_clusters` returns just those entries, as Envoy does.
 */
import type { EnvoyJson } from '../../xds/codec.js';
import { TypeUrl } from '../../xds/resource-types.js';
import type { ProxyServer } from '../server.js';

const ADMIN = 'type.googleapis.com/envoy.admin.v3.';

function typed(url: string, j: EnvoyJson): EnvoyJson {
  return j['@type'] ? j : { '@type': url, ...j };
}

/** Envoy redacts sensitive fields (private keys, passwords): every string in them reads "[redacted]". */
function redact(v: unknown, sensitive = false): unknown {
  if (Array.isArray(v)) return v.map((x) => redact(x, sensitive));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const s = sensitive || k === 'private_key' || k === 'password';
      out[k] = s && k === 'inline_bytes' ? Buffer.from('[redacted]').toString('base64') : redact(x, s);
    }
    return out;
  }
  return sensitive && typeof v === 'string' ? '[redacted]' : v;
}

function secretsDump(p: ProxyServer, keep: (name: string) => boolean, ts: (d: Date) => string): EnvoyJson {
  const held = p.clusters.secrets.list().filter((s) => keep(s.name));
  const entry = (s: (typeof held)[number]) => ({ name: s.name, ...(s.source === 'static' ? {} : { version_info: s.versionInfo }), last_updated: ts(s.lastUpdated), secret: redact(typed(TypeUrl.Secret, s.json)) as EnvoyJson });
  return {
    '@type': ADMIN + 'SecretsConfigDump',
    static_secrets: held.filter((s) => s.source === 'static').map(entry),
    dynamic_active_secrets: held.filter((s) => s.source !== 'static').map(entry),
  } as EnvoyJson;
}

export function configDump(p: ProxyServer, resource?: string, includeEds = false, nameRegex?: string): unknown {
  const re = nameRegex ? new RegExp(nameRegex) : undefined;
  const keep = (name: string) => !re || re.test(name);
  const ts = (d: Date) => d.toISOString();
  const clusters = [...p.clusters.clusters.values()].filter((c) => keep(c.config.name));
  const staticClusters = clusters.filter((c) => p.clusters.staticNames.has(c.config.name)).map((c) => ({ cluster: typed(TypeUrl.Cluster, c.config.json), last_updated: ts(c.lastUpdated) }));
  const dynamicClusters = clusters.filter((c) => !p.clusters.staticNames.has(c.config.name));
  const cVersion = p.versions.get(TypeUrl.Cluster) ?? '';
  const listeners = [...p.listeners.listeners.values()].filter((l) => keep(l.cfg.name));
  const warming = [...p.listeners.warming.values()].filter((l) => keep(l.cfg.name));
  const routes = [...p.routeMeta.values()].filter((r) => keep(r.table.name));
  const dumps: Record<string, EnvoyJson> = {
    bootstrap: { '@type': ADMIN + 'BootstrapConfigDump', bootstrap: p.bootstrap.json, last_updated: ts(new Date(p.startTime)) },
    clusters: {
      '@type': ADMIN + 'ClustersConfigDump',
      version_info: cVersion,
      static_clusters: staticClusters,
      dynamic_active_clusters: dynamicClusters.filter((c) => c.warm).map((c) => ({ version_info: cVersion, cluster: typed(TypeUrl.Cluster, c.config.json), last_updated: ts(c.lastUpdated) })),
      dynamic_warming_clusters: dynamicClusters.filter((c) => !c.warm).map((c) => ({ version_info: cVersion, cluster: typed(TypeUrl.Cluster, c.config.json), last_updated: ts(c.lastUpdated) })),
    },
    listeners: {
      '@type': ADMIN + 'ListenersConfigDump',
      version_info: p.versions.get(TypeUrl.Listener) ?? '',
      static_listeners: listeners.filter((l) => l.isStatic).map((l) => ({ listener: typed(TypeUrl.Listener, l.cfg.json), last_updated: ts(l.lastUpdated) })),
      dynamic_listeners: [
        ...listeners.filter((l) => !l.isStatic).map((l) => ({ name: l.cfg.name, active_state: { version_info: l.versionInfo, listener: typed(TypeUrl.Listener, l.cfg.json), last_updated: ts(l.lastUpdated) } })),
        ...warming.filter((l) => !l.isStatic).map((l) => ({ name: l.cfg.name, warming_state: { version_info: l.versionInfo, listener: typed(TypeUrl.Listener, l.cfg.json), last_updated: ts(l.lastUpdated) } })),
      ],
    },
    scoped_routes: { '@type': ADMIN + 'ScopedRoutesConfigDump' },
    routes: {
      '@type': ADMIN + 'RoutesConfigDump',
      static_route_configs: routes.filter((r) => r.isStatic).map((r) => ({ route_config: typed(TypeUrl.RouteConfiguration, r.table.json), last_updated: ts(r.lastUpdated) })),
      dynamic_route_configs: routes.filter((r) => !r.isStatic).map((r) => ({ version_info: r.version, route_config: typed(TypeUrl.RouteConfiguration, r.table.json), last_updated: ts(r.lastUpdated) })),
    },
    secrets: secretsDump(p, keep, ts),
  };
  if (includeEds || resource?.includes('endpoint')) {
    const eVersion = p.versions.get(TypeUrl.ClusterLoadAssignment) ?? '';
    dumps.endpoints = {
      '@type': ADMIN + 'EndpointsConfigDump',
      static_endpoint_configs: clusters.filter((c) => c.config.type !== 'EDS').map((c) => ({ endpoint_config: staticAssignment(c.config.name, c.hosts) })),
      dynamic_endpoint_configs: [...p.clusters.assignments.entries()].filter(([n]) => keep(n)).map(([, a]) => ({ version_info: eVersion, endpoint_config: typed(TypeUrl.ClusterLoadAssignment, a.json), last_updated: ts(new Date()) })),
    };
  }
  if (resource) {
    const out: unknown[] = [];
    for (const d of Object.values(dumps)) {
      const v = d[resource];
      if (Array.isArray(v)) {
        const typeOf = String(d['@type']).replace('ConfigDump', '').replace(ADMIN, '');
        for (const item of v) out.push({ '@type': `${ADMIN}${typeOf}ConfigDump.${entryType(resource)}`, ...(item as object) });
      }
    }
    return { configs: out };
  }
  const order = ['bootstrap', 'clusters', 'endpoints', 'listeners', 'scoped_routes', 'routes', 'secrets'];
  return { configs: order.filter((k) => dumps[k]).map((k) => dumps[k]) };
}

function entryType(resource: string): string {
  if (resource.includes('cluster')) return resource.startsWith('static') ? 'StaticCluster' : 'DynamicCluster';
  if (resource.includes('listener')) return resource.startsWith('static') ? 'StaticListener' : 'DynamicListener';
  if (resource.includes('route')) return resource.startsWith('static') ? 'StaticRouteConfig' : 'DynamicRouteConfig';
  if (resource.includes('endpoint')) return resource.startsWith('static') ? 'StaticEndpointConfig' : 'DynamicEndpointConfig';
  return 'Entry';
}

function staticAssignment(name: string, hosts: { ip: string; port: number; weight: number }[]): EnvoyJson {
  return {
    '@type': TypeUrl.ClusterLoadAssignment,
    cluster_name: name,
    endpoints: [{ lb_endpoints: hosts.map((h) => ({ endpoint: { address: { socket_address: { address: h.ip, port_value: h.port } } }, load_balancing_weight: h.weight })) }],
  } as EnvoyJson;
}
