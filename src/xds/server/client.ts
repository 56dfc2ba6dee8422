/**
 * A minimal ADS client that behaves like a proxy: sends a node, subscribes, ACKs every response
 * (or NACKs when told to), and — like Envoy — asks for the endpoints of its EDS clusters and the
 * route configurations its listeners name. Used by tests and by the control-plane bench to play
 * many proxies at once; responses are decoded only as far as the caller needs.
 */
import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { fromBinary } from '@bufbuild/protobuf';
import { decodeResource, encodeDiscovery, messageType, type EnvoyJson } from '../codec.js';
import { TypeUrl } from '../resource-types.js';
import { adsClient } from './service.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

/** One response as received: the envelope decoded, resources on demand. */
export interface ReceivedResponse {
  typeUrl: string;
  versionInfo: string;
  nonce: string;
  /** SotW resources / delta resources (bytes). */
  raw: { typeUrl: string; value: Uint8Array; name?: string; version?: string }[];
  removed: string[];
  /** Decodes the resources into JSON form (with @type). */
  resources(): EnvoyJson[];
  receivedAt: number;
}

export interface AdsClientOptions {
  delta?: boolean;
  /** Subscribe to EDS/RDS names found in clusters and listeners, as Envoy does (default true). */
  follow?: boolean;
  /** gRPC channel options over the defaults (no message size limits, as Envoy and Istio's agent). */
  channelOptions?: grpc.ChannelOptions;
  /** Return an error message to NACK a response instead of ACKing it. */
  reject?: (r: ReceivedResponse) => string | undefined;
}

interface Envelope {
  versionInfo?: string;
  systemVersionInfo?: string;
  typeUrl: string;
  nonce: string;
  resources: ({ typeUrl: string; value: Uint8Array } | { name: string; version: string; resource?: { typeUrl: string; value: Uint8Array } })[];
  removedResources?: string[];
}

export class SimulatedProxy extends EventEmitter {
  readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<EnvoyJson, Buffer>;
  private nodeSent = false;
  /** Names subscribed per type (SotW: the whole list; delta: what was subscribed). */
  readonly names = new Map<string, Set<string>>();
  /** Last version accepted per type (SotW). */
  readonly accepted = new Map<string, string>();
  /** Resources held per type (delta: name → bytes; SotW: the last accepted set). */
  readonly held = new Map<string, Map<string, { typeUrl: string; value: Uint8Array }>>();
  readonly received: ReceivedResponse[] = [];
  closed = false;

  constructor(address: string, readonly node: EnvoyJson, readonly opts: AdsClientOptions = {}) {
    super();
    this.client = adsClient(address, opts.channelOptions);
    const method = opts.delta ? '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources' : '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
    const kind = opts.delta ? 'DeltaDiscoveryRequest' : 'DiscoveryRequest';
    this.call = this.client.makeBidiStreamRequest(method, (j: EnvoyJson) => Buffer.from(encodeDiscovery(kind, j)), (b: Buffer) => b);
    this.call.on('data', (b: Buffer) => this.onResponse(b));
    this.call.on('error', (e) => {
      if (!this.closed) this.emit('error', e);
    });
    this.call.on('end', () => this.emit('end'));
  }

  private write(req: EnvoyJson): void {
    if (!this.nodeSent) {
      req = { node: this.node, ...req };
      this.nodeSent = true;
    }
    this.call.write(req);
  }

  /** Subscribes to a type: wildcard when names is omitted. */
  subscribe(typeUrl: string, names?: string[]): void {
    const set = this.names.get(typeUrl) ?? new Set<string>();
    for (const n of names ?? []) set.add(n);
    this.names.set(typeUrl, set);
    if (this.opts.delta) this.write({ type_url: typeUrl, resource_names_subscribe: names ?? [] });
    else this.write({ type_url: typeUrl, resource_names: [...set], version_info: this.accepted.get(typeUrl) ?? '', response_nonce: this.lastNonce.get(typeUrl) ?? '' });
  }

  private lastNonce = new Map<string, string>();

  private onResponse(b: Buffer): void {
    const env = fromBinary(messageType(this.opts.delta ? 'envoy.service.discovery.v3.DeltaDiscoveryResponse' : 'envoy.service.discovery.v3.DiscoveryResponse'), b) as unknown as Envelope;
    const raw = env.resources.map((r) => ('value' in r ? { typeUrl: r.typeUrl, value: r.value } : { typeUrl: r.resource?.typeUrl ?? '', value: r.resource?.value ?? new Uint8Array(), name: r.name, version: r.version }));
    const resp: ReceivedResponse = {
      typeUrl: env.typeUrl,
      versionInfo: env.versionInfo ?? env.systemVersionInfo ?? '',
      nonce: env.nonce,
      raw,
      removed: env.removedResources ?? [],
      resources: () => raw.map((r) => decodeResource(r)),
      receivedAt: Date.now(),
    };
    this.received.push(resp);
    if (this.received.length > 1000) this.received.shift();
    const error = this.opts.reject?.(resp);
    if (error) this.nack(resp, error);
    else this.ack(resp);
    this.emit('response', resp);
  }

  private ack(r: ReceivedResponse): void {
    const t = r.typeUrl;
    this.lastNonce.set(t, r.nonce);
    if (this.opts.delta) {
      const held = this.held.get(t) ?? new Map();
      for (const x of r.raw) held.set(x.name ?? '', x);
      for (const n of r.removed) held.delete(n);
      this.held.set(t, held);
      this.write({ type_url: t, response_nonce: r.nonce });
    } else {
      this.accepted.set(t, r.versionInfo);
      if (t === TypeUrl.Cluster || t === TypeUrl.Listener) this.held.set(t, new Map(r.raw.map((x, i) => [String(i), x])));
      this.write({ type_url: t, version_info: r.versionInfo, response_nonce: r.nonce, resource_names: [...(this.names.get(t) ?? [])] });
    }
    if (this.opts.follow !== false) this.follow(r);
  }

  private nack(r: ReceivedResponse, message: string): void {
    this.lastNonce.set(r.typeUrl, r.nonce);
    const error_detail = { code: 3, message };
    if (this.opts.delta) this.write({ type_url: r.typeUrl, response_nonce: r.nonce, error_detail });
    else this.write({ type_url: r.typeUrl, version_info: this.accepted.get(r.typeUrl) ?? '', response_nonce: r.nonce, resource_names: [...(this.names.get(r.typeUrl) ?? [])], error_detail });
  }

  /** Envoy's behaviour: clusters of type EDS make it ask for their endpoints, listeners for their routes. */
  private follow(r: ReceivedResponse): void {
    let want: string[] = [];
    let type: string | undefined;
    if (r.typeUrl === TypeUrl.Cluster) {
      type = TypeUrl.ClusterLoadAssignment;
      for (const c of r.resources()) {
        if (c.type !== 'EDS') continue;
        const sn = (c.eds_cluster_config as EnvoyJson | undefined)?.service_name;
        want.push(typeof sn === 'string' && sn ? sn : String(c.name));
      }
    } else if (r.typeUrl === TypeUrl.Listener) {
      type = TypeUrl.RouteConfiguration;
      want = routeNames(r.resources());
    }
    if (!type) return;
    const have = this.names.get(type) ?? new Set<string>();
    const added = want.filter((n) => !have.has(n));
    if (added.length > 0) this.subscribe(type, added);
  }

  /** Resolves with the next response matching `pred`. */
  next(pred: (r: ReceivedResponse) => boolean = () => true, timeoutMs = 5000): Promise<ReceivedResponse> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('response', on);
        reject(new Error(`no matching xDS response within ${timeoutMs} ms`));
      }, timeoutMs);
      const on = (r: ReceivedResponse) => {
        if (!pred(r)) return;
        clearTimeout(timer);
        this.off('response', on);
        resolve(r);
      };
      this.on('response', on);
    });
  }

  close(): void {
    this.closed = true;
    this.call.cancel();
    this.client.close();
  }
}

/** RDS names referenced by listeners' HTTP connection managers. */
export function routeNames(listeners: EnvoyJson[]): string[] {
  const out = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!v || typeof v !== 'object') return;
    const o = v as EnvoyJson;
    if (o['@type'] === HCM) {
      const rds = o.rds as EnvoyJson | undefined;
      if (rds && typeof rds.route_config_name === 'string') out.add(rds.route_config_name);
    }
    for (const x of Object.values(o)) visit(x);
  };
  visit(listeners);
  return [...out];
}
