/**
 * Request mirroring (RouteAction.request_mirror_policies), as Envoy documents it: for each policy
 * whose runtime_fraction fires, a copy of the request — headers as the router sends them, body
 * streamed as it arrives — goes to the shadow cluster, fire and forget. The shadow's :authority gets
 * the `-shadow` suffix (before the port: "host-shadow:8080") unless disable_shadow_host_suffix_append.
 * The shadow's response is read and dropped; nothing that happens to a shadow (no cluster, no host,
 * connect failure, timeout, reset) changes the main request. The shadow cluster's own stats count it
 * (upstream_rq_total, upstream_rq_<class>, upstream_rq_completed, upstream_rq_timeout, connect
 * failures), as Envoy counts shadows through its cluster.
 *
 * Compiled once per route config; a route without mirror policies carries none (`undefined`) and the
 * router does not call in here.
 */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Fields } from '../config/fields.js';
import type { Cluster } from '../cluster/cluster.js';
import type { Host } from '../cluster/host.js';
import { H2Request, h2Headers } from '../cluster/h2-pool.js';
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
  const timeoutMs = a.timeoutMs;
  for (const p of policies) {
    if (p.numerator < p.denominator && Math.random() * p.denominator >= p.numerator) continue;
    const name = p.cluster ?? getHeader(s.headers, p.clusterHeader!) ?? '';
    const cluster = name ? s.env.clusters.get(name) : undefined;
    if (!cluster || !cluster.warm) continue;
    shadow(s, cluster, p.appendSuffix, timeoutMs, a.retry?.perTryTimeoutMs);
  }
}

function shadow(s: HttpStream, cluster: Cluster, appendSuffix: boolean, timeoutMs: number, perTryMs: number | undefined): void {
  const cs = cluster.stats;
  if (cluster.active >= cluster.config.maxRequests) {
    cs.upstream_rq_pending_overflow.value++;
    return;
  }
  let host: Host | undefined;
  if (cluster.config.type === 'ORIGINAL_DST') {
    const od = s.conn.originalDst;
    host = od ? cluster.originalDstHost(od.ip, od.port) : undefined;
  } else host = cluster.lb.choose();
  if (!host) {
    cs.upstream_cx_none_healthy.value++;
    return;
  }
  const h = s.headers;
  const authority = String(h[':authority'] ?? '');
  const method = h[':method'] as string;
  const path = h[':path'] as string;
  const sh: Headers = { ...h, ':authority': appendSuffix ? shadowAuthority(authority) : authority };
  // The copy is taken after the router set its timeout header, as in Envoy.
  if (timeoutMs > 0 && !s.cfg.suppressEnvoyHeaders) sh['x-envoy-expected-rq-timeout-ms'] = String(perTryMs ? Math.min(perTryMs, timeoutMs) : timeoutMs);
  const out = upstreamHeaders(sh, s.req.headers['transfer-encoding'] !== undefined || s.req.httpVersionMajor === 2);
  const cfg = cluster.config;
  const h2 = cfg.upstreamHttp2 || (cfg.useDownstreamProtocol && s.req.httpVersionMajor === 2);
  const countConnection = () => {
    host.cxTotal++;
    cs.upstream_cx_total.value++;
  };
  let up: ClientRequest;
  try {
    up = h2
      ? new H2Request(host, h2Headers(method, path, out.host as string, out), cfg.connectTimeoutMs, countConnection) as unknown as ClientRequest
      : request({ agent: host.http1Agent(), host: host.ip, port: host.port, localAddress: cfg.sourceAddress, method, path, headers: out, setHost: false });
  } catch {
    return; // headers node:http refuses; the main request goes on regardless
  }
  if (!h2) up.removeHeader('connection');
  cluster.active++;
  cs.upstream_rq_active.value++;
  cs.upstream_rq_total.value++;
  host.active++;
  host.rqTotal++;
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  const finish = (failed: boolean) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    cluster.active--;
    cs.upstream_rq_active.value--;
    host.active--;
    if (failed) {
      host.rqError++;
      up.destroy();
    }
  };
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
    if (!finished && (err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH')) cs.upstream_cx_connect_fail.value++;
    finish(true);
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
      finish(false);
    });
    res.on('aborted', () => finish(true));
    res.resume();
  });
  // The route timeout bounds the shadow too, from when the request is complete (as the main request).
  const startTimer = () => {
    if (timeoutMs > 0 && !finished) {
      timer = setTimeout(() => {
        cs.upstream_rq_timeout.value++;
        finish(true);
      }, timeoutMs);
    }
  };
  const req = s.req;
  if (s.requestComplete || req.readableEnded) {
    up.end();
    startTimer();
    return;
  }
  const onData = (chunk: Buffer) => {
    if (finished) return;
    // Bytes written but not yet taken by the shadow's connection (HTTP/2 streams do not say: no limit).
    if (((up as { writableLength?: number }).writableLength ?? 0) > SHADOW_BUFFER_LIMIT) return finish(true);
    up.write(chunk);
  };
  const onEnd = () => {
    req.removeListener('data', onData);
    req.removeListener('close', onClose);
    if (finished) return;
    up.end();
    startTimer();
  };
  // A downstream that goes away mid-body leaves a shadow that can never complete: cancel it.
  const onClose = () => {
    req.removeListener('data', onData);
    req.removeListener('end', onEnd);
    if (!req.readableEnded) finish(true);
  };
  req.on('data', onData);
  req.once('end', onEnd);
  req.once('close', onClose);
}
