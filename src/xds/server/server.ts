/**
 * The ADS server: `envoy.service.discovery.v3.AggregatedDiscoveryService`, state of the world
 * (StreamAggregatedResources) and incremental (DeltaAggregatedResources), over @grpc/grpc-js.
 *
 * Semantics follow Envoy's xDS protocol document:
 * - Each type has its own versions and nonces. A request whose response_nonce is the last one
 *   sent is an ACK (no error_detail) or a NACK (error_detail); an older nonce is stale and ignored.
 *   A NACK is recorded (proxy-status, /debug/syncz, metrics) and never answered with the same
 *   config: the proxy keeps its last good config and the next change is pushed as usual.
 * - CDS and LDS are wildcard (every resource in each SotW response); EDS and RDS are answered for
 *   the names asked for — a name asked for that the generator does not produce gets an empty
 *   ClusterLoadAssignment / RouteConfiguration so that Envoy's warming clusters and listeners
 *   complete. A SotW EDS response may carry only some names (endpoint-only pushes do that).
 * - Pushes go out in Envoy's order (CDS, EDS, LDS, RDS, SDS); when clusters change, endpoints are
 *   resent too, since a re-created cluster warms until it has its endpoints.
 * - Every resource is checked and encoded once (resource-cache.ts); a bad one is dropped and, where
 *   the proxy had a good version of it, the good version is kept in the response.
 *
 * The server holds one immutable push context at a time; `push()` installs a new one and pushes
 * what the request's scope says to every connection. Debouncing happens before (src/pilot).
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EnvoyJson } from '../codec.js';
import { PUSH_ORDER, SHORT_NAME, TypeUrl, type ResourceTypeUrl } from '../resource-types.js';
import { Connection, type Watch } from './connection.js';
import type { PushRequest, XdsGenerator } from './generator.js';
import { ResourceCache, type DroppedResource, type PreparedResource } from './resource-cache.js';
import { PushQueue } from './push-queue.js';
import { adsServiceDefinition, GRPC_DEFAULT_MAX_RECEIVE, SINGLE_TYPE_SERVICES, singleTypeServiceDefinition, XDS_SERVER_OPTIONS } from './service.js';
import { frameDeltaDiscoveryResponse, frameDiscoveryResponse } from './wire.js';

export interface XdsServerOptions<P, C> {
  generator: XdsGenerator<P, C>;
  log?: Logger;
  /** ControlPlane.identifier in responses. */
  controlPlaneId?: string;
}

/** Emitted on every response sent. */
export interface PushEvent {
  con: Connection;
  typeUrl: ResourceTypeUrl;
  resources: number;
  bytes: number;
  /** The push's start (config change), ms since epoch. */
  start: number;
}

/** Emitted per type when a stream ends with responses of that type still unanswered. */
export interface UnackedEvent {
  con: Connection;
  typeUrl: ResourceTypeUrl;
  responses: number;
  /** The largest of them, bytes. */
  largestBytes: number;
}

/** Emitted on every ACK and NACK. */
export interface AckEvent {
  con: Connection;
  typeUrl: ResourceTypeUrl;
  nonce: string;
  version: string;
  /** ms from the response being sent to its ACK/NACK. */
  latencyMs: number;
  /** ms from the config change behind the response to its ACK/NACK. */
  sincePushStartMs: number;
  error?: string;
}

interface PushOptions {
  start: number;
  /** Send even when nothing changed since the last response (initial requests, EDS after CDS). */
  force?: boolean;
  /** Only these names (a partial EDS push, newly subscribed names). */
  onlyNames?: string[];
  /** Delta: answer even when there is nothing to send (a first request). */
  respondEmpty?: boolean;
}

const KNOWN_TYPES = new Set<string>(PUSH_ORDER);
const WILDCARD_TYPES = new Set<string>([TypeUrl.Cluster, TypeUrl.Listener]);

/** Names of resources Envoy waits for, with what to send when the generator has none. */
function placeholderFor(typeUrl: string, name: string): EnvoyJson | undefined {
  if (typeUrl === TypeUrl.ClusterLoadAssignment) return { '@type': typeUrl, cluster_name: name };
  if (typeUrl === TypeUrl.RouteConfiguration) return { '@type': typeUrl, name };
  return undefined;
}

/** `outbound|9080|v1|reviews.default.svc.cluster.local` → `reviews.default.svc.cluster.local`. */
export function hostOfCluster(name: string): string | undefined {
  const parts = name.split('|');
  return parts.length === 4 && parts[3] ? parts[3] : undefined;
}

export class XdsServer<P = unknown, C = unknown> extends EventEmitter {
  readonly connections = new Map<string, Connection<P>>();
  readonly cache = new ResourceCache();
  /** Resources dropped in the current push context, by type and name. */
  readonly dropped = new Map<string, DroppedResource & { at: Date }>();
  private pushContext?: C;
  /** The current push context's version (SotW version_info). */
  version = '';
  private versionCounter = 0;
  private nonceCounter = 0;
  private readonly noncePrefix = randomBytes(3).toString('hex');
  private grpcServer?: grpc.Server;
  private readonly queue = new PushQueue<Connection<P>>((con, req) => this.pushConnection(con, req));
  private readonly generator: XdsGenerator<P, C>;
  private readonly log?: Logger;
  private readonly controlPlaneId: string;

  constructor(opts: XdsServerOptions<P, C>) {
    super();
    this.generator = opts.generator;
    this.log = opts.log;
    this.controlPlaneId = opts.controlPlaneId ?? 'spar-pilot';
    this.cache.onDrop = (d) => {
      this.dropped.set(`${d.typeUrl}\0${d.name}`, { ...d, at: new Date() });
      this.log?.error({ type: SHORT_NAME[d.typeUrl as ResourceTypeUrl], resource: d.name, error: d.error }, `dropped ${SHORT_NAME[d.typeUrl as ResourceTypeUrl]} resource ${d.name} before push: ${d.error}`);
      this.emit('drop', d);
    };
  }

  get push(): C | undefined {
    return this.pushContext;
  }

  /** Installs a push context without pushing (before the first proxy connects). */
  setPushContext(push: C): void {
    this.pushContext = push;
    this.versionCounter++;
    this.version = `${new Date().toISOString().slice(0, 19)}Z/${this.versionCounter}`;
    this.cache.nextGeneration();
    this.dropped.clear();
  }

  /**
   * Installs `push` and queues what `req` covers for every connected proxy. The queue serves one
   * connection per event-loop turn, always from the newest push context; a connection still
   * waiting when another push comes gets the two requests merged.
   */
  pushAll(push: C, req: PushRequest): void {
    this.setPushContext(push);
    const types = this.typesFor(req);
    this.log?.info({ version: this.version, reason: req.reason, full: req.full, types: [...types].map((t) => SHORT_NAME[t]), proxies: this.connections.size }, 'push');
    for (const con of this.connections.values()) this.queue.enqueue(con, req);
  }

  /** Resolves once every queued push has been sent. */
  pushed(): Promise<void> {
    return this.queue.idle();
  }

  /** The types a request touches: EDS alone for endpoint changes, else those whose kinds changed. */
  typesFor(req: PushRequest): Set<ResourceTypeUrl> {
    if (!req.full) return new Set([TypeUrl.ClusterLoadAssignment]);
    const out = new Set<ResourceTypeUrl>();
    for (const t of PUSH_ORDER) {
      if (req.kinds.size === 0) {
        out.add(t);
        continue;
      }
      const affecting = this.generator.configKindsAffecting(t);
      for (const k of req.kinds) if (affecting.has(k)) out.add(t);
    }
    return out;
  }

  private pushConnection(con: Connection<P>, req: PushRequest): void {
    if (!this.connections.has(con.conId)) return;
    const types = this.typesFor(req);
    if (!req.full) {
      const w = con.watches.get(TypeUrl.ClusterLoadAssignment);
      if (!w) return;
      const hosts = req.edsHosts;
      const names = [...w.names].filter((n) => !hosts || hosts.has(hostOfCluster(n) ?? ''));
      if (names.length > 0) this.pushWatch(con, w, { start: req.start, onlyNames: names });
      return;
    }
    let clustersSent = false;
    for (const t of PUSH_ORDER) {
      const w = con.watches.get(t);
      if (!w) continue;
      if (t === TypeUrl.ClusterLoadAssignment && clustersSent) this.pushWatch(con, w, { start: req.start, force: true });
      else if (types.has(t)) {
        const sent = this.pushWatch(con, w, { start: req.start });
        if (t === TypeUrl.Cluster) clustersSent = sent;
      }
    }
  }

  // ---- building and sending one response ----

  private nextNonce(): string {
    return `${this.noncePrefix}-${++this.nonceCounter}`;
  }

  /** Generates, checks and encodes one type for one connection. */
  private build(con: Connection<P>, w: Watch, names: string[] | undefined): { resources: PreparedResource[]; droppedNames: Set<string> } {
    let jsons: EnvoyJson[] = [];
    try {
      if (this.pushContext !== undefined) jsons = this.generator.generate(con.proxy, this.pushContext, w.typeUrl, names);
    } catch (err) {
      this.log?.error({ err, proxy: con.conId, type: SHORT_NAME[w.typeUrl] }, 'generator failed; proxy keeps its config');
      this.emit('generatorError', { con, typeUrl: w.typeUrl, error: (err as Error).message });
      throw err;
    }
    const set = this.cache.prepareSet(w.typeUrl, jsons);
    const droppedNames = new Set(set.dropped.map((d) => d.name));
    let resources = set.resources;
    if (names) {
      const want = new Set(names);
      resources = resources.filter((r) => want.has(r.name));
      const have = new Set(resources.map((r) => r.name));
      for (const n of names) {
        if (have.has(n) || droppedNames.has(n)) continue;
        const ph = placeholderFor(w.typeUrl, n);
        const prepared = ph && this.cache.placeholder(w.typeUrl, ph);
        if (prepared) resources.push(prepared);
      }
    }
    return { resources, droppedNames };
  }

  /** Pushes one type to one connection; returns whether a response was sent. */
  private pushWatch(con: Connection<P>, w: Watch, opts: PushOptions): boolean {
    try {
      return con.delta ? this.pushDelta(con, w, opts) : this.pushSotw(con, w, opts);
    } catch {
      return false;
    }
  }

  private pushSotw(con: Connection<P>, w: Watch, opts: PushOptions): boolean {
    const names = w.wildcard ? undefined : [...(opts.onlyNames ?? w.names)];
    if (names && names.length === 0) return false;
    const { resources, droppedNames } = this.build(con, w, names);
    if (w.wildcard) {
      // SotW removes what a wildcard response omits: keep the last good version of a dropped resource.
      for (const n of droppedNames) {
        const prev = w.lastResources.get(n);
        if (prev) resources.push(prev);
      }
    }
    const partial = opts.onlyNames !== undefined;
    const hash = resources.map((r) => `${r.name}@${r.version}`).join(',');
    if (!opts.force && !partial && hash === w.lastHash) return false;
    const nonce = this.nextNonce();
    const bytes = frameDiscoveryResponse({ versionInfo: this.version, typeUrl: w.typeUrl, nonce, resources, controlPlane: this.controlPlaneId });
    con.send(bytes);
    w.lastHash = partial ? '' : hash;
    if (!partial) w.lastResources.clear();
    for (const r of resources) w.lastResources.set(r.name, r);
    this.sent(con, w, nonce, opts.start, resources.length, bytes.length);
    return true;
  }

  private pushDelta(con: Connection<P>, w: Watch, opts: PushOptions): boolean {
    const names = opts.onlyNames ?? (w.wildcard ? undefined : [...w.names]);
    if (names && names.length === 0 && !opts.respondEmpty) return false;
    const { resources, droppedNames } = names && names.length === 0 ? { resources: [], droppedNames: new Set<string>() } : this.build(con, w, names);
    const changed = resources.filter((r) => opts.force || w.sent.get(r.name) !== r.version);
    const removed: string[] = [];
    if (w.wildcard && opts.onlyNames === undefined) {
      const present = new Set(resources.map((r) => r.name));
      for (const n of w.sent.keys()) if (!present.has(n) && !droppedNames.has(n)) removed.push(n);
    }
    if (changed.length === 0 && removed.length === 0 && !opts.respondEmpty) return false;
    const nonce = this.nextNonce();
    const bytes = frameDeltaDiscoveryResponse({
      systemVersionInfo: this.version,
      typeUrl: w.typeUrl,
      nonce,
      resources: changed.map((r) => ({ name: r.name, version: r.version, resource: r })),
      removed,
      controlPlane: this.controlPlaneId,
    });
    con.send(bytes);
    for (const r of changed) w.sent.set(r.name, r.version);
    for (const n of removed) w.sent.delete(n);
    this.sent(con, w, nonce, opts.start, changed.length, bytes.length);
    return true;
  }

  private sent(con: Connection<P>, w: Watch, nonce: string, start: number, resources: number, bytes: number): void {
    const now = Date.now();
    w.nonceSent = nonce;
    w.versionSent = this.version;
    w.sentAt = now;
    w.pushStart = start;
    w.pending.set(nonce, { sentAt: now, pushStart: start, version: this.version, bytes });
    if (w.pending.size > 64) w.pending.delete(w.pending.keys().next().value as string);
    this.log?.debug({ proxy: con.conId, type: SHORT_NAME[w.typeUrl], nonce, version: this.version, resources, bytes }, 'sent');
    this.emit('push', { con, typeUrl: w.typeUrl, resources, bytes, start } satisfies PushEvent);
  }

  // ---- requests ----

  private connect(call: grpc.ServerDuplexStream<EnvoyJson, Uint8Array>, node: EnvoyJson | undefined, delta: boolean): Connection<P> | undefined {
    if (!node || typeof node.id !== 'string' || !node.id) {
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'the first request on an ADS stream must carry node.id' });
      return undefined;
    }
    let proxy: P;
    try {
      proxy = this.generator.proxyFromNode(node);
    } catch (err) {
      this.log?.warn({ node: node.id, err: (err as Error).message }, 'rejected ADS stream: bad node');
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: `node ${node.id}: ${(err as Error).message}` });
      return undefined;
    }
    const con = new Connection<P>(node.id, node, proxy, delta, call.getPeer(), (b) => call.write(b));
    this.connections.set(con.conId, con);
    this.log?.info({ proxy: con.conId, peer: con.peer, delta }, 'ADS connected');
    this.emit('connect', con);
    return con;
  }

  /** One stream; `onlyType` for the single-type services (their requests may omit type_url). */
  private serve(call: grpc.ServerDuplexStream<EnvoyJson, Uint8Array>, delta: boolean, onlyType?: string): void {
    let con: Connection<P> | undefined;
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      if (con) this.queue.remove(con);
      if (con && this.connections.delete(con.conId)) {
        this.log?.info({ proxy: con.conId }, 'ADS disconnected');
        this.reportUnacked(con);
        this.emit('disconnect', con);
      }
    };
    call.on('data', (req: EnvoyJson) => {
      if (closed) return;
      if (!con) {
        con = this.connect(call, req.node as EnvoyJson | undefined, delta);
        if (!con) {
          closed = true;
          return;
        }
      }
      if (onlyType) {
        if (req.type_url && req.type_url !== onlyType) {
          this.log?.warn({ proxy: con.conId, type: req.type_url, service: onlyType }, 'request for another type on a single-type xDS stream, ignored');
          return;
        }
        req = { ...req, type_url: onlyType };
      }
      try {
        if (delta) this.onDeltaRequest(con, req);
        else this.onSotwRequest(con, req);
      } catch (err) {
        this.log?.error({ err, proxy: con.conId }, 'ADS request failed');
      }
    });
    call.on('end', () => {
      close();
      call.end();
    });
    call.on('error', close);
    call.on('close', close);
    call.on('cancelled', close);
  }

  /**
   * A stream that ends while responses are still unanswered may have been cut by the proxy for
   * one of them: a gRPC client rejects a message over its receive limit (4 MiB unless raised) with
   * RESOURCE_EXHAUSTED and cancels the stream, so that proxy never gets its config. Say so, with
   * the sizes, rather than let it pass as an ordinary disconnect.
   */
  private reportUnacked(con: Connection<P>): void {
    for (const w of con.watches.values()) {
      let largest = 0;
      for (const p of w.pending.values()) largest = Math.max(largest, p.bytes ?? 0);
      if (w.pending.size === 0) continue;
      const type = SHORT_NAME[w.typeUrl];
      const e: UnackedEvent = { con, typeUrl: w.typeUrl, responses: w.pending.size, largestBytes: largest };
      this.emit('unackedAtDisconnect', e);
      if (largest > GRPC_DEFAULT_MAX_RECEIVE) {
        this.log?.warn(
          { proxy: con.conId, type, responses: w.pending.size, bytes: largest },
          `${con.conId} closed its stream without ACKing a ${(largest / 1024 / 1024).toFixed(1)} MB ${type} response: a gRPC client rejects messages over its max receive message size (4 MiB by default); the proxy must raise it`,
        );
      } else this.log?.info({ proxy: con.conId, type, responses: w.pending.size, bytes: largest }, 'stream closed with responses unACKed');
    }
  }

  private onSotwRequest(con: Connection<P>, req: EnvoyJson): void {
    const typeUrl = String(req.type_url ?? '');
    if (!KNOWN_TYPES.has(typeUrl)) {
      this.log?.warn({ proxy: con.conId, type: typeUrl }, 'request for a type Spar does not serve');
      return;
    }
    const t = typeUrl as ResourceTypeUrl;
    const names = Array.isArray(req.resource_names) ? (req.resource_names as string[]) : [];
    const nonce = typeof req.response_nonce === 'string' ? req.response_nonce : '';
    let w = con.watches.get(t);
    const errorDetail = req.error_detail as EnvoyJson | undefined;
    if (errorDetail) {
      if (w && nonce === w.nonceSent) this.nack(con, w, nonce, String(req.version_info ?? ''), errorDetail);
      return;
    }
    if (!w || !nonce) {
      w = con.watch(t);
      w.wildcard = WILDCARD_TYPES.has(t) && (names.length === 0 || names.includes('*'));
      w.names = new Set(names.filter((n) => n !== '*'));
      this.pushWatch(con, w, { start: Date.now(), force: true });
      return;
    }
    if (nonce !== w.nonceSent) {
      this.log?.debug({ proxy: con.conId, type: SHORT_NAME[t], nonce, latest: w.nonceSent }, 'stale nonce, ignored');
      this.emit('expiredNonce', { con, typeUrl: t });
      return;
    }
    this.ack(con, w, nonce, String(req.version_info ?? ''));
    if (!w.wildcard) {
      const next = new Set(names);
      const added = names.filter((n) => !w.names.has(n));
      w.names = next;
      if (added.length > 0) this.pushWatch(con, w, { start: Date.now(), force: true });
    }
  }

  private onDeltaRequest(con: Connection<P>, req: EnvoyJson): void {
    const typeUrl = String(req.type_url ?? '');
    if (!KNOWN_TYPES.has(typeUrl)) {
      this.log?.warn({ proxy: con.conId, type: typeUrl }, 'request for a type Spar does not serve');
      return;
    }
    const t = typeUrl as ResourceTypeUrl;
    const subscribe = Array.isArray(req.resource_names_subscribe) ? (req.resource_names_subscribe as string[]) : [];
    const unsubscribe = Array.isArray(req.resource_names_unsubscribe) ? (req.resource_names_unsubscribe as string[]) : [];
    const nonce = typeof req.response_nonce === 'string' ? req.response_nonce : '';
    let w = con.watches.get(t);
    if (w && nonce) {
      const p = w.pending.get(nonce);
      const errorDetail = req.error_detail as EnvoyJson | undefined;
      if (p) {
        if (errorDetail) this.nack(con, w, nonce, w.versionAcked, errorDetail);
        else this.ack(con, w, nonce, p.version);
      }
      if (errorDetail) return;
    }
    const first = !w;
    w = con.watch(t);
    if (first) {
      w.wildcard = WILDCARD_TYPES.has(t) && (subscribe.length === 0 || subscribe.includes('*'));
      const initial = req.initial_resource_versions as Record<string, string> | undefined;
      for (const [n, v] of Object.entries(initial ?? {})) w.sent.set(n, v);
    } else if (subscribe.includes('*')) w.wildcard = true;
    if (unsubscribe.includes('*')) w.wildcard = false;
    const added: string[] = [];
    for (const n of subscribe) {
      if (n === '*' || w.names.has(n)) continue;
      w.names.add(n);
      added.push(n);
    }
    for (const n of unsubscribe) {
      w.names.delete(n);
      w.sent.delete(n);
    }
    if (first) this.pushWatch(con, w, { start: Date.now(), respondEmpty: true });
    else if (added.length > 0) this.pushWatch(con, w, { start: Date.now(), onlyNames: w.wildcard ? undefined : added });
  }

  private ack(con: Connection<P>, w: Watch, nonce: string, version: string): void {
    const now = Date.now();
    const p = w.pending.get(nonce);
    w.pending.delete(nonce);
    const wasLatest = nonce === w.nonceSent;
    if (wasLatest) {
      w.nonceAcked = nonce;
      w.versionAcked = version;
      w.ackedAt = now;
      w.nack = undefined;
      w.pending.clear();
    }
    this.emit('ack', {
      con, typeUrl: w.typeUrl, nonce, version,
      latencyMs: now - (p?.sentAt ?? w.sentAt), sincePushStartMs: now - (p?.pushStart ?? w.pushStart),
    } satisfies AckEvent);
  }

  private nack(con: Connection<P>, w: Watch, nonce: string, version: string, errorDetail: EnvoyJson): void {
    const now = Date.now();
    const p = w.pending.get(nonce);
    w.pending.delete(nonce);
    const message = typeof errorDetail.message === 'string' ? errorDetail.message : JSON.stringify(errorDetail);
    w.nack = { nonce, version, message, at: new Date(now) };
    this.log?.warn({ proxy: con.conId, type: SHORT_NAME[w.typeUrl], nonce, version, error: message }, `${SHORT_NAME[w.typeUrl]} NACK from ${con.conId}: ${message}`);
    this.emit('nack', {
      con, typeUrl: w.typeUrl, nonce, version, error: message,
      latencyMs: now - (p?.sentAt ?? w.sentAt), sincePushStartMs: now - (p?.pushStart ?? w.pushStart),
    } satisfies AckEvent);
  }

  // ---- introspection ----

  /** The connection for a proxy id, connection id or `pod.namespace`. */
  findConnection(id: string): Connection<P> | undefined {
    const direct = this.connections.get(id);
    if (direct) return direct;
    for (const c of this.connections.values()) if (c.nodeId === id || c.conId.startsWith(id + '-')) return c;
    return undefined;
  }

  /** What the generator produces now for a connected proxy, every type it watches (JSON form). */
  generateFor(con: Connection<P>): Map<ResourceTypeUrl, EnvoyJson[]> {
    const out = new Map<ResourceTypeUrl, EnvoyJson[]>();
    if (this.pushContext === undefined) return out;
    for (const t of PUSH_ORDER) {
      const w = con.watches.get(t);
      if (!w) continue;
      out.set(t, this.generator.generate(con.proxy, this.pushContext, t, w.wildcard ? undefined : [...w.names]));
    }
    return out;
  }

  // ---- lifecycle ----

  /**
   * Listens on host:port (port 0: a free port) and, when `udsPath` is given, on that Unix socket
   * too (proxies in another network namespace reach the pilot through the file system, as Istio's
   * agent does with its XDS socket). Resolves to the TCP port bound.
   */
  async listen(port = 15010, host = '0.0.0.0', udsPath?: string): Promise<number> {
    const server = new grpc.Server(XDS_SERVER_OPTIONS);
    server.addService(adsServiceDefinition, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<EnvoyJson, Uint8Array>) => this.serve(call, false),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<EnvoyJson, Uint8Array>) => this.serve(call, true),
    });
    // The same resources over the single-type services (CDS, EDS, LDS, RDS, SDS without ADS).
    for (const st of SINGLE_TYPE_SERVICES) {
      server.addService(singleTypeServiceDefinition(st), {
        [st.sotw]: (call: grpc.ServerDuplexStream<EnvoyJson, Uint8Array>) => this.serve(call, false, st.typeUrl),
        [st.delta]: (call: grpc.ServerDuplexStream<EnvoyJson, Uint8Array>) => this.serve(call, true, st.typeUrl),
      });
    }
    this.grpcServer = server;
    const bind = (addr: string) => new Promise<number>((resolve, reject) => {
      server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
    });
    const bound = await bind(host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
    if (udsPath) await bind(`unix://${udsPath}`);
    return bound;
  }

  /** Stops accepting streams and ends every open one. */
  close(): Promise<void> {
    const server = this.grpcServer;
    this.grpcServer = undefined;
    if (!server) return Promise.resolve();
    // ADS streams never end on their own: cancel them rather than wait.
    server.forceShutdown();
    return Promise.resolve();
  }
}
