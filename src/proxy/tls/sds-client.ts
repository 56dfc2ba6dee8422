/**
 * SDS over its own gRPC stream (a secret's sds_config.api_config_source: GRPC with envoy_grpc to a
 * static cluster — Istio's `sds-grpc`, the agent's SDS server): SecretDiscoveryService/StreamSecrets,
 * State-of-the-World, subscribing to the secret names the clusters and listeners use. Each response
 * is compiled in full, then applied and ACKed, or NACKed with the error. The stream reconnects with
 * jittered exponential backoff (0.5 s doubling to 30 s), keeping the secrets it had.
 */
import { credentials, Client, Metadata, type ClientDuplexStream } from '@grpc/grpc-js';
import { decodeDiscovery, encodeDiscovery, type EnvoyJson } from '../../xds/codec.js';
import { TypeUrl } from '../../xds/resource-types.js';
import { log } from '../log.js';
import type { SecretManager } from './secrets.js';

const PATH = '/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets';

export class SdsClient {
  private client: Client | undefined;
  private stream: ClientDuplexStream<Uint8Array, Uint8Array> | undefined;
  private names = new Set<string>();
  private version = '';
  private nonce = '';
  private backoffMs = 500;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private sentNode = false;

  constructor(
    private readonly cluster: string,
    private readonly address: () => string | undefined,
    private readonly node: () => EnvoyJson,
    private readonly secrets: SecretManager,
  ) {}

  get source(): string {
    return `grpc:${this.cluster}`;
  }

  /** Replaces the subscribed names (a request goes out when they changed). */
  subscribe(names: Set<string>): void {
    const same = names.size === this.names.size && [...names].every((n) => this.names.has(n));
    if (same) return;
    this.names = names;
    if (this.stream) this.send();
    else if (!this.timer && !this.stopped && names.size) this.start();
  }

  private start(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const addr = this.address();
    if (!addr) {
      log('warning', 'config', `SDS cluster ${JSON.stringify(this.cluster)} has no hosts; retrying`);
      return this.retry();
    }
    this.client ??= new Client(addr, credentials.createInsecure(), { 'grpc.keepalive_time_ms': 30000, 'grpc.max_receive_message_length': -1 });
    this.sentNode = false;
    this.nonce = '';
    const stream = this.client.makeBidiStreamRequest(PATH, (b: Uint8Array) => Buffer.from(b), (b: Buffer) => new Uint8Array(b), new Metadata());
    this.stream = stream;
    stream.on('data', (bytes: Uint8Array) => {
      this.backoffMs = 500;
      this.onResponse(bytes);
    });
    stream.on('error', (e: Error) => log('warning', 'config', `SDS stream to ${this.cluster} (${addr}) failed: ${e.message}`));
    stream.on('status', () => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.retry();
    });
    this.send();
  }

  private retry(): void {
    if (this.stopped) return;
    this.client?.close();
    this.client = undefined;
    const delay = Math.random() * this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 30000);
    this.timer = setTimeout(() => this.start(), delay);
    this.timer.unref();
  }

  private send(error?: string): void {
    const msg: EnvoyJson = { version_info: this.version, type_url: TypeUrl.Secret, resource_names: [...this.names], response_nonce: this.nonce };
    if (!this.sentNode) {
      msg.node = this.node();
      this.sentNode = true;
    }
    if (error) msg.error_detail = { code: 3, message: error };
    this.stream?.write(encodeDiscovery('DiscoveryRequest', msg));
  }

  private onResponse(bytes: Uint8Array): void {
    let r: EnvoyJson;
    try {
      r = decodeDiscovery('DiscoveryResponse', bytes);
    } catch (e) {
      log('error', 'config', `SDS: undecodable DiscoveryResponse: ${(e as Error).message}`);
      return;
    }
    if (r.type_url !== TypeUrl.Secret) return;
    this.nonce = String(r.nonce ?? '');
    const version = String(r.version_info ?? '');
    const resources = (r.resources as EnvoyJson[] | undefined) ?? [];
    const bad = resources.find((x) => x['@type'] !== TypeUrl.Secret);
    const err = bad ? `resource of type ${String(bad['@type'])} in a ${TypeUrl.Secret} response` : this.secrets.update(this.source, resources, version);
    if (err) log('warning', 'config', `SDS update rejected (NACK): ${err}`);
    else this.version = version;
    this.send(err);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stream?.cancel();
    this.client?.close();
  }
}

/** Every SDS subscription of the proxy: one stream per SDS cluster, and the names ADS must ask for. */
export class SdsStreams {
  private readonly clients = new Map<string, SdsClient>();
  /** Secret names to request over ADS. */
  adsNames = new Set<string>();

  constructor(
    private readonly secrets: SecretManager,
    private readonly address: (cluster: string) => string | undefined,
    private readonly node: () => EnvoyJson,
  ) {}

  /** Subscribes to exactly the secrets named by the current clusters and listeners. */
  sync(refs: { source: string; name: string }[]): void {
    const by = new Map<string, Set<string>>();
    for (const r of refs) {
      let s = by.get(r.source);
      if (!s) by.set(r.source, (s = new Set()));
      s.add(r.name);
    }
    this.adsNames = by.get('ads') ?? new Set();
    for (const [source, names] of by) {
      if (!source.startsWith('grpc:')) continue;
      const cluster = source.slice('grpc:'.length);
      let c = this.clients.get(cluster);
      if (!c) this.clients.set(cluster, (c = new SdsClient(cluster, () => this.address(cluster), this.node, this.secrets)));
      c.subscribe(names);
    }
    for (const [cluster, c] of this.clients) if (!by.has(`grpc:${cluster}`)) c.subscribe(new Set());
  }

  stop(): void {
    for (const c of this.clients.values()) c.stop();
  }
}
