/**
 * Upstream HTTP/2 (clusters with http2_protocol_options, gRPC): one multiplexed session per host,
 * re-created when it closes or GOAWAYs. Each request is adapted to the small part of node:http's
 * ClientRequest / IncomingMessage surface the router uses, so the router has one code path for
 * both protocols.
 */
import { EventEmitter } from 'node:events';
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { Host } from './host.js';
import { Acquire } from './http1-pool.js';
import type { BreakerStats, ResourceManager } from './circuit-breaker.js';
import type { ClusterStats } from '../stats/stats.js';
import { connectTls } from '../tls/upstream.js';

/** What the HTTP/2 pool counts in (the cluster's stats) and its max_requests_per_connection. */
export interface H2Owner {
  readonly cb: BreakerStats;
  readonly stats: ClusterStats;
  readonly config: { readonly pool: { readonly maxRequestsPerConnection: number } };
}

/** Streams a session has carried (max_requests_per_connection). */
const STREAMS = Symbol('spar.streams');
/** Streams of a session not yet closed. */
const OPEN = Symbol('spar.open');

const sessions = new WeakMap<Host, ClientHttp2Session>();

function session(host: Host, connectTimeoutMs: number, onNewConnection: () => void, rm: ResourceManager | undefined, owner: H2Owner | undefined): ClientHttp2Session {
  const cur = sessions.get(host);
  if (cur && !cur.closed && !cur.destroyed) return cur;
  onNewConnection();
  // The session counts against max_connections (one per host: a host always gets its one connection).
  if (rm && owner) {
    if (!rm.connections.canCreate()) owner.cb.upstream_cx_overflow.value++;
    rm.connections.inc();
    owner.cb.upstream_cx_active.value++;
  }
  const authority = host.ip.includes(':') ? `http://[${host.ip}]:${host.port}` : `http://${host.ip}:${host.port}`;
  const tls = host.tls;
  const s = connect(authority, { settings: { enablePush: false }, createConnection: tls ? () => connectTls(tls, { host: host.ip, port: host.port, alpn: ['h2'] }) : undefined });
  const t = setTimeout(() => {
    if (!s.connecting) return;
    const e = Object.assign(new Error('connection timeout'), { code: 'SPAR_CONNECT_TIMEOUT' });
    s.destroy(e);
  }, connectTimeoutMs);
  s.once('connect', () => clearTimeout(t));
  s.once('close', () => {
    clearTimeout(t);
    if (rm && owner) {
      rm.connections.dec();
      owner.cb.upstream_cx_active.value--;
    }
    if (sessions.get(host) === s) sessions.delete(host);
  });
  s.once('goaway', () => {
    if (sessions.get(host) === s) sessions.delete(host);
  });
  s.on('error', () => {});
  s.unref();
  sessions.set(host, s);
  return s;
}

/** The response side, shaped like IncomingMessage for the router. */
class H2Response extends EventEmitter {
  trailers: Record<string, string | string[] | undefined> = {};
  constructor(readonly stream: ClientHttp2Stream, readonly statusCode: number, readonly headers: Record<string, string | string[] | undefined>) {
    super();
    stream.on('data', (c: Buffer) => this.emit('data', c));
    stream.on('trailers', (t: IncomingHttpHeaders) => (this.trailers = t as Record<string, string | string[] | undefined>));
    stream.on('end', () => this.emit('end'));
    stream.on('close', () => {
      if (!stream.readableEnded) this.emit('aborted');
    });
  }
  pause(): void {
    this.stream.pause();
  }
  resume(): void {
    this.stream.resume();
  }
  destroy(): void {
    this.stream.close(constants.NGHTTP2_CANCEL);
  }
}

/** The request side, shaped like ClientRequest for the router. */
export class H2Request extends EventEmitter {
  readonly reusedSocket: boolean;
  private readonly stream: ClientHttp2Stream;
  /**
   * With `rm` the request went through h2Acquire (its max_requests slot is freed when the stream
   * closes); `pending`: it counts as pending until the session is connected.
   */
  constructor(host: Host, headers: OutgoingHttpHeaders, connectTimeoutMs: number, onNewConnection: () => void, rm?: ResourceManager, owner?: H2Owner, pending = false) {
    super();
    const existing = sessions.get(host);
    this.reusedSocket = !!existing && !existing.closed && !existing.destroyed;
    const s = session(host, connectTimeoutMs, onNewConnection, rm, owner);
    this.stream = s.request(headers, { endStream: false });
    const max = owner?.config.pool.maxRequestsPerConnection ?? 0;
    if (max > 0) {
      // max_requests_per_connection: after `max` streams the session takes no more (the next
      // request opens a new one) and closes once its last stream is done.
      const counted = s as ClientHttp2Session & { [STREAMS]?: number; [OPEN]?: number };
      counted[STREAMS] = (counted[STREAMS] ?? 0) + 1;
      counted[OPEN] = (counted[OPEN] ?? 0) + 1;
      if (counted[STREAMS] >= max && sessions.get(host) === s) sessions.delete(host);
      this.stream.once('close', () => {
        if (--counted[OPEN]! === 0 && counted[STREAMS]! >= max) s.close();
      });
    }
    if (rm) this.stream.once('close', () => rm.requests.dec());
    if (rm && owner && pending) {
      let done = false;
      const end = () => {
        if (done) return;
        done = true;
        rm.pending.dec();
        owner.cb.upstream_rq_pending_active.value--;
      };
      if (s.connecting) s.once('connect', end);
      else end();
      this.stream.once('close', end);
    }
    const onSessionError = (e: Error) => this.emit('error', e);
    s.once('error', onSessionError);
    this.stream.once('response', (h: IncomingHttpHeaders) => {
      s.removeListener('error', onSessionError);
      const status = Number(h[':status']);
      const out: Record<string, string | string[] | undefined> = {};
      for (const k in h) if (k.charCodeAt(0) !== 58) out[k] = h[k];
      this.emit('response', new H2Response(this.stream, status, out));
    });
    this.stream.on('error', (e: Error) => this.emit('error', e));
    this.stream.on('close', () => {
      s.removeListener('error', onSessionError);
      if (this.stream.rstCode && this.stream.rstCode !== constants.NGHTTP2_NO_ERROR && this.listenerCount('response') > 0) {
        this.emit('error', Object.assign(new Error('stream reset'), { code: 'ERR_HTTP2_STREAM_ERROR' }));
      }
    });
    this.stream.on('drain', () => this.emit('drain'));
  }
  get destroyed(): boolean {
    return this.stream.destroyed;
  }
  write(c: Buffer): boolean {
    return this.stream.write(c);
  }
  end(): void {
    this.stream.end();
  }
  destroy(): void {
    if (!this.stream.destroyed) this.stream.close(constants.NGHTTP2_CANCEL);
  }
  removeHeader(): void {}
}

/** Request headers (lower-case, hop-by-hop already removed) with the pseudo-headers HTTP/2 needs. */
export function h2Headers(method: string, path: string, authority: string, headers: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':method': method, ':path': path, ':authority': authority, ':scheme': 'http' };
  for (const k in headers) if (k !== 'host' && k !== 'transfer-encoding') out[k] = headers[k];
  return out;
}

/**
 * The circuit breakers for an HTTP/2 request (Envoy's HTTP/2 pool): max_requests (the stream is
 * counted from here until it closes); while the host's session is being connected the request is
 * pending (max_pending_requests). Streams are multiplexed, so nothing waits for a free connection.
 */
export function h2Acquire(host: Host, rm: ResourceManager, owner: H2Owner): Acquire {
  if (!rm.requests.canCreate()) {
    owner.cb.upstream_rq_active_overflow.value++;
    return Acquire.Overflow;
  }
  const cur = sessions.get(host);
  if (cur && !cur.closed && !cur.destroyed && !cur.connecting) {
    rm.requests.inc();
    return Acquire.Ready;
  }
  if (!rm.pending.canCreate()) {
    owner.stats.upstream_rq_pending_overflow.value++;
    return Acquire.Overflow;
  }
  rm.pending.inc();
  owner.cb.upstream_rq_pending_total.value++;
  owner.cb.upstream_rq_pending_active.value++;
  rm.requests.inc();
  return Acquire.Connect;
}
