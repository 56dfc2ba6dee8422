/**
 * An upstream host (one endpoint of a cluster) and its HTTP/1.1 connection pool.
 * The pool is node:http's Agent with keep-alive; it queues requests beyond the cluster's
 * max_connections circuit breaker, as Envoy's pool queues them as pending.
 */
import { Agent } from 'node:http';
import { joinHostPort } from '../stream-info.js';
import type { TlsContext } from '../tls/context.js';
import { tlsConnector } from '../tls/upstream.js';

/** Requests a pooled socket has carried (max_requests_per_connection). */
export const REQUESTS = Symbol('spar.requests');

export type HealthStatus = 'UNKNOWN' | 'HEALTHY' | 'UNHEALTHY' | 'DRAINING' | 'TIMEOUT' | 'DEGRADED';

export class Host {
  /** "10.0.0.1:9080", as Envoy prints it in access logs and /clusters. */
  readonly address: string;
  /** Requests in flight to this host (LEAST_REQUEST reads it). */
  active = 0;
  rqTotal = 0;
  rqError = 0;
  cxTotal = 0;
  /** The endpoint's hostname (DNS clusters: the name resolved), for auto_host_rewrite. */
  hostname = '';
  /** The endpoint's TLS transport socket (transport_socket / transport_socket_matches); undefined: plaintext. */
  tls: TlsContext | undefined;
  private agent: Agent | undefined;

  constructor(
    readonly ip: string,
    readonly port: number,
    readonly weight: number,
    readonly health: HealthStatus,
    readonly locality: string,
    readonly metadata: unknown,
    private readonly pool: PoolOptions,
  ) {
    this.address = joinHostPort(ip, port);
  }

  get healthy(): boolean {
    return this.health === 'UNKNOWN' || this.health === 'HEALTHY';
  }

  /** The keep-alive pool, created on first use (a host never used costs no sockets). */
  http1Agent(): Agent {
    if (!this.agent) {
      this.agent = new Agent({
        keepAlive: true,
        maxSockets: this.pool.maxConnections,
        maxFreeSockets: this.pool.maxConnections,
        timeout: this.pool.idleTimeoutMs || undefined,
        // keepAliveMsecs is the TCP keep-alive idle time on pooled sockets (tcp_keepalive.keepalive_time).
        keepAliveMsecs: this.pool.tcpKeepaliveMs ?? 1000,
        scheduling: 'lifo',
      });
      if (this.tls) (this.agent as unknown as { createConnection: unknown }).createConnection = tlsConnector(this.tls);
      const max = this.pool.maxRequestsPerConnection;
      if (max > 0) {
        // max_requests_per_connection: a socket that has carried `max` requests is closed, not pooled.
        const agent = this.agent;
        const keep = agent.keepSocketAlive.bind(agent);
        agent.keepSocketAlive = (socket) => ((socket as unknown as { [REQUESTS]?: number })[REQUESTS] ?? 0) < max && keep(socket);
      }
    }
    return this.agent;
  }

  /** Closes idle connections; in-flight requests finish on theirs (then those close too). */
  drain(): void {
    const a = this.agent;
    if (!a) return;
    this.agent = undefined;
    // Busy sockets finish their request, then close instead of returning to the pool.
    a.keepSocketAlive = () => false;
    for (const list of Object.values(a.freeSockets)) for (const s of list ?? []) s.destroy();
  }
}

export interface PoolOptions {
  maxConnections: number;
  idleTimeoutMs: number;
  maxRequestsPerConnection: number;
  tcpKeepaliveMs?: number;
}
