/**
 * envoy.filters.network.tcp_proxy: connects each downstream connection to a host of a cluster
 * (or one of weighted_clusters) and copies bytes both ways, half-close included. Failures close the
 * downstream connection and say why in the access log: UH (no healthy host), UF (connect failure or
 * connect timeout), UO (max_connections reached), NC (cluster unknown). idle_timeout (default 1h)
 * closes connections with no traffic either way.
 */
import { connect, type Socket } from 'node:net';
import { ConfigErrors, Fields } from '../../../config/fields.js';
import { compileAccessLogs, type AccessLogger } from '../../../access-log/access-log.js';
import type { ClusterManager } from '../../../cluster/cluster-manager.js';
import type { ConnectionInfo } from '../../../http/stream.js';
import { StreamInfo } from '../../../stream-info.js';
import type { StatsStore, Counter, Gauge } from '../../../stats/stats.js';
import type { EnvoyJson } from '../../../../xds/codec.js';
import { connectTls } from '../../../tls/upstream.js';

export const TCP_PROXY_TYPE = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

export interface TcpProxyConfig {
  statPrefix: string;
  cluster?: string;
  weighted?: { name: string; weight: number }[];
  idleTimeoutMs: number;
  maxConnectAttempts: number;
  accessLogs: AccessLogger[] | undefined;
  json: EnvoyJson;
}

export function compileTcpProxy(f: Fields, _errs: ConfigErrors): TcpProxyConfig {
  const c: TcpProxyConfig = {
    statPrefix: f.str('stat_prefix'),
    idleTimeoutMs: f.durationMs('idle_timeout', 3600_000),
    maxConnectAttempts: f.num('max_connect_attempts', 1),
    accessLogs: compileAccessLogs(f.list('access_log')),
    json: f.obj,
  };
  if (!c.statPrefix) f.error('stat_prefix', 'required');
  if (f.has('cluster')) c.cluster = f.str('cluster');
  if (f.has('weighted_clusters')) {
    const w = f.obj_('weighted_clusters');
    c.weighted = w.list('clusters').map((x) => {
      const r = { name: x.str('name'), weight: x.num('weight', 0) };
      x.unsupported('metadata_match', 'subset load balancing is not supported by spar proxy yet');
      x.done();
      return r;
    });
    w.done();
  }
  if (!c.cluster && !c.weighted) f.error('', 'one of cluster, weighted_clusters is required');
  f.unsupported('metadata_match', 'subset load balancing is not supported by spar proxy yet');
  f.unsupported('downstream_idle_timeout', 'not supported by spar proxy yet');
  f.unsupported('upstream_idle_timeout', 'not supported by spar proxy yet');
  f.unsupported('hash_policy', 'not supported by spar proxy yet');
  f.unsupported('tunneling_config', 'tunneling is not supported by spar proxy');
  f.unsupported('max_downstream_connection_duration', 'not supported by spar proxy yet');
  f.unsupported('on_demand', 'not supported by spar proxy');
  f.unsupported('access_log_options', 'not supported by spar proxy yet');
  f.unsupported('backoff_options', 'not supported by spar proxy yet');
  f.unsupported('proxy_protocol_tlvs', 'not supported by spar proxy');
  f.done();
  return c;
}

export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private readonly s: { cx_total: Counter; cx_no_route: Counter; rx: Counter; tx: Counter; active: Gauge; idle_timeout: Counter };

  /** `sniCluster`: an envoy.filters.network.sni_cluster before it names the cluster by the SNI (when there is one). */
  constructor(readonly cfg: TcpProxyConfig, private readonly clusters: ClusterManager, store: StatsStore, private readonly sniCluster = false) {
    const p = `tcp.${cfg.statPrefix}.`;
    this.s = {
      cx_total: store.counter(p + 'downstream_cx_total'),
      cx_no_route: store.counter(p + 'downstream_cx_no_route'),
      rx: store.counter(p + 'downstream_cx_rx_bytes_total'),
      tx: store.counter(p + 'downstream_cx_tx_bytes_total'),
      active: store.gauge(p + 'downstream_cx_active'),
      idle_timeout: store.counter(p + 'idle_timeout'),
    };
  }

  private pickCluster(): string {
    if (this.cfg.cluster !== undefined) return this.cfg.cluster;
    const ws = this.cfg.weighted!;
    let r = Math.random() * ws.reduce((a, w) => a + w.weight, 0);
    for (const w of ws) {
      if (r < w.weight) return w.name;
      r -= w.weight;
    }
    return ws[ws.length - 1].name;
  }

  onConnection(down: Socket, info: ConnectionInfo): void {
    const si = new StreamInfo();
    si.downstreamRemoteAddress = info.remote;
    si.downstreamLocalAddress = info.local;
    si.downstreamDirectRemoteAddress = info.direct;
    si.requestedServerName = info.sni;
    si.downstreamTls = info.tlsInfo;
    si.connectionId = info.connectionId;
    this.s.cx_total.value++;
    this.s.active.value++;
    this.sockets.add(down);
    let logged = false;
    const log = () => {
      if (logged) return;
      logged = true;
      this.s.active.value--;
      this.sockets.delete(down);
      si.finish();
      const logs = this.cfg.accessLogs;
      if (logs) for (const l of logs) l(si);
    };
    down.on('error', () => {});
    const name = this.sniCluster && info.sni ? info.sni : this.pickCluster();
    si.upstreamCluster = name;
    const cluster = this.clusters.get(name);
    if (!cluster) {
      this.s.cx_no_route.value++;
      si.setFlag('NC');
      down.destroy();
      return log();
    }
    const host = cluster.config.type === 'ORIGINAL_DST'
      ? (info.originalDst ? cluster.originalDstHost(info.originalDst.ip, info.originalDst.port) : undefined)
      : cluster.lb.choose();
    if (!host) {
      cluster.stats.upstream_cx_none_healthy.value++;
      si.setFlag('UH');
      down.destroy();
      return log();
    }
    // max_connections (DEFAULT priority, as Envoy's tcp_proxy): over it, upstream_cx_overflow and UO.
    const cx = cluster.resources[0].connections;
    if (!cx.canCreate()) {
      cluster.cb.upstream_cx_overflow.value++;
      si.setFlag('UO');
      down.destroy();
      return log();
    }
    si.upstreamHost = host.address;
    down.pause();
    cluster.stats.upstream_cx_total.value++;
    cluster.stats.upstream_cx_active.value++;
    cx.inc();
    const up = host.tls
      ? connectTls(host.tls, { host: host.ip, port: host.port, localAddress: cluster.config.sourceAddress })
      : connect({ host: host.ip, port: host.port, allowHalfOpen: true, noDelay: true, localAddress: cluster.config.sourceAddress });
    up.on('error', () => {});
    if (cluster.config.tcpKeepaliveMs) up.setKeepAlive(true, cluster.config.tcpKeepaliveMs);
    const connectTimer = setTimeout(() => {
      cluster.stats.upstream_cx_connect_timeout.value++;
      si.setFlag('UF');
      si.upstreamTransportFailureReason = 'connection timeout';
      up.destroy();
    }, cluster.config.connectTimeoutMs);
    let connected = false;
    // A TLS upstream is connected once its handshake completes (Envoy's Connected event).
    up.once(host.tls ? 'secureConnect' : 'connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      host.outlier?.connectSuccess();
      si.upstreamLocalAddress = `${up.localAddress}:${up.localPort}`;
      pump(down, up, (n) => { si.bytesReceived += n; this.s.rx.value += n; });
      pump(up, down, (n) => { si.bytesSent += n; this.s.tx.value += n; });
      down.resume();
    });
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      if (!this.cfg.idleTimeoutMs) return;
      clearTimeout(idle);
      idle = setTimeout(() => {
        this.s.idle_timeout.value++;
        up.destroy();
        down.destroy();
      }, this.cfg.idleTimeoutMs);
    };
    touch();
    down.on('data', touch);
    up.on('data', touch);
    up.once('close', () => {
      clearTimeout(connectTimer);
      clearTimeout(idle);
      cluster.stats.upstream_cx_active.value--;
      cx.dec();
      if (!connected) {
        if (!down.destroyed) host.outlier?.localOriginFailure('connect');
        if (!si.hasFlag('UF')) {
          si.setFlag('UF');
          cluster.stats.upstream_cx_connect_fail.value++;
        }
        down.destroy();
      } else if (!down.destroyed && down.writableEnded === false) {
        // Upstream closed fully: finish what is buffered, then close.
        down.end();
      }
      if (down.destroyed || down.closed) log();
    });
    down.once('close', () => {
      clearTimeout(idle);
      if (!up.destroyed && connected) up.end();
      if (!connected) up.destroy();
      // Give the upstream a moment to flush its half; the log waits for both sides.
      if (up.destroyed || up.closed || !connected) log();
      else up.once('close', log);
    });
  }

  drain(): void {
    // TCP connections have no protocol-level drain; Envoy closes them when the drain time ends.
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
  }
}

/** Copies a → b with backpressure, counting bytes; a's end becomes b's end (half-close). */
function pump(a: Socket, b: Socket, count: (n: number) => void): void {
  a.on('data', (chunk: Buffer) => {
    count(chunk.length);
    if (!b.write(chunk)) {
      a.pause();
      b.once('drain', () => a.resume());
    }
  });
  a.once('end', () => {
    if (!b.destroyed) b.end();
  });
}
