/**
 * The HTTP connection manager's runtime for one filter chain: owns the HTTP/1.1 codec (node:http's
 * llhttp parser) and the HTTP/2 codec (node:http2), takes connections from the listener and runs an
 * HttpStream per request. `codec_type: AUTO` sniffs the HTTP/2 connection preface on cleartext and
 * uses ALPN on TLS. Draining (listener update or removal, /drain_listeners) closes HTTP/1 connections
 * after their current response (`connection: close`) and sends GOAWAY on HTTP/2.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createH2Server, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { HttpStream, type ConnectionInfo, type HttpEnv } from '../../../http/stream.js';
import { StreamInfo } from '../../../stream-info.js';
import { handleUpgrade } from '../../../http/upgrade.js';
import { hcmStats, type HcmStats, type StatsStore } from '../../../stats/stats.js';
import type { HcmConfig } from './config.js';

const CONN = Symbol('spar.conn');
type TaggedSocket = Socket & { [CONN]?: ConnState };
interface ConnState {
  info: ConnectionInfo;
  active: number;
  closeAfter?: boolean;
  streams?: Set<HttpStream>;
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n');

export class HttpConnectionManager {
  readonly stats: HcmStats;
  private readonly h1: Server | undefined;
  private readonly h2: Http2Server | undefined;
  private readonly sockets = new Set<TaggedSocket>();
  private readonly sessions = new Set<Http2Session>();
  private draining = false;

  constructor(readonly cfg: HcmConfig, private readonly env: HttpEnv, store: StatsStore) {
    this.stats = hcmStats(store, cfg.statPrefix);
    if (cfg.codec !== 'HTTP2') {
      const h1 = createServer({
        maxHeaderSize: cfg.maxRequestHeadersKb * 1024,
        requireHostHeader: false,
        requestTimeout: cfg.requestTimeoutMs,
        headersTimeout: cfg.requestHeadersTimeoutMs,
        keepAliveTimeout: Math.min(cfg.idleTimeoutMs, 2 ** 31 - 1),
        noDelay: true,
      } as never);
      h1.maxHeadersCount = cfg.maxHeadersCount + 1; // one more, so the stream can see "too many" and answer 431
      h1.on('connect', (req: IncomingMessage, socket: Socket) => this.onConnect(req, socket as TaggedSocket));
      h1.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
        const st = (socket as TaggedSocket)[CONN];
        if (st) handleUpgrade(req, socket, head, this.cfg, this.env, st.info, this.stats);
        else socket.destroy();
      });
      h1.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res, req.socket as TaggedSocket));
      if (cfg.streamIdleTimeoutMs > 0) {
        // stream_idle_timeout (default 5 min): a request with no activity that long gets Envoy's
        // "stream timeout" (flag SI), or a reset once its response has started. Connections
        // with no request in flight are left to idle_timeout.
        h1.setTimeout(cfg.streamIdleTimeoutMs, (socket: Socket) => {
          const st = (socket as TaggedSocket)[CONN];
          if (!st || st.active === 0) return;
          for (const s of st.streams ?? []) {
            s.si.setFlag('SI');
            s.onReset?.();
            // 504 once the whole request was received (waiting on the upstream), 408 before — as Envoy.
            s.localReply({ status: s.req.complete ? 504 : 408, body: 'stream timeout', details: 'stream_idle_timeout' }, true, undefined, true);
          }
        });
      }
      h1.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket as TaggedSocket));
      this.h1 = h1;
    }
    if (cfg.codec !== 'HTTP1') {
      const h2 = createH2Server({
        settings: { maxConcurrentStreams: Math.min(cfg.h2MaxConcurrentStreams, 2 ** 31 - 1) },
        maxHeaderListSize: cfg.maxRequestHeadersKb * 1024,
        maxSessionMemory: 64,
      } as never);
      h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => this.onRequest(req, res, req.socket as unknown as TaggedSocket));
      h2.on('session', (s: Http2Session) => {
        this.sessions.add(s);
        s.on('close', () => this.sessions.delete(s));
        if (this.draining) s.goaway();
      });
      h2.on('sessionError', () => {});
      this.h2 = h2;
    }
  }

  /** A new downstream connection (TCP or TLS, already through listener filters). */
  onConnection(socket: Socket, info: ConnectionInfo, alpn?: string): void {
    const s = socket as TaggedSocket;
    s[CONN] = { info, active: 0 };
    this.sockets.add(s);
    this.stats.downstream_cx_total.value++;
    this.stats.downstream_cx_active.value++;
    s.once('close', () => {
      this.sockets.delete(s);
      this.stats.downstream_cx_active.value--;
    });
    s.on('error', () => {});
    if (this.cfg.codec === 'HTTP1' || (!this.h2)) return void this.h1!.emit('connection', s);
    if (this.cfg.codec === 'HTTP2' || !this.h1) return void this.h2!.emit('connection', s);
    if (info.tls) {
      const proto = alpn ?? (s as TLSSocket).alpnProtocol;
      // Envoy's AUTO codec: a negotiated ALPN decides (h2 or not); without one, sniff the preface.
      if (proto) return void (proto === 'h2' ? this.h2 : this.h1).emit('connection', s);
    }
    // AUTO: HTTP/2 with prior knowledge starts with the connection preface.
    s.once('readable', () => {
      const chunk = s.read() as Buffer | null;
      if (chunk === null) return void this.h1!.emit('connection', s);
      s.unshift(chunk);
      const n = Math.min(chunk.length, H2_PREFACE.length);
      const h2 = chunk.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      (h2 ? this.h2! : this.h1!).emit('connection', s);
    });
  }

  private onRequest(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse, socket: TaggedSocket): void {
    const st = socket[CONN];
    if (!st) return void res.destroy();
    st.active++;
    const stream = new HttpStream(req, res, this.cfg, this.env, st.info, this.stats);
    (st.streams ??= new Set()).add(stream);
    if (req.httpVersionMajor === 2) this.stats.downstream_rq_http2_total.value++;
    else this.stats.downstream_rq_http1_total.value++;
    if (this.draining && req.httpVersionMajor !== 2) (res as ServerResponse).shouldKeepAlive = false;
    res.once('close', () => {
      st.active--;
      st.streams!.delete(stream);
      if (st.closeAfter && st.active === 0) socket.destroySoon();
      // While draining, a response sent with `connection: close` closes its connection (node:http does
      // that). One whose keep-alive headers were already out when the drain began leaves the
      // connection open: the client may be sending its next request right now, and that one gets
      // `connection: close` (closing here would reset it). Idle connections close at drain_timeout.
    });
    stream.run();
  }

  /** CONNECT: no route matches it (connect_matcher is not supported): Envoy's 404, connection closed. */
  private onConnect(req: IncomingMessage, socket: TaggedSocket): void {
    const st = socket[CONN];
    const si = new StreamInfo();
    si.protocol = 'HTTP/1.1';
    si.requestHeaders = { ...req.headers, ':method': 'CONNECT', ':authority': req.url ?? '' };
    si.responseCode = 404;
    si.setFlag('NR');
    if (st) {
      si.downstreamRemoteAddress = st.info.remote;
      si.downstreamLocalAddress = st.info.local;
    }
    this.stats.no_route.value++;
    socket.end(`HTTP/1.1 404 Not Found\r\nserver: ${this.cfg.serverName}\r\ndate: ${new Date().toUTCString()}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    si.finish();
    for (const l of this.cfg.accessLogs ?? []) l(si);
  }

  /** Codec errors (malformed request, oversized headers): Envoy answers and closes, logging DPE. */
  private onClientError(err: NodeJS.ErrnoException, socket: TaggedSocket): void {
    this.stats.downstream_cx_protocol_error.value++;
    // Envoy's codec answers: 431 header overflow, 426 unknown HTTP version, 501 transfer-encoding, else 400.
    const reason = (err as { reason?: string }).reason ?? '';
    const code = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : reason === 'Invalid HTTP version' ? 426 : reason.startsWith('Invalid `Transfer-Encoding`') ? 501 : 400;
    const text = { 431: 'Request Header Fields Too Large', 426: 'Upgrade Required', 501: 'Not Implemented', 400: 'Bad Request' }[code]!;
    const st = socket[CONN];
    if (st && st.active > 0) {
      const broken = [...(st.streams ?? [])].find((s) => !s.req.complete && !s.res.headersSent);
      if (broken) {
        // The body of the request in flight is malformed: answer it (routed: Envoy applies its response headers) and close.
        broken.onReset?.();
        broken.localReply({ status: 400, body: 'Bad Request', flag: 'DPE', details: 'http1.codec_error' }, true, undefined, true);
        socket.destroySoon();
        return;
      }
      // Garbage after a complete request still in flight: finish that response, then close (as Envoy).
      st.closeAfter = true;
      return;
    }
    if (socket.writable) {
      socket.end(`HTTP/1.1 ${code} ${text}\r\ncontent-length: ${text.length}\r\ncontent-type: text/plain\r\ndate: ${new Date().toUTCString()}\r\nserver: ${this.cfg.serverName}\r\nconnection: close\r\n\r\n${text}`);
    } else socket.destroy();
    const info = socket[CONN]?.info;
    const logs = this.cfg.accessLogs;
    if (info && logs && err.code !== 'ECONNRESET') {
      const si = new StreamInfo();
      si.downstreamRemoteAddress = info.remote;
      si.downstreamLocalAddress = info.local;
      si.responseCode = code;
      si.setFlag('DPE');
      si.responseCodeDetails = code === 431 ? 'http1.headers_too_large' : 'http1.codec_error';
      si.bytesSent = text.length;
      si.finish();
      for (const l of logs) l(si);
    }
  }

  /**
   * Stops keep-alive: busy HTTP/1 connections close after their response (`connection: close`);
   * idle ones after drain_timeout if still idle (a request may be on its way: closing at once would
   * lose it); HTTP/2 gets GOAWAY.
   */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    // Responses not started yet will say `connection: close`.
    for (const sock of this.sockets) {
      for (const stream of sock[CONN]?.streams ?? []) {
        const res = stream.res as ServerResponse;
        if (!res.headersSent && stream.req.httpVersionMajor !== 2) res.shouldKeepAlive = false;
      }
    }
    const t = setTimeout(() => {
      for (const s of this.sockets) if ((s[CONN]?.active ?? 0) === 0 && !this.isH2(s)) s.end();
    }, this.cfg.drainTimeoutMs);
    t.unref();
    for (const s of this.sessions) s.goaway();
  }

  private isH2(s: Socket): boolean {
    for (const sess of this.sessions) if ((sess.socket as unknown) === s) return true;
    return false;
  }

  /** Closes every connection now (shutdown, or the drain time ran out). */
  close(): void {
    for (const s of this.sessions) s.destroy();
    for (const s of this.sockets) s.destroy();
  }

  get connections(): number {
    return this.sockets.size;
  }
}
