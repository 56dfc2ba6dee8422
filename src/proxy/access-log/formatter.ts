/**
 * Envoy's substitution format strings (`%START_TIME%`, `%REQ(X-REQUEST-ID)%`, `%RESPONSE_FLAGS%` ...),
 * compiled once into a list of constant pieces and extractor functions. Used by access logs
 * (text and json_format) and by header values in routes (`%DOWNSTREAM_REMOTE_ADDRESS%`).
 * An unknown command operator is a config error naming it, as in Envoy.
 */
import { hostname } from 'node:os';
import { type HeaderMap, type StreamInfo, stripPort } from '../stream-info.js';

/** Envoy's default access log format (configuration/observability/access_log/usage). */
export const DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/** An extractor: the value, or undefined when unset ("-" in text logs, null in JSON, "" in headers). */
export type Extractor = (si: StreamInfo) => string | number | undefined;

export interface CompiledFormat {
  /** Text form, unset values printed as `unset`. */
  format(si: StreamInfo, unset: string): string;
  /** True when the format has no operators (a constant). */
  readonly constant: boolean;
}

const HOST = hostname();

function header(map: HeaderMap | undefined, name: string): string | undefined {
  if (!map) return undefined;
  const v = map[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}

/** `REQ(:PATH)` reads pseudo-headers from the request's own fields (node:http has no pseudo-headers in HTTP/1). */
function reqHeader(name: string): (si: StreamInfo) => string | undefined {
  return (si) => header(si.requestHeaders, name) || undefined;
}

function truncated(e: Extractor, max: number | undefined): Extractor {
  if (max === undefined) return e;
  return (si) => {
    const v = e(si);
    return typeof v === 'string' && v.length > max ? v.slice(0, max) : v;
  };
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

/** START_TIME: default ISO 8601 with milliseconds (UTC); or a strftime subset with %s, %Nf. */
function startTime(fmt: string | undefined): Extractor {
  if (!fmt) return (si) => new Date(si.startMs).toISOString();
  return (si) => {
    const d = new Date(si.startMs);
    return fmt.replace(/%([1-9]?f|[YmdHMSszFTZeyjbaAp%])/g, (_m, c: string) => {
      switch (c) {
        case 'Y': return String(d.getUTCFullYear());
        case 'y': return pad(d.getUTCFullYear() % 100, 2);
        case 'm': return pad(d.getUTCMonth() + 1, 2);
        case 'd': return pad(d.getUTCDate(), 2);
        case 'e': return String(d.getUTCDate()).padStart(2, ' ');
        case 'H': return pad(d.getUTCHours(), 2);
        case 'M': return pad(d.getUTCMinutes(), 2);
        case 'S': return pad(d.getUTCSeconds(), 2);
        case 's': return String(Math.floor(si.startMs / 1000));
        case 'z': return '+0000';
        case 'Z': return 'UTC';
        case 'F': return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
        case 'T': return `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
        case '%': return '%';
        default: {
          if (c.endsWith('f')) {
            const digits = c.length === 2 ? Number(c[0]) : 9;
            return pad(d.getUTCMilliseconds(), 3).padEnd(9, '0').slice(0, digits);
          }
          return c;
        }
      }
    });
  };
}

function nonEmpty(s: string): string | undefined {
  return s === '' ? undefined : s;
}

/** The operator table: name → (argument) → extractor. Unknown names are config errors. */
function operator(name: string, arg: string | undefined): Extractor | string {
  switch (name) {
    case 'START_TIME': return startTime(arg);
    case 'REQ':
    case 'RESP':
    case 'TRAILER': {
      if (!arg) return `%${name}(...)% needs a header name`;
      const [main, alt] = arg.toLowerCase().split('?');
      const pick = (m: (si: StreamInfo) => HeaderMap | undefined, h: string) =>
        name === 'REQ' ? reqHeader(h) : (si: StreamInfo) => header(m(si), h) || undefined;
      const src = name === 'RESP' ? (si: StreamInfo) => si.responseHeaders : (si: StreamInfo) => si.responseTrailers;
      const a = pick(src, main);
      if (alt === undefined) return a;
      const b = pick(src, alt);
      return (si) => a(si) ?? b(si);
    }
    case 'PROTOCOL': return (si) => (si.protocol === '-' ? undefined : si.protocol);
    case 'RESPONSE_CODE': return (si) => si.responseCode;
    case 'RESPONSE_CODE_DETAILS': return (si) => nonEmpty(si.responseCodeDetails);
    case 'RESPONSE_FLAGS': return (si) => si.flagString(); // "-" when none, in JSON too (as Envoy)
    case 'BYTES_RECEIVED': return (si) => si.bytesReceived;
    case 'BYTES_SENT': return (si) => si.bytesSent;
    case 'DURATION': return (si) => si.durationMs();
    case 'UPSTREAM_HOST': return (si) => nonEmpty(si.upstreamHost);
    case 'UPSTREAM_CLUSTER': return (si) => nonEmpty(si.upstreamCluster);
    // The name as configured (UPSTREAM_CLUSTER would use alt_stat_name, which Spar does not apply).
    case 'UPSTREAM_CLUSTER_RAW': return (si) => nonEmpty(si.upstreamCluster);
    case 'UPSTREAM_LOCAL_ADDRESS': return (si) => nonEmpty(si.upstreamLocalAddress);
    // Envoy writes the reason with its spaces as underscores.
    case 'UPSTREAM_TRANSPORT_FAILURE_REASON': return (si) => nonEmpty(si.upstreamTransportFailureReason.replace(/ /g, '_'));
    case 'UPSTREAM_REQUEST_ATTEMPT_COUNT': return (si) => si.attemptCount;
    case 'DOWNSTREAM_REMOTE_ADDRESS': return (si) => nonEmpty(si.downstreamRemoteAddress);
    case 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT': return (si) => nonEmpty(stripPort(si.downstreamRemoteAddress));
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS': return (si) => nonEmpty(si.downstreamDirectRemoteAddress);
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT': return (si) => nonEmpty(stripPort(si.downstreamDirectRemoteAddress));
    case 'DOWNSTREAM_LOCAL_ADDRESS': return (si) => nonEmpty(si.downstreamLocalAddress);
    case 'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT': return (si) => nonEmpty(stripPort(si.downstreamLocalAddress));
    case 'DOWNSTREAM_LOCAL_PORT': return (si) => nonEmpty(si.downstreamLocalAddress.slice(si.downstreamLocalAddress.lastIndexOf(':') + 1));
    case 'REQUESTED_SERVER_NAME': return (si) => nonEmpty(si.requestedServerName);
    case 'DOWNSTREAM_PEER_URI_SAN': return (si) => nonEmpty(si.downstreamTls?.peerUriSan ?? '');
    case 'DOWNSTREAM_PEER_DNS_SAN': return (si) => nonEmpty(si.downstreamTls?.peerDnsSan ?? '');
    case 'DOWNSTREAM_LOCAL_URI_SAN': return (si) => nonEmpty(si.downstreamTls?.localUriSan ?? '');
    case 'DOWNSTREAM_LOCAL_DNS_SAN': return (si) => nonEmpty(si.downstreamTls?.localDnsSan ?? '');
    case 'DOWNSTREAM_PEER_SUBJECT': return (si) => nonEmpty(si.downstreamTls?.peerSubject ?? '');
    case 'DOWNSTREAM_PEER_ISSUER': return (si) => nonEmpty(si.downstreamTls?.peerIssuer ?? '');
    case 'DOWNSTREAM_LOCAL_SUBJECT': return (si) => nonEmpty(si.downstreamTls?.localSubject ?? '');
    case 'DOWNSTREAM_PEER_FINGERPRINT_256': return (si) => nonEmpty(si.downstreamTls?.peerFingerprint256 ?? '');
    case 'DOWNSTREAM_PEER_SERIAL': return (si) => nonEmpty(si.downstreamTls?.peerSerial ?? '');
    case 'DOWNSTREAM_TLS_VERSION': return (si) => nonEmpty(si.downstreamTls?.tlsVersion ?? '');
    case 'DOWNSTREAM_TLS_CIPHER': return (si) => nonEmpty(si.downstreamTls?.cipher ?? '');
    case 'ROUTE_NAME': return (si) => nonEmpty(si.routeName);
    case 'VIRTUAL_CLUSTER_NAME': return () => undefined;
    case 'HOSTNAME': return () => HOST;
    case 'CONNECTION_ID': return (si) => si.connectionId;
    case 'CONNECTION_TERMINATION_DETAILS': return (si) => nonEmpty(si.connectionTerminationDetails);
    case 'REQUEST_DURATION':
    case 'RESPONSE_DURATION':
    case 'RESPONSE_TX_DURATION':
      return (si) => (si.upstreamServiceTimeMs >= 0 ? si.upstreamServiceTimeMs : undefined);
    default: return `unknown command operator %${name}% (not supported by spar proxy)`;
  }
}

const NUMERIC = new Set(['RESPONSE_CODE', 'BYTES_RECEIVED', 'BYTES_SENT', 'DURATION', 'UPSTREAM_REQUEST_ATTEMPT_COUNT', 'CONNECTION_ID', 'REQUEST_DURATION', 'RESPONSE_DURATION', 'RESPONSE_TX_DURATION']);

interface Parsed {
  pieces: (string | Extractor)[];
  /** The operator name when the whole string is exactly one operator (json_format keeps its type). */
  single?: string;
}

const OP = /%([A-Z_]+)(?:\(([^)]*)\))?(?::(\d+))?%/g;

function parse(fmt: string, errors: string[]): Parsed {
  const pieces: (string | Extractor)[] = [];
  let last = 0;
  let count = 0;
  let singleName: string | undefined;
  OP.lastIndex = 0;
  for (let m = OP.exec(fmt); m; m = OP.exec(fmt)) {
    if (m.index > last) pieces.push(fmt.slice(last, m.index).replace(/%%/g, '%'));
    const op = operator(m[1], m[2]);
    if (typeof op === 'string') errors.push(op);
    else pieces.push(truncated(op, m[3] ? Number(m[3]) : undefined));
    last = m.index + m[0].length;
    count++;
    singleName = m[1];
  }
  if (last < fmt.length) pieces.push(fmt.slice(last));
  return { pieces, single: count === 1 && pieces.length === 1 ? singleName : undefined };
}

/** A text format; `errors` receives any unknown operator. */
export function compileFormat(fmt: string, errors: string[]): CompiledFormat {
  const { pieces } = parse(fmt, errors);
  const constant = pieces.every((p) => typeof p === 'string');
  if (constant) {
    const s = (pieces as string[]).join('');
    return { constant, format: () => s };
  }
  return {
    constant,
    format(si, unset) {
      let out = '';
      for (const p of pieces) {
        if (typeof p === 'string') out += p;
        else {
          const v = p(si);
          out += v === undefined ? unset : String(v);
        }
      }
      return out;
    },
  };
}

type JsonNode = string | number | boolean | null | JsonNode[] | { [k: string]: JsonNode };

/** json_format: a Struct whose string values are format strings; single numeric operators stay numbers. */
export function compileJsonFormat(struct: Record<string, unknown>, errors: string[]): (si: StreamInfo) => string {
  const build = (node: unknown): (si: StreamInfo) => JsonNode => {
    if (typeof node === 'string') {
      const p = parse(node, errors);
      const text = compileFormat(node, errors);
      if (p.single) {
        const ex = p.pieces[0] as Extractor;
        const numeric = NUMERIC.has(p.single);
        return (si) => {
          const v = ex(si);
          if (v === undefined) return null;
          return numeric ? Number(v) : String(v);
        };
      }
      return (si) => text.format(si, '-');
    }
    if (Array.isArray(node)) {
      const items = node.map(build);
      return (si) => items.map((f) => f(si));
    }
    if (node && typeof node === 'object') {
      const entries = Object.entries(node).map(([k, v]) => [k, build(v)] as const);
      return (si) => {
        const o: Record<string, JsonNode> = {};
        for (const [k, f] of entries) o[k] = f(si);
        return o;
      };
    }
    return () => node as JsonNode;
  };
  const root = build(struct);
  return (si) => JSON.stringify(root(si)) + '\n';
}
