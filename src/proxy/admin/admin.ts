/**
 * The admin API on the bootstrap's admin address, with Envoy's paths and output shapes:
 * /ready, /server_info, /stats (text, ?format=json, ?filter=), /stats/prometheus, /clusters,
 * /listeners, /config_dump (?resource=, ?include_eds), /logging, /quitquitquit, /drain_listeners,
 * /healthcheck/fail|ok. Mutating endpoints require POST, as in Envoy.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ProxyServer } from '../server.js';
import { LEVELS, level, setLevel } from '../log.js';
import { configDump } from './config-dump.js';
import { prometheusText } from './prometheus.js';
import type { Host } from '../cluster/host.js';

export class AdminServer {
  private server: Server | undefined;
  port = 0;
  healthFailed = false;

  constructor(private readonly proxy: ProxyServer) {}

  async listen(ip: string, port: number): Promise<void> {
    const server = createServer((req, res) => {
      try {
        this.handle(req, res);
      } catch (e) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(String((e as Error).message));
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, ip, () => resolve());
    });
    const a = server.address();
    this.port = a && typeof a === 'object' ? a.port : port;
    this.server = server;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://admin');
    const q = url.searchParams;
    const p = this.proxy;
    const text = (code: number, body: string, type = 'text/plain; charset=UTF-8') => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-cache, max-age=0', 'x-content-type-options': 'nosniff' });
      res.end(body);
    };
    const json = (v: unknown) => text(200, JSON.stringify(v, null, 1) + '\n', 'application/json');
    const post = () => {
      if (req.method !== 'POST') {
        text(405, 'This endpoint requires POST\n');
        return false;
      }
      return true;
    };
    switch (url.pathname) {
      case '/ready':
        return p.state === 'LIVE' ? text(200, 'LIVE\n') : text(503, `${p.state}\n`);
      case '/server_info':
        return json(this.serverInfo());
      case '/stats':
        return q.get('format') === 'json' ? json(this.statsJson(q.get('filter'))) : q.get('format') === 'prometheus' ? text(200, prometheusText(p.stats, q.get('filter'))) : text(200, this.statsText(q.get('filter'), q.has('usedonly')));
      case '/stats/prometheus':
        return text(200, prometheusText(p.stats, q.get('filter')), 'text/plain; version=0.0.4');
      case '/clusters':
        return q.get('format') === 'json' ? json(this.clustersJson()) : text(200, this.clustersText());
      case '/listeners':
        return q.get('format') === 'json' ? json(this.listenersJson()) : text(200, this.listenersText());
      case '/config_dump':
        return json(configDump(p, q.get('resource') ?? undefined, q.has('include_eds'), q.get('name_regex') ?? undefined));
      case '/logging': {
        if (req.method === 'POST') {
          const l = q.get('level');
          if (l && !setLevel(l)) return text(400, `error: unknown logger level\n`);
          for (const [k, v] of q) if (k !== 'level' && !setLevel(v)) return text(400, `error: unknown logger level\n`);
        } else if ([...q.keys()].length) return void post();
        return text(200, `active loggers:\n  main: ${level()}\n  upstream: ${level()}\n  http: ${level()}\n  config: ${level()}\n\nlevels: ${LEVELS.join(', ')}\n`);
      }
      case '/quitquitquit':
        if (!post()) return;
        text(200, 'OK\n');
        setImmediate(() => void p.shutdown().then(() => process.exit(0)));
        return;
      case '/drain_listeners':
        if (!post()) return;
        p.listeners.drainAll(q.has('inboundonly'), q.has('graceful'));
        return text(200, 'OK\n');
      case '/reopen_logs':
        if (!post()) return;
        return text(200, 'OK\n');
      case '/healthcheck/fail':
        if (!post()) return;
        this.healthFailed = true;
        return text(200, 'OK\n');
      case '/healthcheck/ok':
        if (!post()) return;
        this.healthFailed = false;
        return text(200, 'OK\n');
      case '/':
      case '/help':
        return text(200, 'admin commands are:\n  /clusters\n  /config_dump\n  /drain_listeners\n  /healthcheck/fail\n  /healthcheck/ok\n  /listeners\n  /logging\n  /quitquitquit\n  /ready\n  /server_info\n  /stats\n  /stats/prometheus\n');
      default:
        return text(404, 'invalid path. admin commands are:\n  /clusters\n  /config_dump\n  /listeners\n  /ready\n  /server_info\n  /stats\n  /stats/prometheus\n');
    }
  }

  private serverInfo(): unknown {
    const p = this.proxy;
    const up = Math.floor((Date.now() - p.startTime) / 1000);
    return {
      version: 'spar/0.1.0/Clean/RELEASE/node',
      state: p.state === 'LIVE' ? 'LIVE' : p.state === 'DRAINING' ? 'DRAINING' : p.state,
      hot_restart_version: 'disabled',
      command_line_options: p.opts.commandLine,
      node: p.bootstrap.node.json,
      uptime_current_epoch: `${up}s`,
      uptime_all_epochs: `${up}s`,
    };
  }

  private statsText(filter: string | null, usedOnly: boolean): string {
    const re = filter ? new RegExp(filter) : undefined;
    const lines: string[] = [];
    const s = this.proxy.stats;
    for (const [n, c] of s.counters) if ((!re || re.test(n)) && (!usedOnly || c.value)) lines.push(`${n}: ${c.value}`);
    for (const [n, g] of s.gauges) if ((!re || re.test(n)) && (!usedOnly || g.value)) lines.push(`${n}: ${g.value}`);
    for (const [n, h] of s.histograms) if (!re || re.test(n)) lines.push(`${n}: P0(nan,nan) count=${h.count} sum=${h.sum}`);
    lines.sort();
    return lines.join('\n') + '\n';
  }

  private statsJson(filter: string | null): unknown {
    const re = filter ? new RegExp(filter) : undefined;
    const stats: { name: string; value: number }[] = [];
    const s = this.proxy.stats;
    for (const [n, c] of s.counters) if (!re || re.test(n)) stats.push({ name: n, value: c.value });
    for (const [n, g] of s.gauges) if (!re || re.test(n)) stats.push({ name: n, value: g.value });
    stats.sort((a, b) => a.name.localeCompare(b.name));
    return { stats };
  }

  private clustersText(): string {
    const out: string[] = [];
    for (const c of this.proxy.clusters.clusters.values()) {
      const n = c.config.name;
      out.push(`${n}::observability_name::${n}`);
      const od = c.outlier;
      if (od) {
        out.push(`${n}::outlier::success_rate_average::${od.successRateAverage}`, `${n}::outlier::success_rate_ejection_threshold::${od.successRateThreshold}`);
        out.push(`${n}::outlier::local_origin_success_rate_average::${od.localSuccessRateAverage}`, `${n}::outlier::local_origin_success_rate_ejection_threshold::${od.localSuccessRateThreshold}`);
      }
      for (const [i, prio] of (['default_priority', 'high_priority'] as const).entries()) {
        const t = c.config.breakers[i];
        out.push(`${n}::${prio}::max_connections::${t.maxConnections}`, `${n}::${prio}::max_pending_requests::${t.maxPendingRequests}`);
        out.push(`${n}::${prio}::max_requests::${t.maxRequests}`, `${n}::${prio}::max_retries::${t.maxRetries}`);
      }
      out.push(`${n}::added_via_api::${!this.proxy.clusters.staticNames.has(n)}`);
      for (const h of c.hosts) {
        const p = `${n}::${h.address}::`;
        out.push(`${p}cx_active::0`, `${p}cx_total::${h.cxTotal}`, `${p}rq_active::${h.active}`, `${p}rq_error::${h.rqError}`, `${p}rq_total::${h.rqTotal}`);
        out.push(`${p}hostname::${h.hostname}`, `${p}health_flags::${healthFlags(h)}`);
        out.push(`${p}weight::${h.weight}`, `${p}region::${h.locality.split('/')[0] ?? ''}`, `${p}zone::${h.locality.split('/')[1] ?? ''}`, `${p}sub_zone::${h.locality.split('/')[2] ?? ''}`, `${p}canary::false`, `${p}priority::0`, `${p}success_rate::${h.outlier?.successRate ?? -1}`, `${p}local_origin_success_rate::${h.outlier?.localSuccessRate ?? -1}`);
      }
    }
    return out.join('\n') + '\n';
  }

  private clustersJson(): unknown {
    const statuses = [...this.proxy.clusters.clusters.values()].map((c) => ({
      name: c.config.name,
      observability_name: c.config.name,
      added_via_api: !this.proxy.clusters.staticNames.has(c.config.name),
      host_statuses: c.hosts.map((h) => ({
        address: { socket_address: { address: h.ip, port_value: h.port } },
        stats: [
          { name: 'cx_total', value: String(h.cxTotal) },
          { name: 'rq_error', value: String(h.rqError) },
          { name: 'rq_total', value: String(h.rqTotal) },
          { type: 'GAUGE', name: 'rq_active', value: String(h.active) },
        ],
        health_status: { eds_health_status: h.health === 'UNKNOWN' ? 'HEALTHY' : h.health, failed_outlier_check: h.ejected || undefined },
        weight: h.weight,
        hostname: h.hostname || undefined,
        success_rate: h.outlier && h.outlier.successRate >= 0 ? { value: h.outlier.successRate } : undefined,
        local_origin_success_rate: h.outlier && h.outlier.localSuccessRate >= 0 ? { value: h.outlier.localSuccessRate } : undefined,
        locality: h.locality ? { region: h.locality.split('/')[0], zone: h.locality.split('/')[1], sub_zone: h.locality.split('/')[2] } : {},
      })),
    }));
    return { cluster_statuses: statuses };
  }

  private listenersText(): string {
    const out: string[] = [];
    for (const al of this.proxy.listeners.listeners.values()) {
      const port = al.server ? this.proxy.listeners.boundPort(al.cfg.name) : al.cfg.port;
      out.push(`${al.cfg.name}::${al.cfg.ip}:${port}`);
    }
    return out.join('\n') + '\n';
  }

  private listenersJson(): unknown {
    return {
      listener_statuses: [...this.proxy.listeners.listeners.values()].map((al) => ({
        name: al.cfg.name,
        local_address: { socket_address: { address: al.cfg.ip, port_value: al.server ? this.proxy.listeners.boundPort(al.cfg.name) : al.cfg.port } },
      })),
    };
  }
}

/** Envoy's /clusters health_flags: `healthy`, or every flag set (outlier ejection, then EDS status). */
function healthFlags(h: Host): string {
  if (h.healthy) return 'healthy';
  const eds = h.health === 'UNKNOWN' || h.health === 'HEALTHY' ? '' : h.health === 'DRAINING' ? '/pending_dynamic_removal' : '/eds_health_status_failed';
  return (h.ejected ? '/failed_outlier_check' : '') + eds;
}
