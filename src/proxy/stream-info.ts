/**
 * What happened to one request (or one TCP connection): Envoy's StreamInfo. Filled in along the
 * request path, read by access logs, stats and `%...%` header variables after (or during) the fact.
 * One plain object per request, with every field present from the start so V8 keeps one shape.
 */
import type { DownstreamTlsInfo } from './tls/connection-info.js';

/** Envoy's response flags (the short names are what access logs print, in Envoy's order). */
export const ResponseFlag = {
  FailedLocalHealthCheck: 'LH',
  NoHealthyUpstream: 'UH',
  UpstreamRequestTimeout: 'UT',
  LocalReset: 'LR',
  UpstreamRemoteReset: 'UR',
  UpstreamConnectionFailure: 'UF',
  UpstreamConnectionTermination: 'UC',
  UpstreamOverflow: 'UO',
  NoRouteFound: 'NR',
  DelayInjected: 'DI',
  FaultInjected: 'FI',
  RateLimited: 'RL',
  UnauthorizedExternalService: 'UAEX',
  RateLimitServiceError: 'RLSE',
  DownstreamConnectionTermination: 'DC',
  UpstreamRetryLimitExceeded: 'URX',
  StreamIdleTimeout: 'SI',
  InvalidEnvoyRequestHeaders: 'IH',
  DownstreamProtocolError: 'DPE',
  UpstreamMaxStreamDurationReached: 'UMSDR',
  ResponseFromCacheFilter: 'RFCF',
  NoFilterConfigFound: 'NFCF',
  DurationTimeout: 'DT',
  UpstreamProtocolError: 'UPE',
  NoClusterFound: 'NC',
  OverloadManager: 'OM',
  DnsResolutionFailed: 'DF',
  DropOverLoad: 'DO',
  DownstreamRemoteReset: 'DR',
} as const;
export type ResponseFlagName = (typeof ResponseFlag)[keyof typeof ResponseFlag];

/** Header lookup over whatever representation the codec gave (node:http lower-cased objects). */
export type HeaderMap = Record<string, string | string[] | undefined>;

export class StreamInfo {
  startMs = Date.now();
  startHr = process.hrtime.bigint();
  endHr = 0n;
  protocol = '-';
  requestHeaders: HeaderMap | undefined = undefined;
  responseHeaders: HeaderMap | undefined = undefined;
  responseTrailers: HeaderMap | undefined = undefined;
  responseCode = 0;
  responseCodeDetails = '';
  private flags: ResponseFlagName[] | undefined = undefined;
  bytesReceived = 0;
  bytesSent = 0;
  upstreamHost = '';
  upstreamCluster = '';
  upstreamLocalAddress = '';
  upstreamTransportFailureReason = '';
  upstreamServiceTimeMs = -1;
  attemptCount = 0;
  routeName = '';
  virtualHostName = '';
  downstreamRemoteAddress = '';
  downstreamLocalAddress = '';
  downstreamDirectRemoteAddress = '';
  requestedServerName = '';
  connectionId = 0;
  connectionTerminationDetails = '';
  /** The downstream connection's TLS details (TLS filter chains only). */
  downstreamTls: DownstreamTlsInfo | undefined = undefined;
  /** Filter state for Spar's own filters (e.g. the metrics filter's labels). */
  filterState: Record<string, unknown> | undefined = undefined;

  setFlag(f: ResponseFlagName): void {
    if (!this.flags) this.flags = [f];
    else if (!this.flags.includes(f)) this.flags.push(f);
  }
  hasFlag(f: ResponseFlagName): boolean {
    return this.flags !== undefined && this.flags.includes(f);
  }
  get hasAnyFlag(): boolean {
    return this.flags !== undefined;
  }
  /** "URX,UF": in the order they were set (as Envoy 1.40 prints them), or "-". */
  flagString(): string {
    if (!this.flags) return '-';
    return this.flags.join(',');
  }
  /** Milliseconds from start to end (or to now while running). */
  durationMs(): number {
    const end = this.endHr || process.hrtime.bigint();
    return Number((end - this.startHr) / 1000000n);
  }
  finish(): void {
    if (!this.endHr) this.endHr = process.hrtime.bigint();
  }
}

/** "10.0.0.1:80" / "[::1]:80" → the address without the port. */
export function stripPort(addr: string): string {
  if (addr.startsWith('[')) return addr.slice(1, addr.indexOf(']'));
  const i = addr.lastIndexOf(':');
  return i > 0 && addr.indexOf(':') === i ? addr.slice(0, i) : addr;
}

/** Envoy's address form: "1.2.3.4:80", "[::1]:80". */
export function joinHostPort(host: string | undefined, port: number | undefined): string {
  if (!host) return '';
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
