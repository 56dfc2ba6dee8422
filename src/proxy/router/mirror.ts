/**
 * Request mirroring (RouteAction.request_mirror_policies), as Envoy documents it: for each policy
 * whose runtime_fraction fires, a copy of the request — headers as the router sends them, body
 * streamed as it arrives — goes to the shadow cluster, fire and forget. The shadow's :authority gets
 * the `-shadow` suffix (before the port: "host-shadow:8080") unless disable_shadow_host_suffix_append.
 * The shadow's response is read and dropped; nothing that happens to a shadow (no cluster, no host,
 * circuit breaker overflow, connect failure, timeout, reset) changes the main request. A shadow
 * takes its connection from the shadow cluster's pool under its circuit breakers (the route's
 * priority), as Envoy's shadows go through the cluster's router; the cluster's stats count it
 * (upstream_rq_total, upstream_rq_<class>, upstream_rq_completed, upstream_rq_timeout, connect
 * failures, overflows).
 *
 * Compiled once per route config; a route without mirror policies carries none (`undefined`) and the
 * router does not call in here.
 */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Fields } from '../config/fields.js';
import type { Cluster } from '../cluster/cluster.js';
import type { Host } from '../cluster/host.js';
import type { Priority } from '../cluster/circuit-breaker.js';
import { H2Request, h2Acquire, h2Headers } from '../cluster/h2-pool.js';
import { Acquire, type Http1Pool, type PoolWaiter } from '../cluster/http1-pool.js';
import { getHeader, type Headers } from '../http/headers.js';
import type { HttpStream } from '../http/stream.js';
import { upstreamHeaders } from './router.js';
import type { RouteAction } from './route-table.js';

/** One compiled RequestMirrorPolicy. */
export interface MirrorPolicy {
  cluster?: string;
  /** cluster_header: the shadow cluster named by a request header (lower-case name). */
  clusterHeader?: string;
  /** runtime_fraction.default_value as numerator / denominator (1 / 1 when unset: every request). */
  numerator: number;
  denominator: number;
  /** Whether :authority gets "-shadow" (false with disable_shadow_host_suffix_append). */
  appendSuffix: boolean;
}

/** How much request body a shadow may hold unsent before it is dropped (its upstream is too slow). */
const SHADOW_BUFFER_LIMIT = 1 << 20;

const DENOMINATORS = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 } as const;

/** Compiles request_mirror_policies; undefined when there are none. */
export function compileMirrorPolicies(list: Fields[]): MirrorPolicy[] | undefined {
  const out: MirrorPolicy[] = [];
  for (const f of list) {
    const p: MirrorPolicy = { numerator: 1, denominator: 1, appendSuffix: true };
    const hasCluster = f.has('cluster') && f.obj.cluster !== '';
    const hasHeader = f.has('cluster_header') && f.obj.cluster_header !== '';
    if (hasCluster) p.cluster = f.str('cluster');
    else f.ignore('cluster');
    if (hasHeader) p.clusterHeader = f.str('cluster_header').toLowerCase();
    else f.ignore('cluster_header');
    if (hasCluster === hasHeader) f.error('', 'exactly one of cluster and cluster_header must be set');
    const rf = f.opt('runtime_fraction');
    if (rf) {
      // No runtime layer carries mirror keys here, so the default value is what Envoy would use.
      rf.str('runtime_key');
      const d = rf.opt('default_value');
      if (d) {
        p.numerator = d.num('numerator', 0);
        p.denominator = DENOMINATORS[d.enumOf('denominator', Object.keys(DENOMINATORS) as (keyof typeof DENOMINATORS)[], 'HUNDRED')];
        d.done();
      } else p.numerator = 0; // a runtime_fraction without a default value mirrors nothing
      rf.done();
    }
    // trace_sampled only decides the shadow span's sampling; Spar does no tracing, so it changes nothing.
    f.bool('trace_sampled');
    p.appendSuffix = !f.bool('disable_shadow_host_suffix_append');
    f.unsupported('request_headers_mutations', 'mirror header mutations are not supported by spar proxy yet');
    f.unsupported('host_rewrite_literal', 'mirror host rewrites are not supported by spar proxy yet');
    f.done();
    out.push(p);
  }
  return out.length ? out : undefined;
}

/** "host:port" → "host-shadow:port" (an IPv6 literal keeps its brackets: "[::1]-shadow:80"). */
export function shadowAuthority(authority: string): string {
  const i = authority.lastIndexOf(':');
  if (i > 0 && !authority.endsWith(']') && /^\d+$/.test(authority.slice(i + 1))) return `${authority.slice(0, i)}-shadow${authority.slice(i)}`;
  return `${authority}-shadow`;
}

/**
 * Starts the shadow requests of a request whose headers are final (called by the router before its
 * own first attempt, so both see every body chunk).
 */
export function mirror(s: HttpStream, policies: MirrorPolicy[], a: RouteAction): void {
  for (const p of policies) {
    if (p.numerator < p.denominator && Math.random() * p.denominator >= p.numerator) continue;
    const name = p.cluster ?? getHeader(s.headers, p.clusterHeader!) ?? '';
    const cluster = name ? s.env.clusters.get(name) : undefined;
    if (!cluster || !cluster.warm) continue;
    let host: Host | undefined;
    if (cluster.config.type === 'ORIGINAL_DST') {
      const od = s.conn.originalDst;
      host = od ? cluster.originalDstHost(od.ip, od.port) : undefined;
    } else host = cluster.lb.choose();
    if (!host) {
      cluster.stats.upstream_cx_none_healthy.value++;
      continue;
    }
    new Shadow(s, cluster, host, p.appendSuffix, a).start();
  }
}

/** One shadow request: waits for a pooled connection if it must, streams the body, drops the answer. */
class Shadow implements PoolWaiter {
  private up: ClientRequest | undefined;
  private pool: Http1Pool | undefined;
  private queued = false;
  /** Body chunks that arrived before the request could be sent. */
  private held: Buffer[] | undefined = [];
  private heldBytes = 0;
  /** The downstream request body is complete. */
  private ended = false;
  private finished = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly priority: Priority;
  private readonly timeoutMs: number;
  private readonly headers: Headers;
  private readonly h2: boolean;

  constructor(private readonly s: HttpStream, private readonly cluster: Cluster, private readonly host: Host, appendSuffix: boolean, a: RouteAction) {
    this.priority = a.priority ?? 0;
    this.timeoutMs = a.timeoutMs;
    const h = s.headers;
    const authority = String(h[':authority'] ?? '');
    const sh: Headers = { ...h, ':authority': appendSuffix ? shadowAuthority(authority) : authority };
    // The copy is taken after the router set its timeout header, as in Envoy.
    const perTry = a.retry?.perTryTimeoutMs;
    if (a.timeoutMs > 0 && !s.cfg.suppressEnvoyHeaders) sh['x-envoy-expected-rq-timeout-ms'] = String(perTry ? Math.min(perTry, a.timeoutMs) : a.timeoutMs);
    this.headers = upstreamHeaders(sh, s.req.headers['transfer-encoding'] !== undefined || s.req.httpVersionMajor === 2);
    const cfg = cluster.config;
    this.h2 = cfg.upstreamHttp2 || (cfg.useDownstreamProtocol && s.req.httpVersionMajor === 2);
  }

  start(): void {
    const { s, cluster, host } = this;
    const req = s.req;
    if (s.requestComplete || req.readableEnded) this.ended = true;
    else {
      req.on('data', this.onData);
      req.once('end', this.onEnd);
      req.once('close', this.onClose);
    }
    if (this.ended) this.startTimer();
    if (this.h2) {
      const r = h2Acquire(host, cluster.resources[this.priority], cluster);
      if (r === Acquire.Overflow) return this.overflow();
      return this.send(r === Acquire.Connect);
    }
    const pool = (this.pool = host.http1Pool(this.priority));
    switch (pool.acquire(this)) {
      case Acquire.Overflow: return this.overflow();
      case Acquire.Queued:
        this.queued = true;
        return;
      case Acquire.Connect: return this.send(true);
      default: return this.send(false);
    }
  }

  /** PoolWaiter: a connection for the queued shadow. */
  onPoolReady(pending: boolean): void {
    this.queued = false;
    if (this.finished) return;
    this.send(pending);
  }

  /** PoolWaiter: max_requests reached when a connection came. */
  onPoolOverflow(): void {
    this.queued = false;
    this.overflow();
  }

  /** A circuit breaker said no: counted as the router counts its own overflow 503. */
  private overflow(): void {
    this.cluster.stats.upstream_rq_5xx.value++;
    this.cluster.stats.upstream_rq_completed.value++;
    this.finish(false);
  }

  private readonly onData = (chunk: Buffer) => {
    if (this.finished) return;
    const up = this.up;
    if (!up) {
      this.heldBytes += chunk.length;
      if (this.heldBytes > SHADOW_BUFFER_LIMIT) return this.finish(true);
      this.held!.push(chunk);
      return;
    }
    // Bytes written but not yet taken by the shadow's connection (HTTP/2 streams do not say: no limit).
    if (((up as { writableLength?: number }).writableLength ?? 0) > SHADOW_BUFFER_LIMIT) return this.finish(true);
    up.write(chunk);
  };

  private readonly onEnd = () => {
    this.detach();
    this.ended = true;
    if (this.finished) return;
    this.up?.end();
    this.startTimer();
  };

  /** A downstream that goes away mid-body leaves a shadow that can never complete: cancel it. */
  private readonly onClose = () => {
    this.detach();
    if (!this.s.req.readableEnded) this.finish(true);
  };

  private detach(): void {
    const req = this.s.req;
    req.removeListener('data', this.onData);
    req.removeListener('end', this.onEnd);
    req.removeListener('close', this.onClose);
  }

  /** The route timeout bounds the shadow too, from when the request is complete (as the main request). */
  private startTimer(): void {
    if (this.timeoutMs > 0 && !this.finished && !this.timer) {
      this.timer = setTimeout(() => {
        this.cluster.stats.upstream_rq_timeout.value++;
        this.finish(true);
      }, this.timeoutMs);
    }
  }

  private send(pending: boolean): void {
    const { s, cluster, host } = this;
    const cs = cluster.stats;
    const cfg = cluster.config;
    const h = s.headers;
    const method = h[':method'] as string;
    const path = h[':path'] as string;
    const countConnection = () => {
      host.cxTotal++;
      cs.upstream_cx_total.value++;
    };
    const rm = cluster.resources[this.priority];
    let up: ClientRequest;
    try {
      up = this.pool
        ? request({ agent: this.pool.agent, host: host.ip, port: host.port, localAddress: cfg.sourceAddress, method, path, headers: this.headers, setHost: false })
        : new H2Request(host, h2Headers(method, path, this.headers.host as string, this.headers), cfg.connectTimeoutMs, countConnection, rm, cluster, pending) as unknown as ClientRequest;
    } catch {
      // Headers node:http refuses: no shadow (the main request goes on regardless); its slot goes back.
      rm.requests.dec();
      return this.finish(false);
    }
    this.up = up;
    if (this.pool) {
      this.pool.track(up, pending);
      up.removeHeader('connection');
    }
    // Active from when it is sent (a queued shadow is pending, not active), as Envoy counts it.
    cluster.active++;
    cs.upstream_rq_active.value++;
    cs.upstream_rq_total.value++;
    host.active++;
    host.rqTotal++;
    up.on('socket', (sock: Socket) => {
      if (!sock.connecting) return;
      countConnection();
      const t = setTimeout(() => {
        cs.upstream_cx_connect_timeout.value++;
        sock.destroy();
      }, cfg.connectTimeoutMs);
      sock.once('connect', () => clearTimeout(t));
      sock.once('close', () => clearTimeout(t));
    });
    up.on('error', (err: NodeJS.ErrnoException) => {
      if (!this.finished && (err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH')) cs.upstream_cx_connect_fail.value++;
      this.finish(true);
    });
    up.on('response', (res: IncomingMessage) => {
      const st = res.statusCode ?? 0;
      if (st >= 500) cs.upstream_rq_5xx.value++;
      else if (st >= 400) cs.upstream_rq_4xx.value++;
      else if (st >= 300) cs.upstream_rq_3xx.value++;
      else if (st >= 200) cs.upstream_rq_2xx.value++;
      res.on('error', () => {});
      res.on('end', () => {
        cs.upstream_rq_completed.value++;
        this.finish(false);
      });
      res.on('aborted', () => this.finish(true));
      res.resume();
    });
    for (const c of this.held ?? []) up.write(c);
    this.held = undefined;
    if (this.ended) up.end();
  }

  private finish(failed: boolean): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.detach();
    this.held = undefined;
    if (this.queued && this.pool) {
      this.pool.cancel(this);
      this.queued = false;
    }
    const { cluster, host } = this;
    const up = this.up;
    if (!up) return;
    cluster.active--;
    cluster.stats.upstream_rq_active.value--;
    host.active--;
    if (failed) {
      host.rqError++;
      up.on('error', () => {});
      up.destroy();
    }
  }
}
