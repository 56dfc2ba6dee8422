/**
 * The pilot's debug and metrics HTTP endpoints, as istiod serves them on 15014:
 *   /debug/syncz          per-proxy sync state per type (SYNCED / STALE / NACKED + Envoy's error)
 *   /debug/configz        config served, and config rejected by validation with why
 *   /debug/adsz           ADS connections and what each subscribed to
 *   /debug/config_dump?proxyID=<pod.ns|node id>  what the proxy is given, in Envoy's /config_dump form
 *   /debug/push_status    recent pushes and resources dropped before a push
 *   /metrics              Prometheus text
 *   /ready                200 once serving
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { PUSH_ORDER, SHORT_NAME, TypeUrl } from '../xds/resource-types.js';
import { syncStatus } from '../xds/server/status.js';
import type { EnvoyJson } from '../xds/codec.js';
import type { Pilot } from './pilot.js';

const DUMP_TYPES: Record<string, string> = {
  [TypeUrl.Cluster]: 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
  [TypeUrl.ClusterLoadAssignment]: 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
  [TypeUrl.Listener]: 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
  [TypeUrl.RouteConfiguration]: 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
  [TypeUrl.Secret]: 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
};

export class DebugServer {
  private server?: Server;

  constructor(private readonly pilot: Pilot) {}

  listen(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => {
      try {
        this.handle(req, res);
      } catch (err) {
        this.send(res, 500, { error: (err as Error).message });
      }
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve((server.address() as { port: number }).port));
    });
  }

  close(): Promise<void> {
    const s = this.server;
    if (!s) return Promise.resolve();
    s.closeAllConnections();
    return new Promise((r) => s.close(() => r()));
  }

  private send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
    res.writeHead(status, { 'content-type': type });
    res.end(typeof body === 'string' ? body : JSON.stringify(body, null, 2) + '\n');
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://pilot');
    const p = this.pilot;
    switch (url.pathname) {
      case '/ready':
        return this.send(res, 200, 'ready\n', 'text/plain');
      case '/metrics':
      case '/stats/prometheus':
        return this.send(res, 200, p.metrics.render(), 'text/plain; version=0.0.4');
      case '/debug/syncz':
        return this.send(res, 200, syncStatus(p.server, p.id));
      case '/debug/configz':
        return this.send(res, 200, {
          served: p.resources.map((r) => ({ kind: r.kind, apiVersion: r.apiVersion, namespace: r.namespace, name: r.name, file: r.source?.file })),
          rejected: p.rejected,
          fileErrors: p.fileErrors.map((d) => ({ message: d.message, file: d.pos?.file, line: d.pos?.line })),
        });
      case '/debug/adsz':
        return this.send(res, 200, {
          totalClients: p.server.connections.size,
          clients: [...p.server.connections.values()].map((c) => ({
            connectionId: c.conId,
            proxy: c.nodeId,
            peer: c.peer,
            connectedAt: c.connectedAt.toISOString(),
            delta: c.delta,
            watches: Object.fromEntries([...c.watches.values()].map((w) => [SHORT_NAME[w.typeUrl], w.wildcard ? ['*'] : [...w.names].sort()])),
          })),
        });
      case '/debug/push_status':
        return this.send(res, 200, {
          version: p.server.version,
          totalPushes: p.pushCount,
          pushes: p.pushes,
          droppedResources: [...p.server.dropped.values()].map((d) => ({ type: SHORT_NAME[d.typeUrl as keyof typeof SHORT_NAME] ?? d.typeUrl, name: d.name, error: d.error, at: d.at.toISOString() })),
        });
      case '/debug/config_dump':
        return this.configDump(url, res);
      case '/debug':
      case '/':
        return this.send(res, 200, { endpoints: ['/debug/syncz', '/debug/configz', '/debug/adsz', '/debug/config_dump?proxyID=', '/debug/push_status', '/metrics', '/ready'] });
      default:
        return this.send(res, 404, { error: `no such debug endpoint ${url.pathname}` });
    }
  }

  private configDump(url: URL, res: ServerResponse): void {
    const id = url.searchParams.get('proxyID') ?? url.searchParams.get('proxyId') ?? '';
    if (!id) return this.send(res, 400, { error: 'proxyID is required: /debug/config_dump?proxyID=<pod>.<namespace>' });
    const con = this.pilot.server.findConnection(id);
    if (!con) return this.send(res, 404, { error: `proxy ${id} is not connected` });
    const generated = this.pilot.server.generateFor(con);
    const version = this.pilot.server.version;
    const configs: EnvoyJson[] = [];
    for (const t of PUSH_ORDER) {
      const rs = generated.get(t);
      if (!rs) continue;
      const at = DUMP_TYPES[t];
      if (t === TypeUrl.Cluster) configs.push({ '@type': at, dynamic_active_clusters: rs.map((r) => ({ version_info: version, cluster: r })) });
      else if (t === TypeUrl.Listener) configs.push({ '@type': at, dynamic_listeners: rs.map((r) => ({ name: r.name ?? '', active_state: { version_info: version, listener: r } })) });
      else if (t === TypeUrl.RouteConfiguration) configs.push({ '@type': at, dynamic_route_configs: rs.map((r) => ({ version_info: version, route_config: r })) });
      else if (t === TypeUrl.ClusterLoadAssignment) configs.push({ '@type': at, dynamic_endpoint_configs: rs.map((r) => ({ version_info: version, endpoint_config: r })) });
      else configs.push({ '@type': at, dynamic_active_secrets: rs.map((r) => ({ name: r.name ?? '', version_info: version, secret: r })) });
    }
    this.send(res, 200, { configs });
  }
}
