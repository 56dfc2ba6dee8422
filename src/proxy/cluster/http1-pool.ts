/**
 * The HTTP/1.1 connection pool of one host and priority, with the cluster's circuit breakers.
 * Sockets are node:http's keep-alive Agent's (it never queues here: no per-agent socket limit);
 * this pool decides when a request may take one, as Envoy's pool does:
 *   - an idle connection: the request goes now (max_requests checked: upstream_rq_active_overflow);
 *   - none: the request is pending (max_pending_requests, else overflow: 503 UO). A new connection
 *     is made for it if max_connections allows (or if the pool has none at all — Envoy always lets
 *     a chosen host have one); otherwise upstream_cx_overflow and the request waits in the queue
 *     until a connection is freed or closed. A pending request stops being pending once its
 *     connection is connected.
 * Connections count against the cluster-wide max_connections from creation until close.
 */
import { Agent, type ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { PoolOptions } from './host.js';
import type { BreakerStats, ResourceManager } from './circuit-breaker.js';
import type { ClusterStats } from '../stats/stats.js';

/** Requests a pooled socket has carried (max_requests_per_connection). */
export const REQUESTS = Symbol('spar.requests');
/** Set on a socket whose connection slot was given back before its close event. */
const RELEASED = Symbol('spar.released');
type PoolSocket = Socket & { [REQUESTS]?: number; [RELEASED]?: boolean };

/** A request waiting for a connection (the router). */
export interface PoolWaiter {
  /** A connection is available (or being made for it): send now. */
  onPoolReady(pending: boolean): void;
  /** max_requests was reached when a connection became available. */
  onPoolOverflow(): void;
}

export enum Acquire {
  /** An idle connection is there: send now, not pending. */
  Ready,
  /** A new connection may be made: send now; the request is pending until it connects. */
  Connect,
  /** Queued: onPoolReady / onPoolOverflow later, or cancel(). */
  Queued,
  /** Circuit breaker overflow: reply 503 UO. */
  Overflow,
}

export class Http1Pool {
  readonly agent: Agent;
  /** Connections of this pool (connecting or connected). */
  private cx = 0;
  private readonly queue: PoolWaiter[] = [];
  private readonly onRequestClose = () => this.rm.requests.dec();
  /** Gives a connection's slot back (once): when the pool closes it, or when it closes. */
  private release(s: PoolSocket): void {
    if (s[RELEASED]) return;
    s[RELEASED] = true;
    this.cx--;
    this.rm.connections.dec();
    this.cb.upstream_cx_active.value--;
  }

  /**
   * `connect` makes a connection instead of net.createConnection (upstream TLS): same signature
   * as Agent#createConnection; every connection it makes is counted here.
   */
  constructor(opts: PoolOptions, private readonly rm: ResourceManager, private readonly cb: BreakerStats, private readonly stats: ClusterStats,
    connect?: (options: object, callback: unknown) => Socket) {
    const agent = new Agent({
      keepAlive: true,
      maxSockets: Infinity,
      maxFreeSockets: Math.max(1, rm.connections.max),
      timeout: opts.idleTimeoutMs || undefined,
      // keepAliveMsecs is the TCP keep-alive idle time on pooled sockets (tcp_keepalive.keepalive_time).
      keepAliveMsecs: opts.tcpKeepaliveMs ?? 1000,
      scheduling: 'lifo',
    });
    const max = opts.maxRequestsPerConnection;
    if (max > 0) {
      // max_requests_per_connection: a socket that has carried `max` requests is closed, not pooled.
      // Its slot is free at once (as in Envoy, where the close is synchronous), so a pending request
      // gets a new connection on the 'free' turn instead of after the close event.
      const keep = agent.keepSocketAlive.bind(agent);
      agent.keepSocketAlive = (socket) => {
        if (((socket as PoolSocket)[REQUESTS] ?? 0) < max && keep(socket)) return true;
        this.release(socket as PoolSocket);
        return false;
      };
    }
    const create = connect ?? (agent.createConnection.bind(agent) as (o: object, cb: unknown) => Socket);
    agent.createConnection = ((o: object, cbk: unknown) => {
      const s = create(o, cbk);
      this.cx++;
      this.rm.connections.inc();
      this.cb.upstream_cx_active.value++;
      s.once('close', () => {
        this.release(s);
        if (this.queue.length) this.process();
      });
      return s;
    }) as never;
    // A connection back in the pool (or closed for max_requests_per_connection): serve the queue.
    agent.on('free', () => {
      if (this.queue.length) this.process();
    });
    this.agent = agent;
  }

  private hasIdle(): boolean {
    const f = this.agent.freeSockets;
    for (const k in f) if (f[k]!.length) return true;
    return false;
  }

  /** May a new connection be made now? Counts upstream_cx_overflow when the breaker says no. */
  private mayConnect(): boolean {
    if (this.rm.connections.canCreate()) return true;
    this.cb.upstream_cx_overflow.value++;
    // Envoy's rule: a host chosen by the balancer always gets at least one connection.
    return this.cx === 0;
  }

  /** Asks for a connection for `w`; see Acquire. On Ready/Connect the request is counted (max_requests). */
  acquire(w: PoolWaiter): Acquire {
    if (this.queue.length === 0 && this.hasIdle()) {
      if (!this.takeRequest()) return Acquire.Overflow;
      return Acquire.Ready;
    }
    if (!this.rm.pending.canCreate()) {
      this.stats.upstream_rq_pending_overflow.value++;
      return Acquire.Overflow;
    }
    this.pendingInc();
    if (this.queue.length === 0 && this.mayConnect()) {
      if (!this.takeRequest()) {
        this.pendingDec();
        return Acquire.Overflow;
      }
      return Acquire.Connect;
    }
    this.queue.push(w);
    return Acquire.Queued;
  }

  /** A queued request gave up (timeout, downstream reset). */
  cancel(w: PoolWaiter): void {
    const i = this.queue.indexOf(w);
    if (i < 0) return;
    this.queue.splice(i, 1);
    this.pendingDec();
    this.cb.upstream_rq_cancelled.value++;
  }

  /**
   * Watches a sent request: its max_requests slot is freed when it closes; one sent with
   * Acquire.Connect (`pending`) stops being pending when its connection is up (or it is gone).
   */
  track(req: ClientRequest, pending: boolean): void {
    req.once('close', this.onRequestClose);
    if (!pending) return;
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      this.pendingDec();
    };
    req.once('socket', (sock: Socket) => {
      if (sock.connecting) sock.once('connect', end);
      else end();
    });
    req.once('close', end);
  }

  private takeRequest(): boolean {
    if (!this.rm.requests.canCreate()) {
      this.cb.upstream_rq_active_overflow.value++;
      return false;
    }
    this.rm.requests.inc();
    return true;
  }

  private pendingInc(): void {
    this.rm.pending.inc();
    this.cb.upstream_rq_pending_total.value++;
    this.cb.upstream_rq_pending_active.value++;
  }

  private pendingDec(): void {
    this.rm.pending.dec();
    this.cb.upstream_rq_pending_active.value--;
  }

  /** Serves queued requests while there are idle connections or room for new ones. */
  private process(): void {
    const q = this.queue;
    while (q.length) {
      let pending: boolean;
      if (this.hasIdle()) pending = false;
      else if (this.mayConnect()) pending = true;
      else return;
      const w = q.shift()!;
      if (!pending) this.pendingDec();
      if (!this.takeRequest()) {
        if (pending) this.pendingDec();
        w.onPoolOverflow();
        continue;
      }
      // The waiter sends synchronously: an idle socket it takes is gone before the next turn.
      w.onPoolReady(pending);
    }
  }

  /** Closes idle connections; busy ones close after their request. */
  drain(): void {
    const a = this.agent;
    a.keepSocketAlive = () => false;
    for (const list of Object.values(a.freeSockets)) for (const s of list ?? []) s.destroy();
  }
}
