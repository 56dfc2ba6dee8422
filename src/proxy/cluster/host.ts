/**
 * An upstream host (one endpoint of a cluster) and its HTTP/1.1 connection pools, one per routing
 * priority as in Envoy (http1-pool.ts: keep-alive sockets under the cluster's circuit breakers).
 */
import type { Agent } from 'node:http';
import { joinHostPort } from '../stream-info.js';
import type { HostOutlier } from './outlier.js';
import { Http1Pool, REQUESTS } from './http1-pool.js';
import { ResourceManager, breakerStats, DEFAULT_THRESHOLDS, type PoolOwner, type Priority } from './circuit-breaker.js';
import { StatsStore, clusterStats, type ClusterStats } from '../stats/stats.js';
import type { TlsContext } from '../tls/context.js';
import { tlsConnector } from '../tls/upstream.js';

/** Requests a pooled socket has carried (max_requests_per_connection). */
export { REQUESTS };

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
  /** Outlier detection's counters for this host (only when the cluster has outlier_detection). */
  outlier: HostOutlier | undefined;
  /** Ejected by outlier detection (/failed_outlier_check): unhealthy for load balancing. */
  ejected = false;
  /** The endpoint's TLS transport socket (transport_socket / transport_socket_matches); undefined: plaintext. */
  tls: TlsContext | undefined;
  private pools: [Http1Pool | undefined, Http1Pool | undefined] = [undefined, undefined];

  constructor(
    readonly ip: string,
    readonly port: number,
    readonly weight: number,
    readonly health: HealthStatus,
    readonly locality: string,
    readonly metadata: unknown,
    private readonly pool: PoolOptions,
    private readonly owner?: PoolOwner & { readonly stats: ClusterStats },
  ) {
    this.address = joinHostPort(ip, port);
  }

  get healthy(): boolean {
    return (this.health === 'UNKNOWN' || this.health === 'HEALTHY') && !this.ejected;
  }

  /** The HTTP/1.1 pool of a priority, created on first use (a host never used costs no sockets). */
  http1Pool(priority: Priority): Http1Pool {
    let p = this.pools[priority];
    if (!p) {
      const o = this.owner ?? standaloneOwner();
      p = this.pools[priority] = new Http1Pool(this.pool, o.resources[priority], o.cb, o.stats, this.tls ? tlsConnector(this.tls) : undefined);
    }
    return p;
  }

  /** The DEFAULT priority pool's keep-alive Agent. */
  http1Agent(): Agent {
    return this.http1Pool(0).agent;
  }

  /** Closes idle connections; in-flight requests finish on theirs (then those close too). */
  drain(): void {
    const ps = this.pools;
    this.pools = [undefined, undefined];
    for (const p of ps) p?.drain();
  }
}

/** Breakers for a host made outside a cluster (tests): Envoy's default thresholds, private stats. */
function standaloneOwner(): PoolOwner & { stats: ClusterStats } {
  const store = new StatsStore();
  return { resources: [new ResourceManager(store, 'standalone', 0, DEFAULT_THRESHOLDS), new ResourceManager(store, 'standalone', 1, DEFAULT_THRESHOLDS)], cb: breakerStats(store, 'standalone'), stats: clusterStats(store, 'standalone') };
}

export interface PoolOptions {
  maxConnections: number;
  idleTimeoutMs: number;
  maxRequestsPerConnection: number;
  tcpKeepaliveMs?: number;
}
