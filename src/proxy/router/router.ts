/**
 * envoy.filters.http.router: forwards a routed request to a cluster. Picks the cluster (single,
 * weighted, from a header), applies rewrites, picks a host from the load balancer, sends the request
 * over the host's pool, and turns every failure into Envoy's status, body and response flag
 * (UH, UF, UC, UO, UT, NC, URX). Retries follow the route's retry_policy while the request body is
 * still held (Envoy buffers it for the same reason). Timeouts: the route timeout starts when the
 * downstream request is complete and covers every attempt; per_try_timeout covers one attempt.
 */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Cluster } from '../cluster/cluster.js';
import { REQUESTS, type Host } from '../cluster/host.js';
import type { HttpStream } from '../http/stream.js';
import { HOP_BY_HOP, getHeader, type Headers } from '../http/headers.js';
import { LocalReply, resetBeforeHeaders } from '../http/local-reply.js';
import type { RouteAction, WeightedCluster } from './route-table.js';
import type { HashContext } from './hash-policy.js';
import { applyRetryOn, emptyRetryPolicy, retriesAnything, type RetryPolicy } from './retry-policy.js';
import { mirror } from './mirror.js';
import { H2Request, h2Acquire, h2Headers } from '../cluster/h2-pool.js';
import { Acquire, type Http1Pool, type PoolWaiter } from '../cluster/http1-pool.js';
import type { ResourceManager } from '../cluster/circuit-breaker.js';
import { tlsHandshakeFailure } from '../tls/upstream.js';

const TIMEOUT_ALT = { ...LocalReply.timeout, status: 204, body: '' };

/** Request bodies larger than this are streamed without retry (Envoy: per-request buffer limit). */
const RETRY_BUFFER_LIMIT = 1 << 20;

type Failure = { kind: 'connect' | 'timeout' | 'reset' | 'overflow'; reason: string; transport: string; flag?: 'UR'; refused?: boolean };

function pickWeighted(w: NonNullable<RouteAction['weighted']>): WeightedCluster {
  let r = Math.floor(Math.random() * w.total);
  for (const c of w.clusters) {
    if (r < c.weight) return c;
    r -= c.weight;
  }
  return w.clusters[w.clusters.length - 1];
}

export function forward(s: HttpStream, a: RouteAction): void {
  const h = s.headers;
  let name = a.cluster ?? '';
  let wc: WeightedCluster | undefined;
  if (a.weighted) {
    wc = pickWeighted(a.weighted);
    name = wc.name;
  } else if (a.clusterHeader) name = getHeader(h, a.clusterHeader) ?? '';
  const cluster = s.env.clusters.get(name);
  if (!cluster || !cluster.warm) {
    // %UPSTREAM_CLUSTER% stays "-" for a cluster that does not exist (as Envoy logs it).
    s.stats.no_cluster.value++;
    return s.localReply({ status: a.clusterNotFoundCode, body: '', flag: 'NC', details: 'cluster_not_found' }, true);
  }
  s.si.upstreamCluster = name;
  if (wc) wc.requestMutation.apply(h, s.si);
  const suppress = s.cfg.suppressEnvoyHeaders;
  // Path rewrites (the matched prefix is replaced; regex_rewrite applies to the path without query).
  if (a.prefixRewrite !== undefined && s.route!.match.prefix !== undefined) {
    const orig = h[':path'] as string;
    const m = s.route!.match;
    h[':path'] = a.prefixRewrite + orig.slice(m.prefix!.length);
    if (!suppress) h['x-envoy-original-path'] = orig;
  } else if (a.regexRewrite) {
    const orig = h[':path'] as string;
    const rewritten = a.regexRewrite.re.replaceAll(s.path, a.regexRewrite.sub);
    h[':path'] = rewritten + orig.slice(s.path.length);
    if (!suppress) h['x-envoy-original-path'] = orig;
  }
  const hostRewrite = wc?.hostRewrite ?? a.hostRewrite;
  if (hostRewrite !== undefined) {
    h[':authority'] = hostRewrite;
  } else if (a.hostRewriteHeader) {
    const v = getHeader(h, a.hostRewriteHeader);
    if (v) h[':authority'] = v;
  } else if (a.hostRewritePathRegex) {
    h[':authority'] = a.hostRewritePathRegex.re.replaceAll(s.path, a.hostRewritePathRegex.sub);
  }
  const expect = h.expect;
  if (typeof expect === 'string' && expect.toLowerCase() === '100-continue') delete h.expect;
  if (a.mirrors) mirror(s, a.mirrors, a);
  new UpstreamRouter(s, a, cluster, wc).start();
}

/** The header on a circuit breaker overflow reply (Envoy: unless suppress_envoy_headers). */
const OVERLOADED: Headers = { 'x-envoy-overloaded': 'true' };

/** The router's state for one request: attempts, retries, timers. */
class UpstreamRouter implements PoolWaiter {
  private attempt: ClientRequest | undefined;
  private attemptHost: Host | undefined;
  private attempts = 0;
  private tried: Host[] | undefined;
  private body: Buffer[] | undefined;
  private bodyBytes = 0;
  private retryable: boolean;
  private globalTimer: NodeJS.Timeout | undefined;
  private perTryTimer: NodeJS.Timeout | undefined;
  private responseStarted = false;
  private finished = false;
  private attemptStart = 0n;
  private readonly hash: number | undefined;
  /** A generated hash-policy cookie to send back (Set-Cookie). */
  private readonly setCookie: string | undefined;
  private readonly startHr = process.hrtime.bigint();
  /** Whether the current attempt's request bytes were written out (reset-before-request). */
  private requestSent = false;
  /** The circuit breakers of the route's priority. */
  private readonly rm: ResourceManager;
  /** While pending in a host's pool queue: the pool and host (and the body that arrives meanwhile). */
  private queuedIn: Http1Pool | undefined;
  private queuedHost: Host | undefined;
  private held: Buffer[] | undefined;

  constructor(private readonly s: HttpStream, private readonly a: RouteAction, private readonly cluster: Cluster, private readonly wc: WeightedCluster | undefined) {
    this.rm = cluster.resources[a.priority ?? 0];
    this.retry = retryPolicyFor(a.retry, s.headers);
    this.retryable = !!this.retry;
    // The body is held for replay only when a retry can happen.
    if (this.retry && this.retry.numRetries > 0) this.body = [];
    if (a.hash) {
      const ctx: HashContext = { connection: `${s.conn.remote}|${s.conn.local}` };
      this.hash = a.hash(s.headers, s.conn.remoteIp, s.query, ctx);
      this.setCookie = ctx.setCookie;
    }
    const h = s.headers;
    this.timeoutMs = headerMs(h, 'x-envoy-upstream-rq-timeout-ms') ?? routeTimeout(a, h);
    this.perTryMs = headerMs(h, 'x-envoy-upstream-rq-per-try-timeout-ms') ?? this.retry?.perTryTimeoutMs ?? 0;
    if (h['x-envoy-upstream-rq-timeout-alt-response'] !== undefined) {
      delete h['x-envoy-upstream-rq-timeout-alt-response'];
      this.timeoutAlt = true;
    }
  }
  private readonly timeoutMs: number;
  /** per_try_timeout (or x-envoy-upstream-rq-per-try-timeout-ms), 0 = none. */
  private readonly perTryMs: number;
  /** x-envoy-upstream-rq-timeout-alt-response: a route timeout answers 204, not 504. */
  private timeoutAlt = false;
  /** The route's retry policy, or the one x-envoy-retry-on / -grpc-on / -max-retries made for this request. */
  private readonly retry: RetryPolicy | undefined;

  start(): void {
    const s = this.s;
    const req = s.req;
    s.onReset = () => this.onDownstreamReset();
    this.cluster.active++;
    this.cluster.stats.upstream_rq_active.value++;
    req.on('data', (chunk: Buffer) => {
      s.si.bytesReceived += chunk.length;
      if (this.body) {
        this.bodyBytes += chunk.length;
        if (this.bodyBytes > RETRY_BUFFER_LIMIT) {
          this.body = undefined;
          this.retryable = false;
        } else this.body.push(chunk);
      }
      const up = this.attempt;
      if (!up && !this.body && this.queuedIn) (this.held ??= []).push(chunk);
      if (up && !up.destroyed && !up.write(chunk)) {
        req.pause();
        up.once('drain', () => req.resume());
      }
    });
    const onEnd = () => {
      this.attempt?.end();
      this.startGlobalTimer();
    };
    if (s.requestComplete || req.readableEnded) onEnd();
    else req.on('end', onEnd);
    this.send();
  }

  private startGlobalTimer(): void {
    if (this.timeoutMs > 0 && !this.globalTimer && !this.finished) {
      this.globalTimer = setTimeout(() => this.onTimeout(false), this.timeoutMs);
    }
  }

  private chooseHost(): Host | undefined {
    const c = this.cluster;
    if (c.config.type === 'ORIGINAL_DST') {
      const od = this.s.conn.originalDst;
      return od ? c.originalDstHost(od.ip, od.port) : undefined;
    }
    return c.lb.choose(this.hash !== undefined || this.tried ? { hash: this.hash, avoid: this.retry?.previousHosts ? this.tried : undefined } : undefined);
  }

  /** One attempt. */
  private send(): void {
    const s = this.s;
    const host = this.chooseHost();
    if (!host) {
      this.cluster.stats.upstream_cx_none_healthy.value++;
      this.release();
      return s.localReply(LocalReply.noHealthyUpstream, true);
    }
    // A connection from the host's pool, under the cluster's circuit breakers.
    const cfg = this.cluster.config;
    const h2 = cfg.upstreamHttp2 || (cfg.useDownstreamProtocol && s.req.httpVersionMajor === 2);
    if (h2) {
      const r = h2Acquire(host, this.rm, this.cluster);
      if (r === Acquire.Overflow) return this.overflow();
      return this.sendTo(host, undefined, r === Acquire.Connect);
    }
    const pool = host.http1Pool(this.a.priority ?? 0);
    switch (pool.acquire(this)) {
      case Acquire.Overflow: return this.overflow();
      case Acquire.Queued:
        this.queuedIn = pool;
        this.queuedHost = host;
        this.attemptHost = undefined;
        return;
      case Acquire.Connect: return this.sendTo(host, pool, true);
      default: return this.sendTo(host, pool, false);
    }
  }

  /** A connection for the queued request (PoolWaiter). */
  onPoolReady(pending: boolean): void {
    const pool = this.queuedIn!, host = this.queuedHost!;
    this.queuedIn = this.queuedHost = undefined;
    this.sendTo(host, pool, pending);
  }

  /** max_requests reached when a connection came for the queued request (PoolWaiter). */
  onPoolOverflow(): void {
    this.queuedIn = this.queuedHost = undefined;
    this.overflow();
  }

  /** A circuit breaker overflowed: 503, flag UO, x-envoy-overloaded (never retried, as Envoy). */
  private overflow(): void {
    // Envoy charges the local 503 to the cluster as an upstream 5xx.
    this.cluster.stats.upstream_rq_5xx.value++;
    this.cluster.stats.upstream_rq_completed.value++;
    this.release();
    this.s.localReply(LocalReply.overflow, true, this.s.cfg.suppressEnvoyHeaders ? undefined : OVERLOADED);
  }

  /**
   * Sends the attempt on a connection of `pool` (HTTP/1.1) or the host's HTTP/2 session;
   * `pending`: the request waits for a new connection and is pending until it is up.
   */
  private sendTo(host: Host, pool: Http1Pool | undefined, pending: boolean): void {
    const s = this.s;
    this.attempts++;
    s.si.attemptCount = this.attempts;
    s.si.upstreamHost = host.address;
    this.attemptHost = host;
    const a = this.a;
    if (a.autoHostRewrite && host.hostname) s.headers[':authority'] = host.hostname;
    if (s.route!.vhost.attemptCountUpstream) s.headers['x-envoy-attempt-count'] = String(this.attempts);
    if (this.timeoutMs > 0 && !s.cfg.suppressEnvoyHeaders) {
      // The time left of the route timeout (Envoy recomputes it for every attempt).
      const left = this.attempts > 1 ? Math.max(1, this.timeoutMs - Math.floor(Number(process.hrtime.bigint() - this.startHr) / 1e6)) : this.timeoutMs;
      s.headers['x-envoy-expected-rq-timeout-ms'] = String(this.perTryMs ? Math.min(this.perTryMs, left) : left);
    }
    const out = upstreamHeaders(s.headers, s.req.headers['transfer-encoding'] !== undefined || s.req.httpVersionMajor === 2);
    host.active++;
    host.rqTotal++;
    this.cluster.stats.upstream_rq_total.value++;
    this.attemptStart = process.hrtime.bigint();
    const cfg = this.cluster.config;
    const h2 = !pool;
    const up: ClientRequest = h2
      ? new H2Request(host, h2Headers(s.headers[':method'] as string, s.headers[':path'] as string, s.headers[':authority'] as string, out), cfg.connectTimeoutMs, () => {
        host.cxTotal++;
        this.cluster.stats.upstream_cx_total.value++;
      }, this.rm, this.cluster, pending) as unknown as ClientRequest
      : request({
        agent: pool.agent,
        host: host.ip,
        port: host.port,
        localAddress: cfg.sourceAddress,
        method: s.headers[':method'] as string,
        path: s.headers[':path'] as string,
        headers: out,
        setHost: false,
      });
    if (pool) {
      pool.track(up, pending);
      // Node adds `Connection: keep-alive` on pooled requests; Envoy sends no connection header.
      up.removeHeader('connection');
    }
    this.attempt = up;
    this.requestSent = false;
    up.once('finish', () => (this.requestSent = true));
    let failed = false;
    const fail = (f: Failure) => {
      // An attempt the router already gave up on (timeout, retry, downstream reset) reports nothing.
      if (failed || this.attempt !== up) return;
      failed = true;
      host.active--;
      this.onAttemptFailure(up, host, f);
    };
    up.on('socket', (sock: Socket) => {
      const counted = sock as Socket & { [REQUESTS]?: number };
      counted[REQUESTS] = (counted[REQUESTS] ?? 0) + 1;
      if (!sock.connecting) return;
      host.cxTotal++;
      this.cluster.stats.upstream_cx_total.value++;
      const t = setTimeout(() => {
        this.cluster.stats.upstream_cx_connect_timeout.value++;
        fail({ kind: 'connect', reason: 'connection timeout', transport: '' });
        sock.destroy();
      }, this.cluster.config.connectTimeoutMs);
      sock.once('connect', () => clearTimeout(t));
      sock.once('close', () => clearTimeout(t));
    });
    up.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'SPAR_CONNECT_TIMEOUT') {
        this.cluster.stats.upstream_cx_connect_timeout.value++;
        fail({ kind: 'connect', reason: 'connection timeout', transport: '' });
      } else if (err.code === 'ERR_HTTP2_STREAM_ERROR' || err.code === 'ERR_HTTP2_STREAM_CANCEL') {
        const refused = /REFUSED_STREAM/.test(err.message);
        fail({ kind: 'reset', reason: refused ? 'remote refused stream reset' : 'remote reset', transport: '', flag: 'UR', refused });
      } else if (err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH' || err.code === 'EADDRNOTAVAIL') {
        this.cluster.stats.upstream_cx_connect_fail.value++;
        const text = err.code === 'ECONNREFUSED' ? 'Connection refused' : err.code === 'EHOSTUNREACH' ? 'No route to host' : 'Network is unreachable';
        fail({ kind: 'connect', reason: 'remote connection failure', transport: `delayed connect error: ${text}` });
      } else if (!h2 && tlsHandshakeFailure(up.socket, err) !== undefined) {
        this.cluster.stats.upstream_cx_connect_fail.value++;
        fail({ kind: 'connect', reason: 'remote connection failure', transport: tlsHandshakeFailure(up.socket, err)! });
      } else fail({ kind: 'reset', reason: 'connection termination', transport: '' });
    });
    up.on('response', (upRes: IncomingMessage) => {
      failed = true; // from here on, errors are handled by the response path
      this.onResponse(up, upRes, host);
    });
    if (this.perTryMs) {
      this.perTryTimer = setTimeout(() => this.onTimeout(true), this.perTryMs);
    }
    // Replay the held body (retries) and end the request when the downstream is complete.
    if (this.body) for (const c of this.body) up.write(c);
    else if (this.held) {
      for (const c of this.held) up.write(c);
      this.held = undefined;
    }
    if (s.requestComplete || s.req.readableEnded) up.end();
  }

  private onAttemptFailure(up: ClientRequest, host: Host, f: Failure): void {
    clearTimeout(this.perTryTimer);
    up.destroy();
    host.rqError++;
    if (this.finished) return;
    // A request whose connection could not be made was still pending.
    if (f.kind === 'connect') this.cluster.cb.upstream_rq_pending_failure_eject.value++;
    if (f.kind !== 'overflow' && up === this.attempt) host.outlier?.localOriginFailure(f.kind);
    const p = this.retry;
    if (p && this.shouldRetry(p, f)) return this.doRetry();
    const s = this.s;
    if (this.responseStarted) {
      s.si.setFlag('UC');
      this.release();
      s.resetDownstream();
      return;
    }
    if (f.kind === 'connect') s.si.setFlag('UF');
    else s.si.setFlag(f.flag ?? 'UC');
    s.si.upstreamTransportFailureReason = f.transport;
    this.release();
    s.localReply({ status: 503, body: resetBeforeHeaders(f.reason, '', this.attempts > 1), details: `upstream_reset_before_response_started{${f.reason.replace(/ /g, '_')}}` }, true);
  }

  /**
   * Envoy's retry decision: a failure retry_on does not cover is final; one it covers is retried
   * unless the retries are used up (flag URX) or the cluster's max_retries circuit breaker is open
   * (flag UO, upstream_rq_retry_overflow). The retry resource is held from one decision to the next.
   */
  private shouldRetry(p: RetryPolicy, f: Failure | { status: number; grpc: unknown }): boolean {
    this.releaseRetryResource();
    if (!this.retryable || this.responseStarted || !this.retriableFailure(p, f)) return false;
    if (this.attempts > p.numRetries) {
      this.s.si.setFlag('URX');
      return false;
    }
    if (!this.body) return false;
    const r = this.rm.retries;
    if (!r.canCreate()) {
      this.cluster.cb.upstream_rq_retry_overflow.value++;
      this.s.si.setFlag('UO');
      return false;
    }
    r.inc();
    this.holdsRetry = true;
    return true;
  }

  private holdsRetry = false;
  private releaseRetryResource(): void {
    if (!this.holdsRetry) return;
    this.holdsRetry = false;
    this.rm.retries.dec();
  }

  /** Whether retry_on covers this failure (regardless of how many retries are left). */
  private retriableFailure(p: RetryPolicy, f: Failure | { status: number; grpc: unknown }): boolean {
    if ('status' in f) {
      const st = f.status;
      if ((p.on5xx && st >= 500) || (p.onGatewayError && st >= 502 && st <= 504) || (p.onRetriable4xx && st === 409) ||
        (p.onRetriableStatusCodes && p.retriableStatusCodes.has(st))) return true;
      // gRPC: the grpc-status of a trailers-only answer.
      if (p.grpcOn !== 0 && typeof f.grpc === 'string' && f.grpc.length <= 2) {
        const code = Number(f.grpc);
        return code < 31 && (p.grpcOn & (1 << code)) !== 0;
      }
      return false;
    }
    // Connect failures, resets and per-try timeouts (Envoy's rules for a reset stream).
    if (f.kind === 'connect' && p.onConnectFailure) return true;
    if (p.onResetBeforeRequest && (f.kind === 'connect' || !this.requestSent)) return true;
    if (p.onReset || p.on5xx || p.onGatewayError) return true;
    return !!f.refused && p.onRefusedStream;
  }

  private doRetry(): void {
    const p = this.retry!;
    this.cluster.stats.upstream_rq_retry.value++;
    if (p.previousHosts && this.attemptHost) (this.tried ??= []).push(this.attemptHost);
    this.attempt = undefined;
    const n = this.attempts;
    const delay = Math.random() * Math.min(p.maxIntervalMs, p.baseIntervalMs * 2 ** (n - 1));
    setTimeout(() => {
      if (this.finished || this.s.done) return;
      this.send();
    }, delay);
  }

  private onResponse(up: ClientRequest, upRes: IncomingMessage, host: Host): void {
    const s = this.s;
    const status = upRes.statusCode ?? 502;
    host.outlier?.result(status, upRes.headers['grpc-status'], s.headers['content-type']);
    const p = this.retry;
    if (p && this.shouldRetry(p, { status, grpc: upRes.headers['grpc-status'] })) {
      clearTimeout(this.perTryTimer);
      host.active--;
      upRes.resume();
      return this.doRetry();
    }
    clearTimeout(this.perTryTimer);
    this.responseStarted = true;
    const si = s.si;
    const ms = Number((process.hrtime.bigint() - this.attemptStart) / 1000000n);
    si.upstreamServiceTimeMs = ms;
    const rh = upRes.headers as Headers;
    const te = rh['transfer-encoding'];
    stripHopByHop(rh);
    // A HEAD response carries no body, so its framing header is only information: Envoy passes it on.
    if (te !== undefined && s.headers[':method'] === 'HEAD') rh['transfer-encoding'] = te;
    if (!s.cfg.suppressEnvoyHeaders) rh['x-envoy-upstream-service-time'] = String(ms);
    if (s.route!.vhost.attemptCountDownstream) rh['x-envoy-attempt-count'] = String(this.attempts);
    s.finalizeResponseHeaders(rh);
    this.wc?.responseMutation.apply(rh, si);
    s.route!.responseMutation.apply(rh, si);
    if (this.setCookie) {
      const prev = rh['set-cookie'];
      rh['set-cookie'] = prev === undefined ? this.setCookie : [...(Array.isArray(prev) ? prev : [prev]), this.setCookie];
    }
    for (const f of s.cfg.filters) f.onResponseHeaders?.(status, rh, si);
    si.responseCode = status;
    si.responseHeaders = rh;
    const cs = this.cluster.stats;
    if (status >= 500) cs.upstream_rq_5xx.value++;
    else if (status >= 400) cs.upstream_rq_4xx.value++;
    else if (status >= 300) cs.upstream_rq_3xx.value++;
    else if (status >= 200) cs.upstream_rq_2xx.value++;
    const res = s.res as import('node:http').ServerResponse;
    if (rh['grpc-status'] !== undefined && s.req.httpVersionMajor === 2) {
      // A gRPC trailers-only response: one HEADERS frame that ends the stream, as the upstream sent it.
      const h2res = s.res as unknown as import('node:http2').Http2ServerResponse;
      try {
        h2res.stream.respond({ ':status': status, ...rh } as never, { endStream: true });
      } catch {
        // the client is gone
      }
      upRes.resume();
      upRes.on('end', () => {
        host.active--;
        cs.upstream_rq_completed.value++;
        this.release();
        s.complete();
      });
      upRes.on('aborted', () => {
        host.active--;
        this.release();
        s.complete();
      });
      return;
    }
    try {
      res.writeHead(status, rh as never);
    } catch {
      upRes.destroy();
      host.active--;
      this.release();
      s.resetDownstream();
      return;
    }
    upRes.on('data', (chunk: Buffer) => {
      si.bytesSent += chunk.length;
      if (!res.write(chunk)) {
        upRes.pause();
        res.once('drain', () => upRes.resume());
      }
    });
    upRes.on('end', () => {
      host.active--;
      cs.upstream_rq_completed.value++;
      if (upRes.trailers && Object.keys(upRes.trailers).length) (res as { addTrailers(t: object): void }).addTrailers(upRes.trailers);
      this.release();
      res.end();
    });
    upRes.on('aborted', () => {
      host.active--;
      // The upstream closed before the body it announced was complete: Envoy calls that a protocol error.
      si.setFlag('UPE');
      this.release();
      s.resetDownstream();
    });
    upRes.on('error', () => {});
    up.on('error', () => {});
  }

  private onTimeout(perTry: boolean): void {
    if (this.finished) return;
    if (this.attempt && !this.responseStarted) this.attemptHost?.outlier?.localOriginFailure('timeout');
    const s = this.s;
    this.cluster.stats.upstream_rq_timeout.value++;
    const up = this.attempt;
    this.attempt = undefined;
    if (perTry && !this.responseStarted) {
      const host = this.attemptHost!;
      host.active--;
      up?.removeAllListeners('response');
      up?.on('error', () => {});
      up?.destroy();
      const p = this.retry;
      if (p && this.shouldRetry(p, { kind: 'timeout', reason: 'timeout', transport: '' })) return this.doRetry();
    } else {
      up?.on('error', () => {});
      up?.destroy();
      if (this.attemptHost && !this.responseStarted) this.attemptHost.active--;
    }
    s.si.setFlag('UT');
    this.release();
    if (this.responseStarted) s.resetDownstream();
    else s.localReply(this.timeoutAlt ? TIMEOUT_ALT : LocalReply.timeout, true);
  }

  private onDownstreamReset(): void {
    if (this.finished) return;
    const up = this.attempt;
    this.attempt = undefined;
    if (up) {
      up.on('error', () => {});
      up.destroy();
      if (this.attemptHost && !this.responseStarted) this.attemptHost.active--;
    }
    this.release();
  }

  private release(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.queuedIn) {
      this.queuedIn.cancel(this);
      this.queuedIn = this.queuedHost = undefined;
    }
    this.releaseRetryResource();
    clearTimeout(this.globalTimer);
    clearTimeout(this.perTryTimer);
    this.cluster.active--;
    this.cluster.stats.upstream_rq_active.value--;
  }
}

/**
 * The retry policy for one request: the route's, changed by x-envoy-retry-on, x-envoy-retry-grpc-on
 * (conditions added) and x-envoy-max-retries (num_retries replaced), which only reach here from
 * internal callers (the connection manager strips them from external requests). Without any of
 * these headers the route's compiled policy is used as is (no allocation).
 */
function retryPolicyFor(route: RetryPolicy | undefined, h: Headers): RetryPolicy | undefined {
  const on = h['x-envoy-retry-on'], grpcOn = h['x-envoy-retry-grpc-on'], max = h['x-envoy-max-retries'];
  if (on === undefined && grpcOn === undefined && max === undefined) return route;
  const p: RetryPolicy = route ? { ...route } : emptyRetryPolicy();
  for (const v of [on, grpcOn]) if (typeof v === 'string') applyRetryOn(p, v.split(',').map((x) => x.trim()));
  if (typeof max === 'string' && /^\d{1,9}$/.test(max)) p.numRetries = Number(max);
  delete h['x-envoy-retry-on'];
  delete h['x-envoy-retry-grpc-on'];
  delete h['x-envoy-max-retries'];
  return route || retriesAnything(p) ? p : undefined;
}

/** A whole number of milliseconds from a header (Envoy's x-envoy-upstream-rq-*-timeout-ms), or undefined. */
function headerMs(h: Headers, name: string): number | undefined {
  const v = h[name];
  if (v === undefined) return undefined;
  delete h[name];
  return typeof v === 'string' && /^\d{1,12}$/.test(v) ? Number(v) : undefined;
}

const GRPC_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * The route timeout, or for gRPC requests with grpc_timeout_header_max / max_grpc_timeout set, the
 * client's grpc-timeout (none = infinite) capped by that maximum (0 = no cap), as Envoy computes it.
 */
function routeTimeout(a: RouteAction, h: Headers): number {
  if (a.maxGrpcTimeoutMs === undefined) return a.timeoutMs;
  const ct = h['content-type'];
  if (typeof ct !== 'string' || !ct.startsWith('application/grpc')) return a.timeoutMs;
  const g = /^(\d{1,8})([HMSmun])$/.exec(String(h['grpc-timeout'] ?? ''));
  let t = g ? Math.ceil(Number(g[1]) * GRPC_UNITS[g[2]]) : 0;
  if (a.maxGrpcTimeoutMs > 0 && (t === 0 || t > a.maxGrpcTimeoutMs)) t = a.maxGrpcTimeoutMs;
  return t;
}

/** Request headers for the upstream HTTP/1.1 request: pseudo-headers folded, hop-by-hop removed. */
export function upstreamHeaders(h: Headers, chunked: boolean): Headers {
  const out: Headers = {};
  const conn = h.connection;
  const nominated = typeof conn === 'string' && conn.includes(',') ? conn.toLowerCase().split(',').map((x) => x.trim()) : undefined;
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    if (k.charCodeAt(0) === 58 /* ':' */) continue;
    if (HOP_BY_HOP.has(k)) {
      if (k === 'te' && typeof v === 'string' && v.toLowerCase() === 'trailers') out.te = v;
      continue;
    }
    if (nominated && nominated.includes(k)) continue;
    out[k] = v;
  }
  out.host = h[':authority'] as string;
  if (chunked && out['content-length'] === undefined && h[':method'] !== 'GET' && h[':method'] !== 'HEAD') out['transfer-encoding'] = 'chunked';
  // Envoy's HTTP/1 codec frames a bodiless OPTIONS request explicitly (observed against Envoy 1.40).
  else if (!chunked && h[':method'] === 'OPTIONS' && out['content-length'] === undefined) out['content-length'] = '0';
  return out;
}

/** Removes hop-by-hop headers and any named in `connection`. */
function stripHopByHop(h: Headers): void {
  const conn = h.connection;
  if (typeof conn === 'string') for (const n of conn.split(',')) delete h[n.trim().toLowerCase()];
  for (const n of HOP_BY_HOP) delete h[n];
}
