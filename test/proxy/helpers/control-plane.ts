/**
 * An in-process xDS control plane for proxy tests (STYLE.md habit 9): a grpc-js server with ADS in
 * both forms (SotW and delta) and SDS's StreamSecrets, holding a resource set per type URL. `set()` replaces a type's
 * resources and pushes them to every stream subscribed; every request the proxy sends (ACKs, NACKs
 * with their error_detail) is recorded.
 */
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { decodeDiscovery, encodeDeltaDiscoveryResponse, encodeDiscoveryResponse, type EnvoyJson } from '../../../src/xds/codec.js';

type Stream = ServerDuplexStream<Uint8Array, Uint8Array>;

export interface RecordedRequest {
  type_url: string;
  version_info?: string;
  response_nonce?: string;
  resource_names?: string[];
  resource_names_subscribe?: string[];
  error_detail?: { code?: number; message?: string };
  delta: boolean;
}

const ident = (b: Uint8Array) => Buffer.from(b);
const fromBuf = (b: Buffer) => new Uint8Array(b);
const method = (path: string) => ({ path, requestStream: true, responseStream: true, requestSerialize: ident, requestDeserialize: fromBuf, responseSerialize: ident, responseDeserialize: fromBuf });

export class ControlPlane {
  readonly requests: RecordedRequest[] = [];
  private readonly resources = new Map<string, EnvoyJson[]>();
  private readonly versions = new Map<string, number>();
  private readonly streams = new Set<{ call: Stream; delta: boolean; subs: Map<string, Set<string> | undefined> }>();
  private server: Server | undefined;
  private readonly sent = new WeakMap<object, Map<string, Set<string>>>();
  private nonce = 0;
  port = 0;

  async start(port = 0): Promise<void> {
    const server = new Server();
    server.addService({
      StreamAggregatedResources: method('/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources'),
      DeltaAggregatedResources: method('/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources'),
    } as never, {
      StreamAggregatedResources: (call: Stream) => this.onStream(call, false),
      DeltaAggregatedResources: (call: Stream) => this.onStream(call, true),
    } as never);
    // SDS on its own stream (an agent's SDS server, Istio's `sds-grpc`): the same secrets as over ADS.
    server.addService({
      StreamSecrets: method('/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets'),
    } as never, {
      StreamSecrets: (call: Stream) => this.onStream(call, false),
    } as never);
    this.port = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const s of this.streams) s.call.destroy();
    this.streams.clear();
    this.server?.forceShutdown();
    this.server = undefined;
  }

  /** Replaces every resource of a type and pushes to subscribers. */
  set(typeUrl: string, resources: EnvoyJson[]): void {
    this.resources.set(typeUrl, resources.map((r) => ({ '@type': typeUrl, ...r })));
    this.versions.set(typeUrl, (this.versions.get(typeUrl) ?? 0) + 1);
    for (const s of this.streams) if (s.subs.has(typeUrl)) this.push(s, typeUrl);
  }

  /** Requests of a type that carry an error_detail (NACKs). */
  nacks(typeUrl?: string): RecordedRequest[] {
    return this.requests.filter((r) => r.error_detail && (!typeUrl || r.type_url === typeUrl));
  }

  /** ACKs of a given version of a type. */
  acked(typeUrl: string): string[] {
    return this.requests.filter((r) => r.type_url === typeUrl && !r.error_detail && r.response_nonce).map((r) => r.version_info ?? '');
  }

  get connected(): number {
    return this.streams.size;
  }

  private onStream(call: Stream, delta: boolean): void {
    const st = { call, delta, subs: new Map<string, Set<string> | undefined>() };
    this.streams.add(st);
    call.on('data', (b: Uint8Array) => {
      const req = decodeDiscovery(delta ? 'DeltaDiscoveryRequest' : 'DiscoveryRequest', b) as unknown as RecordedRequest;
      req.delta = delta;
      this.requests.push(req);
      const t = req.type_url;
      const names = delta ? req.resource_names_subscribe : req.resource_names;
      const had = st.subs.has(t);
      const prev = st.subs.get(t);
      const next = names && names.length ? new Set([...(delta && prev ? prev : []), ...names]) : delta && prev ? prev : undefined;
      st.subs.set(t, next);
      const changed = !had || JSON.stringify([...(prev ?? [])].sort()) !== JSON.stringify([...(next ?? [])].sort());
      if (!req.response_nonce || changed) this.push(st, t);
    });
    call.on('error', () => {});
    call.on('end', () => {
      this.streams.delete(st);
      call.end();
    });
    call.on('close', () => this.streams.delete(st));
  }

  private push(st: { call: Stream; delta: boolean; subs: Map<string, Set<string> | undefined> }, typeUrl: string): void {
    const all = this.resources.get(typeUrl);
    if (!all) return;
    const names = st.subs.get(typeUrl);
    const nameOf = (r: EnvoyJson) => String(r.name ?? r.cluster_name ?? '');
    const rs = names ? all.filter((r) => names.has(nameOf(r))) : all;
    const version = String(this.versions.get(typeUrl) ?? 0);
    const nonce = String(++this.nonce);
    if (st.delta) {
      const sent = this.sent.get(st) ?? new Map<string, Set<string>>();
      this.sent.set(st, sent);
      const before = sent.get(typeUrl) ?? new Set<string>();
      const now = new Set(rs.map(nameOf));
      sent.set(typeUrl, now);
      const removed = [...before].filter((n) => !now.has(n));
      st.call.write(encodeDeltaDiscoveryResponse({ type_url: typeUrl, system_version_info: version, nonce, resources: rs.map((r) => ({ name: nameOf(r), version, resource: r })), removed_resources: removed }));
    } else {
      st.call.write(encodeDiscoveryResponse({ type_url: typeUrl, version_info: version, nonce, resources: rs }));
    }
  }
}
