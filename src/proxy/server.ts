/**
 * The proxy: one process holding the cluster manager, the route tables (RDS), the listener manager,
 * the stats store, the admin server and (when the bootstrap asks) the ADS client. Config arrives
 * only as Envoy v3 resources (bootstrap static_resources, then xDS); each update is compiled in
 * full before anything changes, so a bad update changes nothing (and is NACKed by name).
 */
import { ConfigErrors, ConfigError } from './config/fields.js';
import type { EnvoyJson } from '../xds/codec.js';
import { TypeUrl } from '../xds/resource-types.js';
import { readBootstrap, type Bootstrap } from './bootstrap.js';
import { ClusterManager } from './cluster/cluster-manager.js';
import { ListenerManager } from './listener/listener-manager.js';
import { compileRouteConfig, type RouteTable } from './router/route-table.js';
import { StatsStore } from './stats/stats.js';
import { AdminServer } from './admin/admin.js';
import { AdsClient } from './xds-client/ads-client.js';
import { log } from './log.js';
import { loadOriginalDst } from './listener/original-dst-loader.js';
import { SdsStreams } from './tls/sds-client.js';
import type { SecretRef } from './tls/secrets.js';

export interface ProxyOptions {
  bootstrap: EnvoyJson;
  serviceNode?: string;
  serviceCluster?: string;
  drainTimeS: number;
  concurrency: number;
  commandLine: Record<string, unknown>;
}

export interface RouteEntry {
  table: RouteTable;
  version: string;
  lastUpdated: Date;
  isStatic: boolean;
}

export class ProxyServer {
  readonly stats = new StatsStore();
  readonly clusters = new ClusterManager(this.stats);
  readonly routes = new Map<string, RouteTable>();
  readonly routeMeta = new Map<string, RouteEntry>();
  readonly listeners: ListenerManager;
  readonly startTime = Date.now();
  readonly bootstrap: Bootstrap;
  admin: AdminServer | undefined;
  ads: AdsClient | undefined;
  /** SDS subscriptions (SDS gRPC streams; the names ADS fetches). */
  readonly sds: SdsStreams;
  /** Version of the last accepted update per type URL. */
  readonly versions = new Map<string, string>();
  state: 'PRE_INITIALIZING' | 'INITIALIZING' | 'LIVE' | 'DRAINING' = 'PRE_INITIALIZING';

  constructor(readonly opts: ProxyOptions) {
    const errs = new ConfigErrors();
    this.bootstrap = readBootstrap(opts.bootstrap, errs, { serviceNode: opts.serviceNode, serviceCluster: opts.serviceCluster });
    if (!errs.ok) throw new ConfigError(errs.list);
    const secrets = this.clusters.secrets;
    // SDS streams go to bootstrap clusters only (Envoy: a statically defined non-EDS cluster).
    const sdsClusters = new Set(this.bootstrap.staticClusters.filter((c) => c.type !== 'EDS').map((c) => String(c.name)));
    secrets.staticClusterExists = (n) => sdsClusters.has(n);
    const node = this.bootstrap.node;
    this.sds = new SdsStreams(secrets, (c) => this.clusters.get(c)?.hosts[0]?.address, () => ({ ...node.json, id: node.id, cluster: node.cluster }) as EnvoyJson);
    secrets.onUpdate = () => void this.listeners.activateReady().then(() => this.ads?.secretsArrived());
    this.listeners = new ListenerManager(
      { clusters: this.clusters, routes: this.routes, stats: this.stats, nodeMetadata: this.bootstrap.node.metadata, secrets },
      opts.drainTimeS * 1000,
      (m) => log('warning', 'config', m),
    );
    this.clusters.onWarm = () => void this.listeners.activateReady();
    this.stats.gauge('server.concurrency').value = opts.concurrency;
  }

  /** Applies the bootstrap's static resources, binds admin, starts ADS. Throws on bad config. */
  async start(): Promise<void> {
    this.state = 'INITIALIZING';
    this.listeners.originalDst = await loadOriginalDst();
    const errs = new ConfigErrors();
    const secretErr = this.clusters.secrets.update('static', this.bootstrap.staticSecrets, '');
    if (secretErr) throw new ConfigError([secretErr]);
    const clusters = this.clusters.compile(this.bootstrap.staticClusters.map((c) => ({ '@type': TypeUrl.Cluster, ...c })), errs);
    if (!errs.ok) throw new ConfigError(errs.list);
    // Clusters first: inline route configs are validated against them (validate_clusters).
    this.clusters.apply(clusters, true);
    const listeners = this.listeners.compile(this.bootstrap.staticListeners.map((l) => ({ ...l })), errs);
    if (!errs.ok) throw new ConfigError(errs.list);
    // Static route configs (inline) appear in /config_dump as static routes.
    for (const l of listeners) {
      for (const c of l.chains) {
        const tc = (c.handler as unknown as { cfg?: { routeTable?: RouteTable } }).cfg;
        if (tc?.routeTable) this.routeMeta.set(`static:${l.name}:${c.name}:${this.routeMeta.size}`, { table: tc.routeTable, version: '', lastUpdated: new Date(), isStatic: true });
      }
    }
    if (this.bootstrap.admin) {
      this.admin = new AdminServer(this);
      await this.admin.listen(this.bootstrap.admin.ip, this.bootstrap.admin.port);
    }
    const bindErrors = await this.listeners.apply(listeners, '', true);
    if (bindErrors.length) throw new ConfigError(bindErrors);
    this.syncSecrets();
    if (this.bootstrap.ads) {
      this.ads = new AdsClient(this, this.bootstrap.ads);
      this.ads.start();
      this.ads.secretsChanged();
    } else this.state = 'LIVE';
  }

  /** Called by the ADS client once the first CDS/LDS round is in (Envoy's init manager done). */
  markLive(): void {
    if (this.state === 'INITIALIZING') {
      this.state = 'LIVE';
      log('info', 'main', 'all dependencies initialized. starting workers');
    }
  }

  // ---- xDS updates: each compiles fully first; errors → NACK text, nothing applied ----

  async updateClusters(resources: EnvoyJson[], version: string, removed: string[] | 'sotw'): Promise<string | undefined> {
    const errs = new ConfigErrors();
    const compiled = this.clusters.compile(resources, errs);
    if (!errs.ok) return errs.toString();
    for (const name of compiled.keys()) {
      if (this.clusters.staticNames.has(name)) return `Cluster ${JSON.stringify(name)}: a static cluster with this name exists`;
    }
    this.clusters.apply(compiled, false);
    if (removed === 'sotw') this.clusters.removeExcept(new Set(compiled.keys()));
    else for (const r of removed) this.clusters.remove(r);
    this.versions.set(TypeUrl.Cluster, version);
    this.syncSecrets();
    await this.listeners.activateReady();
    return undefined;
  }

  async updateEndpoints(resources: EnvoyJson[], version: string): Promise<string | undefined> {
    const errs = new ConfigErrors();
    for (const r of resources) this.clusters.applyAssignment(r, errs);
    if (!errs.ok) return errs.toString();
    this.versions.set(TypeUrl.ClusterLoadAssignment, version);
    await this.listeners.activateReady();
    return undefined;
  }

  async updateListeners(resources: EnvoyJson[], version: string, removed: string[] | 'sotw'): Promise<string | undefined> {
    const errs = new ConfigErrors();
    const cfgs = this.listeners.compile(resources, errs);
    if (!errs.ok) {
      for (const c of cfgs) for (const ch of c.chains) ch.handler.close();
      return errs.toString();
    }
    const bindErrors = await this.listeners.apply(cfgs, version, false);
    if (removed === 'sotw') this.listeners.removeExcept(new Set(cfgs.map((c) => c.name)));
    else for (const r of removed) this.listeners.remove(r);
    this.syncSecrets();
    this.versions.set(TypeUrl.Listener, version);
    return bindErrors.length ? bindErrors.join('; ') : undefined;
  }

  async updateRoutes(resources: EnvoyJson[], version: string, removed: string[]): Promise<string | undefined> {
    const errs = new ConfigErrors();
    const tables = resources.map((r) => compileRouteConfig(r, errs));
    if (!errs.ok) return errs.toString();
    for (const t of tables) {
      this.routes.set(t.name, t);
      this.routeMeta.set(t.name, { table: t, version, lastUpdated: new Date(), isStatic: false });
    }
    for (const r of removed) {
      this.routes.delete(r);
      this.routeMeta.delete(r);
    }
    this.versions.set(TypeUrl.RouteConfiguration, version);
    await this.listeners.activateReady();
    return undefined;
  }

  /** SDS secrets (delivered over ADS); invalid ones change nothing and are NACKed. */
  async updateSecrets(resources: EnvoyJson[], version: string, removed: string[]): Promise<string | undefined> {
    const err = this.clusters.secrets.update('ads', resources, version, removed);
    if (err) return err;
    this.versions.set(TypeUrl.Secret, version);
    await this.listeners.activateReady();
    return undefined;
  }

  /** Subscribes SDS to exactly the secrets the current clusters and listeners name. */
  private syncSecrets(): void {
    const refs: SecretRef[] = [];
    for (const c of this.clusters.clusters.values()) if (c.config.transport) refs.push(...c.config.transport.refs);
    for (const al of [...this.listeners.listeners.values(), ...this.listeners.warming.values()]) for (const t of al.cfg.tlsContexts) refs.push(...t.refs);
    this.sds.sync(refs);
  }

  /** Stops accepting, drains, closes everything this process opened. */
  async shutdown(): Promise<void> {
    this.state = 'DRAINING';
    this.ads?.stop();
    this.sds.stop();
    await this.listeners.close();
    this.clusters.close();
    await this.admin?.close();
  }
}
