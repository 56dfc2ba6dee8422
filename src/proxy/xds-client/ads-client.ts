/**
 * The ADS client (dynamic_resources.ads_config): one gRPC stream to the control plane carrying
 * CDS, EDS, LDS and RDS, in State-of-the-World (`GRPC`) or incremental (`DELTA_GRPC`) form.
 *
 * Order as Envoy: CDS first; EDS for the EDS clusters it names; LDS once the initial clusters are
 * warm; RDS for the route names the listeners ask for. Every response is compiled in full and
 * either applied and ACKed, or changes nothing and is NACKed with error_detail naming the resource
 * and field. When the stream fails, the proxy keeps serving its last good config and reconnects
 * with jittered exponential backoff (0.5 s doubling to 30 s), re-sending its subscriptions and the
 * versions it holds.
 */
import { credentials, Client, Metadata, type ClientDuplexStream } from '@grpc/grpc-js';
import { decodeDiscovery, encodeDiscovery, type EnvoyJson } from '../../xds/codec.js';
import { TypeUrl, SHORT_NAME } from '../../xds/resource-types.js';
import type { ProxyServer } from '../server.js';
import { log } from '../log.js';

const SOTW_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const DELTA_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

interface Watch {
  typeUrl: string;
  /** Subscribed names; undefined = wildcard (CDS, LDS). */
  names: Set<string> | undefined;
  version: string;
  nonce: string;
  /** Delta: versions per resource name we hold. */
  held: Map<string, string>;
  requested: boolean;
}

export interface AdsStats {
  connected: boolean;
  updates: Record<string, { accepted: number; rejected: number; lastError?: string }>;
}

export class AdsClient {
  private client: Client | undefined;
  private stream: ClientDuplexStream<Uint8Array, Uint8Array> | undefined;
  private readonly watches = new Map<string, Watch>();
  private backoffMs = 500;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private sentNode = false;
  private initialCds = false;
  private queue: Promise<void> = Promise.resolve();
  readonly status: AdsStats = { connected: false, updates: {} };

  constructor(private readonly proxy: ProxyServer, private readonly cfg: { clusterName: string; apiType: 'GRPC' | 'DELTA_GRPC' }) {
    const mk = (t: string, names?: Set<string>): Watch => ({ typeUrl: t, names, version: '', nonce: '', held: new Map(), requested: false });
    if (proxy.bootstrap.cdsFromAds) this.watches.set(TypeUrl.Cluster, mk(TypeUrl.Cluster));
    this.watches.set(TypeUrl.ClusterLoadAssignment, mk(TypeUrl.ClusterLoadAssignment, new Set()));
    if (proxy.bootstrap.ldsFromAds) this.watches.set(TypeUrl.Listener, mk(TypeUrl.Listener));
    this.watches.set(TypeUrl.RouteConfiguration, mk(TypeUrl.RouteConfiguration, new Set()));
    this.watches.set(TypeUrl.Secret, mk(TypeUrl.Secret, new Set()));
    for (const t of Object.values(TypeUrl)) this.status.updates[SHORT_NAME[t]] = { accepted: 0, rejected: 0 };
  }

  private get delta(): boolean {
    return this.cfg.apiType === 'DELTA_GRPC';
  }

  start(): void {
    const cluster = this.proxy.clusters.get(this.cfg.clusterName);
    const host = cluster?.hosts[0];
    if (!host) {
      log('warning', 'config', `ADS cluster ${JSON.stringify(this.cfg.clusterName)} has no hosts; retrying`);
      return this.retry();
    }
    this.client ??= new Client(host.address, credentials.createInsecure(), {
      'grpc.keepalive_time_ms': 30000,
      'grpc.max_receive_message_length': -1,
      'grpc.initial_reconnect_backoff_ms': 500,
    });
    this.sentNode = false;
    const stream = this.client.makeBidiStreamRequest(
      this.delta ? DELTA_PATH : SOTW_PATH,
      (b: Uint8Array) => Buffer.from(b),
      (b: Buffer) => new Uint8Array(b),
      new Metadata(),
    );
    this.stream = stream;
    stream.on('data', (bytes: Uint8Array) => {
      if (!this.status.connected) {
        this.status.connected = true;
        this.backoffMs = 500;
      }
      // Apply responses one at a time, in arrival order.
      this.queue = this.queue.then(() => this.onResponse(bytes)).catch((e) => log('error', 'config', `ADS: ${(e as Error).message}`));
    });
    stream.on('error', (e: Error) => {
      log('warning', 'config', `ADS stream to ${host.address} failed: ${e.message}`);
    });
    stream.on('status', () => {
      if (this.stream !== stream) return;
      this.status.connected = false;
      this.stream = undefined;
      if (!this.stopped) this.retry();
    });
    // Initial subscriptions (wildcards; EDS/RDS names as held from before a reconnect).
    for (const w of this.watches.values()) {
      w.nonce = '';
      w.requested = false;
      if (w.typeUrl === TypeUrl.Listener && !this.initialCds && this.watches.has(TypeUrl.Cluster)) continue;
      if (w.names && w.names.size === 0) continue;
      this.send(w);
    }
  }

  private retry(): void {
    if (this.stopped) return;
    // A fresh channel each time: grpc-js's own channel backoff would add to ours.
    this.client?.close();
    this.client = undefined;
    const delay = Math.random() * this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 30000);
    this.timer = setTimeout(() => this.start(), delay);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stream?.cancel();
    this.client?.close();
  }

  private node(): EnvoyJson | undefined {
    if (this.sentNode) return undefined;
    this.sentNode = true;
    const n = this.proxy.bootstrap.node.json;
    return { ...n, id: this.proxy.bootstrap.node.id, cluster: this.proxy.bootstrap.node.cluster, user_agent_name: 'spar', user_agent_version: '0.1.0' } as EnvoyJson;
  }

  /** Sends a request for a watch (subscription, ACK or NACK). */
  private send(w: Watch, error?: string, unsubscribed: string[] = []): void {
    const s = this.stream;
    if (!s) return;
    w.requested = true;
    const node = this.node();
    let msg: EnvoyJson;
    if (this.delta) {
      msg = { type_url: w.typeUrl, response_nonce: w.nonce };
      if (node) msg.node = node;
      if (!w.nonce) {
        // A new stream: (re)subscribe and say what we hold.
        if (w.names) msg.resource_names_subscribe = [...w.names];
        if (w.held.size) msg.initial_resource_versions = Object.fromEntries(w.held);
      } else if (w.names && !error) {
        msg.resource_names_subscribe = [...w.names];
      }
      if (unsubscribed.length) msg.resource_names_unsubscribe = unsubscribed;
      if (!w.nonce) delete msg.response_nonce;
    } else {
      msg = { version_info: w.version, type_url: w.typeUrl, resource_names: w.names ? [...w.names] : [], response_nonce: w.nonce };
      if (node) msg.node = node;
    }
    if (error) msg.error_detail = { code: 3, message: error };
    s.write(encodeDiscovery(this.delta ? 'DeltaDiscoveryRequest' : 'DiscoveryRequest', msg));
  }

  private async onResponse(bytes: Uint8Array): Promise<void> {
    if (this.delta) return this.onDeltaResponse(bytes);
    let r: EnvoyJson;
    try {
      r = decodeDiscovery('DiscoveryResponse', bytes);
    } catch (e) {
      log('error', 'config', `ADS: undecodable DiscoveryResponse: ${(e as Error).message}`);
      return;
    }
    const typeUrl = String(r.type_url ?? '');
    const w = this.watches.get(typeUrl);
    if (!w) return;
    const version = String(r.version_info ?? '');
    w.nonce = String(r.nonce ?? '');
    const resources = (r.resources as EnvoyJson[] | undefined) ?? [];
    const err = await this.apply(typeUrl, resources, version, 'sotw');
    this.finish(w, typeUrl, version, err);
  }

  private async onDeltaResponse(bytes: Uint8Array): Promise<void> {
    let r: EnvoyJson;
    try {
      r = decodeDiscovery('DeltaDiscoveryResponse', bytes);
    } catch (e) {
      log('error', 'config', `ADS: undecodable DeltaDiscoveryResponse: ${(e as Error).message}`);
      return;
    }
    const typeUrl = String(r.type_url ?? '');
    const w = this.watches.get(typeUrl);
    if (!w) return;
    w.nonce = String(r.nonce ?? '');
    const version = String(r.system_version_info ?? '');
    const items = (r.resources as EnvoyJson[] | undefined) ?? [];
    const removed = ((r.removed_resources as string[] | undefined) ?? []);
    const resources = items.filter((i) => i.resource).map((i) => i.resource as EnvoyJson);
    const err = await this.apply(typeUrl, resources, version, removed);
    if (!err) {
      for (const i of items) w.held.set(String(i.name), String(i.version ?? ''));
      for (const n of removed) w.held.delete(n);
    }
    this.finish(w, typeUrl, version, err);
  }

  private finish(w: Watch, typeUrl: string, version: string, err: string | undefined): void {
    const st = this.status.updates[SHORT_NAME[typeUrl as keyof typeof SHORT_NAME]];
    if (err) {
      st.rejected++;
      st.lastError = err;
      this.proxy.stats.counter(`${statPrefix(typeUrl)}.update_rejected`).value++;
      log('warning', 'config', `${SHORT_NAME[typeUrl as keyof typeof SHORT_NAME]} update rejected (NACK): ${err}`);
      this.send(w, err);
      return;
    }
    st.accepted++;
    this.proxy.stats.counter(`${statPrefix(typeUrl)}.update_success`).value++;
    this.proxy.stats.gauge(`${statPrefix(typeUrl)}.version`).value = 0;
    w.version = version;
    // Dependent subscriptions first (EDS after CDS, RDS after LDS), then the ACK, as Envoy orders them.
    if (typeUrl === TypeUrl.Cluster) this.resubscribe(TypeUrl.ClusterLoadAssignment, this.edsNames());
    if (typeUrl === TypeUrl.Listener) this.resubscribe(TypeUrl.RouteConfiguration, this.rdsNames());
    if (typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.Listener) this.secretsChanged();
    this.send(w);
    if (typeUrl === TypeUrl.Cluster && !this.initialCds) {
      this.initialCds = true;
      this.maybeStartLds();
    }
    if (typeUrl === TypeUrl.ClusterLoadAssignment || typeUrl === TypeUrl.Secret) this.maybeStartLds();
    this.checkLive();
  }

  /** Secrets arrived (over ADS or an SDS stream): warming clusters may let LDS start, listeners go live. */
  secretsArrived(): void {
    this.maybeStartLds();
    this.checkLive();
  }

  /** The secrets to fetch over ADS follow the clusters and listeners that name them. */
  secretsChanged(): void {
    this.resubscribe(TypeUrl.Secret, this.proxy.sds.adsNames);
  }

  private maybeStartLds(): void {
    const lds = this.watches.get(TypeUrl.Listener);
    if (!lds || lds.requested || !this.initialCds) return;
    if (this.proxy.clusters.warming().length) return;
    this.send(lds);
  }

  private checkLive(): void {
    const lds = this.watches.get(TypeUrl.Listener);
    const cds = this.watches.get(TypeUrl.Cluster);
    if (cds && !this.initialCds) return;
    if (lds && (!lds.requested || lds.version === '' && this.status.updates.LDS.accepted === 0)) return;
    if (this.proxy.listeners.warming.size) return;
    this.proxy.markLive();
  }

  private resubscribe(typeUrl: string, names: Set<string>): void {
    const w = this.watches.get(typeUrl)!;
    const old = w.names!;
    const same = old.size === names.size && [...names].every((n) => old.has(n));
    if (same && w.requested) return;
    const gone = [...old].filter((n) => !names.has(n));
    w.names = names;
    if (typeUrl === TypeUrl.RouteConfiguration) for (const n of gone) { this.proxy.routes.delete(n); this.proxy.routeMeta.delete(n); }
    if (names.size === 0 && !w.requested) return;
    this.send(w, undefined, gone);
  }

  private edsNames(): Set<string> {
    const s = new Set<string>();
    for (const c of this.proxy.clusters.clusters.values()) if (c.config.type === 'EDS') s.add(c.config.edsServiceName);
    return s;
  }

  private rdsNames(): Set<string> {
    const s = new Set<string>();
    for (const al of [...this.proxy.listeners.listeners.values(), ...this.proxy.listeners.warming.values()]) for (const n of al.cfg.rdsNames) s.add(n);
    return s;
  }

  private async apply(typeUrl: string, resources: EnvoyJson[], version: string, removed: string[] | 'sotw'): Promise<string | undefined> {
    for (const r of resources) {
      if (r['@type'] !== typeUrl) return `resource of type ${String(r['@type'])} in a ${typeUrl} response`;
    }
    const strip = (r: EnvoyJson): EnvoyJson => r;
    switch (typeUrl) {
      case TypeUrl.Cluster:
        return this.proxy.updateClusters(resources.map(strip), version, removed);
      case TypeUrl.ClusterLoadAssignment:
        return this.proxy.updateEndpoints(resources, version);
      case TypeUrl.Secret:
        return this.proxy.updateSecrets(resources, version, removed === 'sotw' ? [] : removed);
      case TypeUrl.Listener: {
        const err = await this.proxy.updateListeners(resources, version, removed);
        if (!err) this.checkLive();
        return err;
      }
      case TypeUrl.RouteConfiguration: {
        const err = await this.proxy.updateRoutes(resources, version, removed === 'sotw' ? [] : removed);
        if (!err) this.checkLive();
        return err;
      }
      default:
        return `resource type ${typeUrl} is not supported by spar proxy`;
    }
  }
}

function statPrefix(typeUrl: string): string {
  switch (typeUrl) {
    case TypeUrl.Cluster: return 'cluster_manager.cds';
    case TypeUrl.Listener: return 'listener_manager.lds';
    case TypeUrl.RouteConfiguration: return 'http.rds';
    case TypeUrl.Secret: return 'sds';
    default: return 'cluster_manager.eds';
  }
}
