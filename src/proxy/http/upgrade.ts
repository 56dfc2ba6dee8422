/**
 * HTTP/1.1 upgrades (WebSocket): allowed when `upgrade_configs` on the connection manager or the
 * route enable the upgrade type, as Envoy requires; otherwise Envoy's 403. An allowed upgrade is
 * routed like any request, then the connection to the chosen host carries the raw bytes both ways
 * (the upstream's 101 included). Logged when both sides are closed, with the upstream's status.
 */
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { HcmConfig } from '../filters/network/http_connection_manager/config.js';
import type { HcmStats } from '../stats/stats.js';
import { StreamInfo } from '../stream-info.js';
import type { ConnectionInfo, HttpEnv } from './stream.js';
import type { Headers } from './headers.js';

function reply(socket: Socket, status: number, text: string, server: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nserver: ${server}\r\ndate: ${new Date().toUTCString()}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
}

export function handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, cfg: HcmConfig, env: HttpEnv, conn: ConnectionInfo, stats: HcmStats): void {
  const si = new StreamInfo();
  si.protocol = 'HTTP/1.1';
  si.downstreamRemoteAddress = conn.remote;
  si.downstreamLocalAddress = conn.local;
  si.connectionId = conn.connectionId;
  const h = req.headers as Headers;
  h[':method'] = req.method;
  h[':path'] = req.url;
  h[':authority'] = h.host ?? '';
  delete h.host;
  si.requestHeaders = h;
  stats.downstream_rq_total.value++;
  const log = () => {
    si.finish();
    for (const l of cfg.accessLogs ?? []) l(si);
  };
  socket.on('error', () => {});
  const type = String(h.upgrade ?? '').toLowerCase();
  const url = String(h[':path']);
  const q = url.indexOf('?');
  const table = cfg.routeTable ?? (cfg.rdsName !== undefined ? env.routes.get(cfg.rdsName) : undefined);
  const route = table?.match(String(h[':authority']), { headers: h, path: q >= 0 ? url.slice(0, q) : url, query: q >= 0 ? url.slice(q + 1) : '' });
  if (!route) {
    si.responseCode = 404;
    si.setFlag('NR');
    stats.no_route.value++;
    reply(socket, 404, 'Not Found', cfg.serverName);
    return log();
  }
  si.routeName = route.name;
  const a = route.action;
  if (a.kind !== 'route' || !(cfg.upgrades.has(type) || a.upgrades.has(type))) {
    si.responseCode = 403;
    si.responseCodeDetails = 'upgrade_failed';
    reply(socket, 403, 'Forbidden', cfg.serverName);
    return log();
  }
  const name = a.cluster ?? a.weighted?.clusters[0]?.name ?? '';
  const cluster = env.clusters.get(name);
  si.upstreamCluster = name;
  const host = cluster?.lb.choose();
  if (!host) {
    si.responseCode = 503;
    si.setFlag(cluster ? 'UH' : 'NC');
    reply(socket, 503, 'Service Unavailable', cfg.serverName);
    return log();
  }
  si.upstreamHost = host.address;
  route.requestMutation.apply(h, si);
  if (cfg.generateRequestId && h['x-request-id'] === undefined) h['x-request-id'] = randomUUID();
  if (h['x-forwarded-proto'] === undefined) h['x-forwarded-proto'] = 'http';
  let lines = `${req.method} ${h[':path']} HTTP/1.1\r\nhost: ${h[':authority']}\r\n`;
  for (const k in h) {
    const v = h[k];
    if (k.charCodeAt(0) === 58 || v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) lines += `${k}: ${x}\r\n`;
  }
  const up = connect({ host: host.ip, port: host.port, noDelay: true });
  up.on('error', () => {});
  const t = setTimeout(() => up.destroy(), cluster!.config.connectTimeoutMs);
  let first = true;
  up.once('connect', () => {
    clearTimeout(t);
    up.write(lines + '\r\n');
    if (head.length) up.write(head);
    socket.pipe(up);
  });
  up.on('data', (c: Buffer) => {
    if (first) {
      first = false;
      const m = /^HTTP\/1\.1 (\d{3})/.exec(c.toString('latin1', 0, 16));
      si.responseCode = m ? Number(m[1]) : 0;
    }
    si.bytesSent += c.length;
    socket.write(c);
  });
  socket.on('data', (c: Buffer) => (si.bytesReceived += c.length));
  up.once('close', () => {
    clearTimeout(t);
    if (first) {
      si.setFlag('UF');
      si.responseCode = 503;
      reply(socket, 503, 'Service Unavailable', cfg.serverName);
    } else socket.end();
  });
  socket.once('close', () => {
    up.destroy();
    log();
  });
}
