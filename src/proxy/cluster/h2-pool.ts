/**
 * Upstream HTTP/2 (clusters with http2_protocol_options, gRPC): one multiplexed session per host,
 * re-created when it closes or GOAWAYs. Each request is adapted to the small part of node:http's
 * ClientRequest / IncomingMessage surface the router uses, so the router has one code path for
 * both protocols.
 */
import { EventEmitter } from 'node:events';
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { Host } from './host.js';
import { connectTls } from '../tls/upstream.js';

const sessions = new WeakMap<Host, ClientHttp2Session>();

function session(host: Host, connectTimeoutMs: number, onNewConnection: () => void): ClientHttp2Session {
  const cur = sessions.get(host);
  if (cur && !cur.closed && !cur.destroyed) return cur;
  onNewConnection();
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
  constructor(host: Host, headers: OutgoingHttpHeaders, connectTimeoutMs: number, onNewConnection: () => void) {
    super();
    const existing = sessions.get(host);
    this.reusedSocket = !!existing && !existing.closed && !existing.destroyed;
    const s = session(host, connectTimeoutMs, onNewConnection);
    this.stream = s.request(headers, { endStream: false });
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
