/**
 * One HTTP request through the connection manager: Envoy's ActiveStream. Request headers are
 * prepared as Envoy does (x-request-id, x-forwarded-for/-proto, :authority), the route is selected,
 * filters run, then the router forwards upstream or the stream answers locally. Every ending —
 * response complete, local reply, downstream reset — goes through `complete()`, which writes the
 * access log exactly once.
 *
 * Downstream codecs (node:http for HTTP/1.1, node:http2's compatibility API for HTTP/2) present the
 * same request/response objects, so this file does not care which one it has.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { randomUUID } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { StreamInfo, type ResponseFlagName } from '../stream-info.js';
import type { HcmConfig } from '../filters/network/http_connection_manager/config.js';
import type { HcmStats } from '../stats/stats.js';
import type { ClusterManager } from '../cluster/cluster-manager.js';
import type { Route, RouteTable } from '../router/route-table.js';
import { forward } from '../router/router.js';
import { getHeader, type Headers } from './headers.js';
import type { LocalReplySpec } from './local-reply.js';
import { LocalReply } from './local-reply.js';
import { normalizePath } from './path.js';
import { longestMatch } from '../listener/cidr.js';
import type { FilterReply } from '../filters/http/registry.js';
import { runtime } from '../runtime.js';
import type { DownstreamTlsInfo } from '../tls/connection-info.js';
import { mutateXfcc } from '../tls/xfcc.js';

export type DownstreamRequest = IncomingMessage | Http2ServerRequest;
export type DownstreamResponse = ServerResponse | Http2ServerResponse;

/** What the connection manager shares with its streams. */
export interface HttpEnv {
  clusters: ClusterManager;
  routes: Map<string, RouteTable>;
}

/** Per-connection facts, computed once per connection (not per request). */
export interface ConnectionInfo {
  remote: string;
  remoteIp: string;
  local: string;
  direct: string;
  connectionId: number;
  tls: boolean;
  sni: string;
  /** The TLS connection's certificates and parameters (TLS filter chains only). */
  tlsInfo?: DownstreamTlsInfo;
  /** The original destination (use_original_dst / ORIGINAL_DST clusters). */
  originalDst?: { ip: string; port: number };
}

/** Envoy's HTTP → gRPC status mapping for local replies (Grpc::Utility::httpToGrpcStatus). */
function grpcStatus(http: number): number {
  switch (http) {
    case 400: return 13;
    case 401: return 16;
    case 403: return 7;
    case 404: return 12;
    case 429: case 502: case 503: case 504: return 14;
    default: return 2;
  }
}

let hostAddress: string | undefined;
/** Envoy's stand-in for a loopback client under use_remote_address: the host's first non-loopback address. */
function localHostAddress(): string {
  if (hostAddress !== undefined) return hostAddress;
  hostAddress = '127.0.0.1';
  for (const list of Object.values(networkInterfaces())) {
    const a = list?.find((x) => !x.internal && x.family === 'IPv4');
    if (a) {
      hostAddress = a.address;
      break;
    }
  }
  return hostAddress;
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.');
}

/** Removed from requests that are not internal (Envoy's cleanInternalHeaders). */
const EXTERNAL_STRIPPED = ['x-envoy-retry-on', 'x-envoy-retry-grpc-on', 'x-envoy-max-retries', 'x-envoy-upstream-alt-stat-name', 'x-envoy-upstream-rq-timeout-ms',
  'x-envoy-upstream-rq-per-try-timeout-ms', 'x-envoy-upstream-rq-timeout-alt-response', 'x-envoy-expected-rq-timeout-ms', 'x-envoy-force-trace', 'x-envoy-ip-tags',
  'x-envoy-original-url', 'x-envoy-hedge-on-per-try-timeout'];

export class HttpStream {
  readonly si = new StreamInfo();
  headers: Headers;
  route: Route | undefined = undefined;
  /** :path without the query, and the query ('' when none). */
  path = '';
  query = '';
  done = false;
  /** The router's cancel hook (downstream went away). */
  onReset: (() => void) | undefined = undefined;
  requestComplete = false;

  constructor(
    readonly req: DownstreamRequest,
    readonly res: DownstreamResponse,
    readonly cfg: HcmConfig,
    readonly env: HttpEnv,
    readonly conn: ConnectionInfo,
    readonly stats: HcmStats,
  ) {
    const si = this.si;
    si.downstreamRemoteAddress = conn.remote;
    si.downstreamLocalAddress = conn.local;
    si.downstreamDirectRemoteAddress = conn.direct;
    si.connectionId = conn.connectionId;
    si.requestedServerName = conn.sni;
    si.downstreamTls = conn.tlsInfo;
    const h2 = req.httpVersionMajor === 2;
    si.protocol = h2 ? 'HTTP/2' : req.httpVersion === '1.0' ? 'HTTP/1.0' : 'HTTP/1.1';
    const h = req.headers as Headers;
    if (!h2) {
      h[':method'] = req.method;
      h[':path'] = req.url;
      h[':scheme'] = conn.tls ? 'https' : 'http';
      if (h.host !== undefined) {
        h[':authority'] = h.host;
        delete h.host;
      } else h[':authority'] = '';
    }
    this.headers = h;
    si.requestHeaders = h;
  }

  /** Runs the request: header preparation, routing, filters, then router or local reply. */
  run(): void {
    const { cfg, headers: h, si, stats } = this;
    stats.downstream_rq_total.value++;
    stats.downstream_rq_active.value++;
    this.res.on('close', () => this.onDownstreamClose());
    this.req.on('end', () => { this.requestComplete = true; });
    // Requests Envoy's HTTP/1 codec refuses (same status, body and connection close).
    if (this.req.httpVersionMajor === 1) {
      if (h[':authority'] === '' && this.req.httpVersionMinor === 1) return this.localReply({ status: 400, body: '', flag: 'DPE', details: 'http1.missing_host_header' }, false, undefined, true);
      const te = h['transfer-encoding'];
      if (te !== undefined && String(te).toLowerCase() !== 'chunked') return this.localReply({ status: 501, body: 'Not Implemented', flag: 'DPE', details: 'http1.invalid_transfer_encoding' }, false, undefined, true);
      if (this.req.rawHeaders.length / 2 > cfg.maxHeadersCount) return this.localReply({ status: 431, body: 'Request Header Fields Too Large', flag: 'DPE', details: 'http1.too_many_headers' }, false, undefined, true);
    }

    mutateXfcc(h, cfg.forwardClientCert, cfg.clientCertDetails, this.conn.tlsInfo);
    // x-forwarded-for / x-forwarded-proto / x-envoy-internal, as the connection manager does.
    let internal: boolean;
    if (cfg.useRemoteAddress) {
      const ip = isLoopback(this.conn.remoteIp) ? localHostAddress() : this.conn.remoteIp;
      if (!cfg.skipXffAppend) {
        const xff = getHeader(h, 'x-forwarded-for');
        h['x-forwarded-for'] = xff ? `${xff},${ip}` : ip;
      }
      h['x-forwarded-proto'] = this.conn.tls ? 'https' : 'http';
      internal = cfg.internalRanges.length > 0 && longestMatch(cfg.internalRanges, ip) >= 0;
    } else {
      if (h['x-forwarded-proto'] === undefined) h['x-forwarded-proto'] = this.conn.tls ? 'https' : 'http';
      // Without use_remote_address, a request is internal only when XFF holds one internal address.
      const xff = getHeader(h, 'x-forwarded-for');
      internal = cfg.internalRanges.length > 0 && xff !== undefined && !xff.includes(',') && longestMatch(cfg.internalRanges, xff.trim()) >= 0;
    }
    if (internal) h['x-envoy-internal'] = 'true';
    else {
      delete h['x-envoy-internal'];
      // The control headers only an internal caller may send (Envoy strips them from external requests).
      for (const n of EXTERNAL_STRIPPED) if (h[n] !== undefined) delete h[n];
      if (cfg.useRemoteAddress) {
        // An edge request (from outside, to the first proxy) also loses these.
        delete h['x-envoy-decorator-operation'];
        delete h['x-envoy-downstream-service-cluster'];
        delete h['x-envoy-downstream-service-node'];
      }
    }
    if (cfg.generateRequestId && (h['x-request-id'] === undefined || (cfg.useRemoteAddress && !cfg.preserveExternalRequestId && !internal))) {
      h['x-request-id'] = randomUUID();
    }
    if (cfg.headersWithUnderscores !== 'ALLOW') {
      for (const k of Object.keys(h)) {
        if (!k.includes('_')) continue;
        if (cfg.headersWithUnderscores === 'REJECT_REQUEST') return this.localReply({ status: 400, body: 'Bad Request', details: 'unexpected_underscore' });
        delete h[k];
      }
    }

    let rawPath = (h[':path'] as string | undefined) ?? '';
    if (cfg.normalizePath || cfg.mergeSlashes) {
      const n = normalizePath(rawPath, cfg.normalizePath, cfg.mergeSlashes);
      if (n === undefined) return this.localReply({ status: 400, body: 'Bad Request', details: 'path_normalization_failed' });
      rawPath = n;
      h[':path'] = n;
    }
    let frag = rawPath.indexOf('#');
    if (frag >= 0) {
      // Fragments never go upstream: Envoy rejects them, or strips them when the runtime says so.
      if (runtime.rejectPathWithFragment) return this.localReply({ status: 400, body: '', flag: 'DPE', details: 'http1.invalid_url' }, false, undefined, true);
      rawPath = rawPath.slice(0, frag);
      h[':path'] = rawPath;
      frag = -1;
    }
    const q = rawPath.indexOf('?');
    const end = q >= 0 ? q : frag >= 0 ? frag : rawPath.length;
    this.path = rawPath.slice(0, end);
    this.query = q >= 0 ? rawPath.slice(q + 1, frag > q ? frag : undefined) : '';

    const table = cfg.routeTable ?? (cfg.rdsName !== undefined ? this.env.routes.get(cfg.rdsName) : undefined);
    for (const name of table?.internalOnly ?? []) if (cfg.useRemoteAddress && !internal) delete h[name];
    const route = table?.match((h[':authority'] as string) ?? '', this);
    if (!route) {
      stats.no_route.value++;
      return this.localReply(LocalReply.noRoute);
    }
    const tlsRequired = route.vhost.requireTls;
    if (tlsRequired && h['x-forwarded-proto'] !== 'https' && (tlsRequired === 'ALL' || !internal)) {
      // Envoy's TLS redirect route: 301 to the same authority and path over https.
      si.virtualHostName = route.vhost.name;
      return this.localReply({ status: 301, body: '', details: 'direct_response' }, false, { location: `https://${(h[':authority'] as string) ?? ''}${h[':path'] as string}` });
    }
    this.route = route;
    if (cfg.tracing) {
      // Envoy's decorator propagation (tracing on): egress sends the route's operation upstream;
      // ingress drops an operation the caller sent.
      if (cfg.tracing === 'egress') {
        if (route.decorator) h['x-envoy-decorator-operation'] = route.decorator;
      } else if (h['x-envoy-decorator-operation'] !== undefined) delete h['x-envoy-decorator-operation'];
    }
    si.routeName = route.name;
    si.virtualHostName = route.vhost.name;

    this.runFilters(0);
  }

  /** The local-reply callback handed to filters (made once per request, on first use). */
  private filterReply: FilterReply | undefined = undefined;

  /** Runs the HTTP filters from index i; a filter may pause the chain (a promise), then it resumes. */
  private runFilters(i: number): void {
    const fs = this.cfg.filters;
    const route = this.route!;
    const cluster = route.action.kind === 'route' ? (route.action.cluster ?? '') : '';
    // The route's cluster is known from here on (a filter's local reply logs it, as Envoy's does).
    if (i === 0 && cluster && this.env.clusters.get(cluster)) this.si.upstreamCluster = cluster;
    for (; i < fs.length; i++) {
      const f = fs[i];
      if (!f.onRequestHeaders) continue;
      const r = f.onRequestHeaders(this.headers, this.si, this.filterReply ??= (status, body, flag, grpc, extra) => this.localReply({ status, body, flag: flag as ResponseFlagName, details: extra?.details ?? 'fault_filter_abort', grpcStatus: grpc }, true, extra?.headers), route.perFilter?.get(f.name ?? ''), cluster, this);
      if (r === true) continue;
      if (r === false) return;
      const next = i + 1;
      r.then((go) => {
        if (go && !this.done) this.runFilters(next);
      }, () => this.localReply({ status: 500, body: '', details: 'filter_error' }));
      return;
    }
    this.dispatch();
  }

  /** The route's action: direct response, redirect, or the router. */
  private dispatch(): void {
    const { headers: h, si, stats } = this;
    const route = this.route!;
    const a = route.action;
    if (a.kind === 'direct_response') {
      stats.rq_direct_response.value++;
      return this.localReply({ status: a.status, body: a.body ?? '', details: 'direct_response' }, true);
    }
    if (a.kind === 'redirect') {
      stats.rq_redirect.value++;
      return this.redirect(a);
    }
    route.requestMutation.apply(h, si);
    forward(this, a);
  }

  private redirect(a: Extract<Route['action'], { kind: 'redirect' }>): void {
    const h = this.headers;
    const scheme = a.scheme ?? ((h[':scheme'] as string) || 'http');
    let host = a.host ?? ((h[':authority'] as string) || '');
    const hasPort = /:\d+$/.test(host) && !host.endsWith(']');
    if (a.port !== undefined) host = `${hasPort ? host.slice(0, host.lastIndexOf(':')) : host}:${a.port}`;
    else if (a.scheme && hasPort && a.host === undefined) {
      // Envoy drops a default port of the new scheme when changing scheme.
      const p = host.slice(host.lastIndexOf(':') + 1);
      if ((scheme === 'https' && p === '443') || (scheme === 'http' && p === '80')) host = host.slice(0, host.lastIndexOf(':'));
    }
    let path = this.path;
    if (a.path !== undefined) path = a.path;
    else if (a.prefixRewrite !== undefined && this.route?.match.prefix !== undefined) path = a.prefixRewrite + path.slice(this.route.match.prefix.length);
    else if (a.regexRewrite) path = a.regexRewrite.re.replaceAll(path, a.regexRewrite.sub);
    let query = a.stripQuery ? '' : this.query;
    if (a.path !== undefined && a.path.includes('?')) query = '';
    const location = `${scheme}://${host}${path}${query ? '?' + query : ''}`;
    this.localReply({ status: a.code, body: '', details: 'direct_response' }, true, { location });
  }

  /** Answers locally (Envoy's sendLocalReply): text/plain body, response header mutations when routed. */
  localReply(spec: LocalReplySpec, routed = false, extra?: Headers, closeConnection = false): void {
    const res = this.res;
    if (closeConnection && this.req.httpVersionMajor === 1) (res as ServerResponse).shouldKeepAlive = false;
    const si = this.si;
    if (spec.flag) si.setFlag(spec.flag);
    si.responseCodeDetails = spec.details;
    if (this.done || res.headersSent) {
      // Too late for a reply: reset the stream.
      this.resetDownstream();
      return;
    }
    let body = typeof spec.body === 'string' ? Buffer.from(spec.body) : (spec.body as Buffer);
    const rh: Headers = { ...extra };
    let status = spec.status;
    const ct = this.headers['content-type'];
    if (typeof ct === 'string' && ct.startsWith('application/grpc')) {
      // gRPC clients get a trailers-only response: HTTP 200 with grpc-status mapped from the HTTP code (Envoy).
      rh['content-type'] = 'application/grpc';
      rh['grpc-status'] = String(spec.grpcStatus ?? grpcStatus(status));
      if (body.length) rh['grpc-message'] = encodeURIComponent(body.toString()).replace(/%20/g, ' ');
      status = 200;
      body = Buffer.alloc(0);
    } else if (body.length) {
      rh['content-type'] = 'text/plain';
    }
    rh['content-length'] = String(body.length);
    if (routed && this.route) this.route.responseMutation.apply(rh, si);
    this.finalizeResponseHeaders(rh);
    for (const f of this.cfg.filters) f.onResponseHeaders?.(status, rh, si);
    si.responseCode = status;
    si.responseHeaders = rh;
    try {
      if (rh['grpc-status'] !== undefined && this.req.httpVersionMajor === 2) {
        // gRPC trailers-only: HEADERS with END_STREAM (grpc clients need the status there).
        (res as Http2ServerResponse).stream.respond({ ':status': status, ...rh } as never, { endStream: true });
        this.complete();
        return;
      }
      res.writeHead(status, rh as never);
      if (body.length && this.headers[':method'] !== 'HEAD') {
        res.end(body);
        si.bytesSent = body.length;
      } else res.end();
    } catch {
      this.resetDownstream();
      return;
    }
    this.complete();
  }

  /** Server header and request id echo, applied to every response (upstream or local). */
  finalizeResponseHeaders(rh: Headers): void {
    const cfg = this.cfg;
    if (cfg.serverHeader === 'OVERWRITE' || (cfg.serverHeader === 'APPEND_IF_ABSENT' && rh.server === undefined)) rh.server = cfg.serverName;
    if (cfg.alwaysSetRequestIdInResponse && this.headers['x-request-id'] !== undefined) rh['x-request-id'] = this.headers['x-request-id'];
  }

  /** Resets the downstream stream (after headers were sent, or on protocol errors). */
  resetDownstream(): void {
    const r = this.res as Http2ServerResponse;
    if (r.stream) r.stream.close(2);
    else (this.res as ServerResponse).socket?.destroy();
    this.complete();
  }

  private onDownstreamClose(): void {
    if (this.done) return;
    // The client went away before the response finished.
    if (!this.res.writableFinished) {
      this.si.setFlag('DC');
      this.stats.downstream_rq_rx_reset.value++;
      this.onReset?.();
    }
    this.complete();
  }

  /** The one place a stream ends: stats, access logs, filter onDone. */
  complete(): void {
    if (this.done) return;
    this.done = true;
    const si = this.si;
    si.finish();
    si.bytesReceived += 0;
    const s = this.stats;
    s.downstream_rq_active.value--;
    const c = si.responseCode;
    if (c >= 500) s.downstream_rq_5xx.value++;
    else if (c >= 400) s.downstream_rq_4xx.value++;
    else if (c >= 300) s.downstream_rq_3xx.value++;
    else if (c >= 200) s.downstream_rq_2xx.value++;
    else if (c >= 100) s.downstream_rq_1xx.value++;
    const logs = this.cfg.accessLogs;
    if (logs) for (let i = 0; i < logs.length; i++) logs[i](si);
    const fs = this.cfg.filters;
    for (let i = 0; i < fs.length; i++) fs[i].onDone?.(si);
  }
}
