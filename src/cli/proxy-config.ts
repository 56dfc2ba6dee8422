/**
 * `spar proxy-config listeners|routes|clusters|endpoints|secret|all ADMIN-ADDRESS`: istioctl's
 * tables, read from a proxy's admin API (/config_dump?include_eds, /clusters?format=json). Works
 * against `spar proxy` and real Envoy alike, since both answer in Envoy's shapes.
 */
import { request } from 'node:http';
import { UserError } from '../common/errors.js';

type Json = Record<string, unknown>;
const KINDS = ['listeners', 'listener', 'routes', 'route', 'clusters', 'cluster', 'endpoints', 'endpoint', 'secret', 'secrets', 'all'] as const;

function get(base: string, path: string): Promise<string> {
  const u = new URL(path, base.includes('://') ? base : `http://${base}`);
  return new Promise((resolve, reject) => {
    const rq = request(u, { timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new UserError(`${u.href}: HTTP ${res.statusCode}`))));
    });
    rq.on('timeout', () => rq.destroy(new Error('timed out')));
    rq.on('error', (e) => reject(new UserError(`cannot reach the proxy's admin API at ${u.origin}: ${e.message}`)));
    rq.end();
  });
}

/** Left-aligned columns separated by three spaces, as istioctl prints them. */
export function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(w[i]))).join('   ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

function section(dump: Json, suffix: string): Json {
  return ((dump.configs as Json[]) ?? []).find((c) => String(c['@type']).endsWith('.' + suffix)) ?? {};
}

function clusterRows(dump: Json): string[][] {
  const s = section(dump, 'ClustersConfigDump');
  const all = [...((s.static_clusters as Json[]) ?? []), ...((s.dynamic_active_clusters as Json[]) ?? [])].map((c) => c.cluster as Json);
  return all.map((c) => {
    const name = String(c.name);
    const parts = name.split('|');
    const type = String(c.type ?? (c.cluster_type ? 'CUSTOM' : 'STATIC'));
    const dr = ((c.metadata as Json)?.filter_metadata as Json)?.istio as Json | undefined;
    const drName = dr?.config ? String(dr.config).split('/').slice(-1)[0] + '.' + String(dr.config).split('/').slice(-3)[0] : '';
    if (parts.length === 4) return [parts[3], parts[1], parts[2] || '-', parts[0], type, drName || '-'];
    return [name, '-', '-', '-', type, '-'];
  }).sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]));
}

function chainDestination(fc: Json): string {
  const f = ((fc.filters as Json[]) ?? []).slice(-1)[0];
  const tc = (f?.typed_config ?? {}) as Json;
  if (tc.rds) return `Route: ${(tc.rds as Json).route_config_name}`;
  if (tc.route_config) return `Inline Route: ${((tc.route_config as Json).name as string) || '/*'}`;
  if (tc.cluster) return `Cluster: ${tc.cluster}`;
  if (tc.weighted_clusters) return `Clusters: ${(((tc.weighted_clusters as Json).clusters as Json[]) ?? []).map((c) => c.name).join(', ')}`;
  return f ? `Non-HTTP/Non-TCP (${f.name})` : '-';
}

function chainMatch(fc: Json): string {
  const m = (fc.filter_chain_match ?? {}) as Json;
  const out: string[] = [];
  if (m.destination_port) out.push(`port ${m.destination_port}`);
  if (m.prefix_ranges) out.push(`Addr: ${((m.prefix_ranges as Json[]) ?? []).map((r) => `${r.address_prefix}/${r.prefix_len ?? ''}`).join(',')}`);
  if (m.server_names) out.push(`SNI: ${(m.server_names as string[]).join(',')}`);
  if (m.transport_protocol) out.push(`Trans: ${m.transport_protocol}`);
  if (m.application_protocols) out.push(`App: ${(m.application_protocols as string[]).join(',')}`);
  return out.join('; ') || 'ALL';
}

function listenerRows(dump: Json): string[][] {
  const s = section(dump, 'ListenersConfigDump');
  const ls = [...((s.static_listeners as Json[]) ?? []).map((l) => l.listener as Json), ...((s.dynamic_listeners as Json[]) ?? []).map((l) => ((l.active_state ?? l.warming_state) as Json)?.listener as Json).filter(Boolean)];
  const rows: string[][] = [];
  for (const l of ls) {
    const sa = ((l.address as Json)?.socket_address ?? {}) as Json;
    const chains = [...((l.filter_chains as Json[]) ?? []), ...(l.default_filter_chain ? [l.default_filter_chain as Json] : [])];
    if (chains.length === 0) rows.push([String(sa.address), String(sa.port_value ?? 0), 'ALL', '-']);
    for (const fc of chains) rows.push([String(sa.address), String(sa.port_value ?? 0), chainMatch(fc), chainDestination(fc)]);
  }
  return rows;
}

function routeRows(dump: Json): string[][] {
  const s = section(dump, 'RoutesConfigDump');
  const rcs = [...((s.static_route_configs as Json[]) ?? []), ...((s.dynamic_route_configs as Json[]) ?? [])].map((r) => r.route_config as Json);
  const rows: string[][] = [];
  for (const rc of rcs) {
    for (const vh of (rc.virtual_hosts as Json[]) ?? []) {
      for (const r of (vh.routes as Json[]) ?? []) {
        const m = (r.match ?? {}) as Json;
        const match = m.prefix !== undefined ? `${m.prefix}*` : m.path !== undefined ? String(m.path) : m.safe_regex ? String((m.safe_regex as Json).regex) : m.path_separated_prefix ? `${m.path_separated_prefix}/*` : '-';
        const vs = ((((r.metadata as Json)?.filter_metadata as Json)?.istio as Json)?.config as string | undefined)?.split('/') ?? [];
        const domains = ((vh.domains as string[]) ?? []);
        rows.push([String(rc.name || '-'), String(vh.name), domains.length > 1 ? `${domains[0]} +${domains.length - 1} more...` : domains[0] ?? '', match, vs.length ? `${vs[vs.length - 1]}.${vs[vs.length - 3]}` : '404' === String((r.direct_response as Json)?.status) ? '404' : '-']);
      }
    }
  }
  return rows;
}

async function endpointRows(base: string): Promise<string[][]> {
  const j = JSON.parse(await get(base, '/clusters?format=json')) as { cluster_statuses?: Json[] };
  const rows: string[][] = [];
  for (const c of j.cluster_statuses ?? []) {
    for (const h of (c.host_statuses as Json[]) ?? []) {
      const sa = ((h.address as Json)?.socket_address ?? {}) as Json;
      const hs = (h.health_status ?? {}) as Json;
      const status = hs.eds_health_status ?? (hs.failed_outlier_check ? 'UNHEALTHY' : 'HEALTHY');
      rows.push([`${sa.address}:${sa.port_value}`, String(status), hs.failed_outlier_check ? 'FAILED' : 'OK', String(c.name)]);
    }
  }
  return rows.sort((a, b) => a[3].localeCompare(b[3]) || a[0].localeCompare(b[0]));
}

function secretRows(dump: Json): string[][] {
  const s = section(dump, 'SecretsConfigDump');
  const all = [...((s.static_secrets as Json[]) ?? []), ...((s.dynamic_active_secrets as Json[]) ?? [])];
  return all.map((x) => {
    const sec = (x.secret ?? {}) as Json;
    const type = sec.tls_certificate ? 'Cert Chain' : sec.validation_context ? 'CA' : 'Unknown';
    return [String(x.name ?? sec.name), type, 'ACTIVE', 'true', '-', '-', '-'];
  });
}

export async function run(kind: string, address: string, opts: { output: string }): Promise<void> {
  if (!(KINDS as readonly string[]).includes(kind)) throw new UserError(`proxy-config: unknown type ${JSON.stringify(kind)} (listeners, routes, clusters, endpoints, secret, all)`);
  if (opts.output !== 'short' && opts.output !== 'json') throw new UserError('-o: expected short or json');
  const dump = JSON.parse(await get(address, '/config_dump?include_eds')) as Json;
  const k = kind.replace(/s$/, '');
  const out = (s: string) => process.stdout.write(s);
  if (opts.output === 'json') {
    const suffix = { listener: 'ListenersConfigDump', route: 'RoutesConfigDump', cluster: 'ClustersConfigDump', endpoint: 'EndpointsConfigDump', secret: 'SecretsConfigDump' }[k];
    out(JSON.stringify(k === 'all' ? dump : section(dump, suffix ?? ''), null, 2) + '\n');
    return;
  }
  const parts: string[] = [];
  if (k === 'cluster' || k === 'all') parts.push(table(['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'DESTINATION RULE'], clusterRows(dump)));
  if (k === 'listener' || k === 'all') parts.push(table(['ADDRESSES', 'PORT', 'MATCH', 'DESTINATION'], listenerRows(dump)));
  if (k === 'route' || k === 'all') parts.push(table(['NAME', 'VHOST NAME', 'DOMAINS', 'MATCH', 'VIRTUAL SERVICE'], routeRows(dump)));
  if (k === 'endpoint' || k === 'all') parts.push(table(['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER'], await endpointRows(address)));
  if (k === 'secret' || k === 'all') parts.push(table(['RESOURCE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE'], secretRows(dump)));
  out(parts.join('\n'));
}
