/**
 * `spar pilot`: config folder → validated resources → (debounced) immutable PushContext → ADS
 * server, with Istio's debug HTTP endpoints and metrics beside it (Istio: istiod's discovery
 * server). One push context is built per debounced batch of changes; the push covers only the
 * types the changed kinds affect, and an endpoint-only change pushes EDS alone, to the proxies
 * watching that service's clusters.
 */
import pino, { type Logger } from 'pino';
import type { ConfigResource } from '../config/resource.js';
import type { MeshConfig } from '../model/mesh.js';
import { snapshotFromResources } from '../registry/aggregate.js';
import { diffSnapshots } from '../registry/diff.js';
import { withSyntheticAddresses } from '../registry/kube/synthetic.js';
import { buildPushContext, configKindsAffecting, defaultMeshConfig, generate, proxyFromNode, type Proxy, type PushContext } from '../xds/gen/index.js';
import { SHORT_NAME, type ResourceTypeUrl } from '../xds/resource-types.js';
import type { Connection } from '../xds/server/connection.js';
import type { PushRequest, XdsGenerator } from '../xds/server/generator.js';
import { XdsServer, type AckEvent, type PushEvent, type UnackedEvent } from '../xds/server/server.js';
import { GRPC_DEFAULT_MAX_RECEIVE } from '../xds/server/service.js';
import { ConfigReadCache, diffConfig, DirectoryWatcher, readConfigDir, type ConfigSnapshot, type RejectedConfig } from './config-source.js';
import { Debouncer } from './debounce.js';
import { withProxylessGrpc } from './grpcgen.js';
import { DebugServer } from './debug.js';
import { PilotMetrics } from './metrics.js';

export const SPAR_VERSION = '0.1.0';

/** Kinds whose change only moves endpoints (pushed as EDS alone when the services stay the same). */
const ENDPOINT_KINDS = new Set(['EndpointSlice', 'Endpoints']);

export interface PilotOptions {
  /** Folder of YAML to serve and watch. */
  configDir?: string;
  mesh?: MeshConfig;
  /** ADS port (Istio: 15010); 0 picks a free one. */
  port?: number;
  host?: string;
  /** Also serve ADS on this Unix socket (proxies in other network namespaces). */
  xdsUds?: string;
  /** Debug and metrics HTTP port (Istio: 15014); 0 picks a free one; -1 turns it off. */
  debugPort?: number;
  debugHost?: string;
  /** Quiet period before a push (Istio's PILOT_DEBOUNCE_AFTER, 100 ms). */
  debounceMs?: number;
  /** Longest a change waits (PILOT_DEBOUNCE_MAX, 10 s). */
  debounceMaxMs?: number;
  /** Watch configDir for changes (default true). */
  watch?: boolean;
  /** Give Services without a clusterIP a VIP and Deployments pods, as a cluster would (default true). */
  syntheticAddresses?: boolean;
  log?: Logger;
  /** The generators (default: src/xds/gen). */
  generator?: XdsGenerator<Proxy, PushContext>;
  /** Pilot identity shown in proxy-status' ISTIOD column. */
  id?: string;
}

export interface PushRecord {
  version: string;
  reason: string;
  full: boolean;
  kinds: string[];
  types: string[];
  at: string;
  /** Push context build time. */
  buildMs: number;
  /** Changes merged by the debouncer into this push. */
  events: number;
  /** From the push context being ready to the last proxy's responses written (the push queue drained). */
  sendMs?: number;
}

/** The generators: src/xds/gen for Envoy and Spar proxies, with proxyless gRPC nodes translated. */
export const sparGenerator: XdsGenerator<Proxy, PushContext> = withProxylessGrpc<Proxy, PushContext>({ proxyFromNode, generate, configKindsAffecting });

export class Pilot {
  readonly server: XdsServer<Proxy, PushContext>;
  readonly metrics = new PilotMetrics();
  readonly log: Logger;
  readonly mesh: MeshConfig;
  readonly id: string;
  /** Resources served (valid), as read. */
  resources: ConfigResource[] = [];
  rejected: RejectedConfig[] = [];
  fileErrors: ConfigSnapshot['fileErrors'] = [];
  /** The last 50 pushes. */
  readonly pushes: PushRecord[] = [];
  /** Pushes since start (push contexts built and pushed). */
  pushCount = 0;
  xdsPort = 0;
  debugPort = 0;
  private debug?: DebugServer;
  private watcher?: DirectoryWatcher;
  private debouncer: Debouncer;
  /** Parses and validation results carried from one read of the config folder to the next. */
  private readonly readCache = new ConfigReadCache();
  private lastReject = new Map<string, { gauge: string; err: string }>();
  private convergenceSeen = new WeakMap<Connection, number>();

  constructor(readonly opts: PilotOptions = {}) {
    this.log = opts.log ?? pino({ level: 'silent' });
    this.mesh = opts.mesh ?? defaultMeshConfig();
    this.id = opts.id ?? `spar-pilot-${process.pid}`;
    this.server = new XdsServer<Proxy, PushContext>({ generator: opts.generator ?? sparGenerator, log: this.log, controlPlaneId: this.id });
    this.debouncer = new Debouncer(opts.debounceMs ?? 100, opts.debounceMaxMs ?? 10_000, (req, events, waited) => this.flush(req, events, waited));
    this.wireMetrics();
  }

  /** Reads the config, builds the first push context, starts serving. */
  async start(): Promise<void> {
    if (this.opts.configDir) this.install(readConfigDir(this.opts.configDir, this.readCache));
    this.buildAndPush({ full: true, kinds: new Set(), start: Date.now(), reason: 'initial' }, 0, false);
    this.xdsPort = await this.server.listen(this.opts.port ?? 15010, this.opts.host ?? '0.0.0.0', this.opts.xdsUds);
    if ((this.opts.debugPort ?? 15014) >= 0) {
      this.debug = new DebugServer(this);
      this.debugPort = await this.debug.listen(this.opts.debugPort ?? 15014, this.opts.debugHost ?? this.opts.host ?? '0.0.0.0');
    }
    if (this.opts.configDir && this.opts.watch !== false) {
      this.watcher = new DirectoryWatcher(this.opts.configDir, Math.min(50, this.opts.debounceMs ?? 100), () => this.reload('file change'));
      this.watcher.start();
    }
    this.metrics.info.set({ component: 'pilot', tag: SPAR_VERSION }, 1);
    this.log.info({ xdsPort: this.xdsPort, debugPort: this.debugPort, xdsUds: this.opts.xdsUds, resources: this.resources.length, rejected: this.rejected.length }, 'pilot ready');
  }

  async stop(): Promise<void> {
    this.watcher?.stop();
    this.debouncer.stop();
    await this.debug?.close();
    await this.server.close();
  }

  /** Re-reads the config folder and queues a push for what changed. */
  reload(reason = 'reload'): void {
    if (!this.opts.configDir) return;
    let snap: ConfigSnapshot;
    try {
      snap = readConfigDir(this.opts.configDir, this.readCache);
    } catch (err) {
      this.log.error({ err }, 'cannot read config folder; keeping the current config');
      return;
    }
    this.applyConfig(snap, reason);
  }

  /** Replaces the served config with `snap` and queues a (debounced) push scoped to the change. */
  applyConfig(snap: ConfigSnapshot, reason = 'config change'): void {
    const before = this.resources;
    const change = diffConfig(before, snap.resources);
    this.install(snap);
    if (change.keys.length === 0) return;
    const req: PushRequest = { full: true, kinds: change.kinds, start: Date.now(), reason: `${reason}: ${change.keys.slice(0, 5).join(', ')}${change.keys.length > 5 ? ` (+${change.keys.length - 5})` : ''}` };
    if ([...change.kinds].every((k) => ENDPOINT_KINDS.has(k))) {
      const events = diffSnapshots(snapshotFromResources(this.pushInput(before), this.mesh.dnsDomain), snapshotFromResources(this.pushInput(snap.resources), this.mesh.dnsDomain));
      if (events.every((e) => e.kind === 'Endpoints')) {
        req.full = false;
        req.edsHosts = new Set(events.map((e) => e.hostname));
      }
    }
    this.metrics.triggers.inc({ type: req.full ? 'config' : 'endpoint' });
    this.log.info({ changes: change.keys, full: req.full }, 'config changed');
    this.debouncer.add(req);
  }

  private install(snap: ConfigSnapshot): void {
    for (const r of snap.rejected) if (!this.rejected.some((x) => x.kind === r.kind && x.namespace === r.namespace && x.name === r.name && x.errors.join() === r.errors.join())) {
      this.log.error({ resource: `${r.kind}/${r.namespace}/${r.name}`, file: r.file, errors: r.errors }, `invalid ${r.kind} ${r.namespace}/${r.name} not served: ${r.errors[0]}`);
    }
    for (const d of snap.fileErrors) this.log.error({ file: d.pos?.file, line: d.pos?.line }, d.message);
    this.resources = snap.resources;
    this.rejected = snap.rejected;
    this.fileErrors = snap.fileErrors;
    this.metrics.rejectedConfigs.set({}, snap.rejected.length);
  }

  /** What the push context is built from: the resources, with a cluster's addresses filled in. */
  private pushInput(resources: ConfigResource[]): ConfigResource[] {
    return this.opts.syntheticAddresses === false ? resources : withSyntheticAddresses(resources);
  }

  private flush(req: PushRequest, events: number, waitedMs: number): void {
    this.metrics.debounceTime.observe({}, waitedMs / 1000);
    this.buildAndPush(req, events, true);
  }

  private buildAndPush(req: PushRequest, events: number, push: boolean): void {
    const t0 = performance.now();
    let ctx: PushContext;
    try {
      ctx = buildPushContext(this.pushInput(this.resources), this.mesh, this.server.push);
    } catch (err) {
      this.metrics.internalErrors.inc({ type: 'push_context' });
      this.log.error({ err }, 'building the push context failed; proxies keep their config');
      return;
    }
    const buildMs = performance.now() - t0;
    this.metrics.pushContextInit.observe({}, buildMs / 1000);
    this.metrics.services.set({}, ctx.services.length);
    this.metrics.virtualServices.set({}, ctx.virtualServices.length);
    if (push) this.server.pushAll(ctx, req);
    else this.server.setPushContext(ctx);
    const t1 = performance.now();
    const rec: PushRecord = {
      version: this.server.version, reason: req.reason, full: req.full, kinds: [...req.kinds],
      types: [...this.server.typesFor(req)].map((t) => SHORT_NAME[t]), at: new Date().toISOString(), buildMs: Math.round(buildMs * 10) / 10, events,
    };
    this.pushes.push(rec);
    this.pushCount++;
    void this.server.pushed().then(() => {
      rec.sendMs = Math.round((performance.now() - t1) * 10) / 10;
    });
    if (this.pushes.length > 50) this.pushes.shift();
  }

  private wireMetrics(): void {
    const m = this.metrics;
    const connected = () => m.xds.set({ version: SPAR_VERSION }, this.server.connections.size);
    this.server.on('connect', connected);
    this.server.on('disconnect', connected);
    this.server.on('push', (e: PushEvent) => {
      const t = SHORT_NAME[e.typeUrl].toLowerCase();
      m.pushes.inc({ type: t });
      m.configSize.observe({ type: t }, e.bytes);
      const now = Date.now();
      m.pushTime.observe({ type: t }, (now - e.start) / 1000);
      if (this.convergenceSeen.get(e.con) !== e.start) {
        this.convergenceSeen.set(e.con, e.start);
        m.convergence.observe({}, (now - e.start) / 1000);
      }
    });
    this.server.on('nack', (e: AckEvent) => {
      const short = SHORT_NAME[e.typeUrl];
      m.rejects.inc({ type: short.toLowerCase() });
      const g = m.rejectGauge(short);
      if (g) {
        const key = `${e.con.nodeId}\0${short}`;
        const prev = this.lastReject.get(key);
        if (prev) g.delete({ node: e.con.nodeId, err: prev.err });
        g.set({ node: e.con.nodeId, err: e.error ?? '' }, 1);
        this.lastReject.set(key, { gauge: short, err: e.error ?? '' });
      }
    });
    this.server.on('ack', (e: AckEvent) => {
      const short = SHORT_NAME[e.typeUrl];
      const key = `${e.con.nodeId}\0${short}`;
      const prev = this.lastReject.get(key);
      if (prev) {
        m.rejectGauge(short)?.delete({ node: e.con.nodeId, err: prev.err });
        this.lastReject.delete(key);
      }
    });
    this.server.on('expiredNonce', (e: { typeUrl: ResourceTypeUrl }) => m.expiredNonce.inc({ type: SHORT_NAME[e.typeUrl].toLowerCase() }));
    this.server.on('generatorError', (e: { typeUrl: ResourceTypeUrl }) => m.internalErrors.inc({ type: SHORT_NAME[e.typeUrl].toLowerCase() }));
    this.server.on('unackedAtDisconnect', (e: UnackedEvent) => m.unackedAtDisconnect.inc({ type: SHORT_NAME[e.typeUrl].toLowerCase(), large_response: String(e.largestBytes > GRPC_DEFAULT_MAX_RECEIVE) }));
    this.server.on('drop', (d: { typeUrl: string }) => m.invalidResources.inc({ type: SHORT_NAME[d.typeUrl as ResourceTypeUrl]?.toLowerCase() ?? d.typeUrl }));
  }
}
