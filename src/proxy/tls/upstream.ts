/**
 * Originating TLS from the upstream pools, and how a failed handshake is reported. A host whose
 * transport socket is TLS keeps node:http's keep-alive Agent; only the Agent's connection factory
 * changes (so pooling, max_connections and max_requests_per_connection behave as for plaintext).
 * A connection that fails before its handshake completes is a connect failure to Envoy (flag UF),
 * with the TLS error as the transport failure reason.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { TlsContext } from './context.js';

const ESTABLISHED = Symbol('spar.tlsEstablished');
type Marked = Socket & { [ESTABLISHED]?: boolean };

/**
 * Opens a TLS connection and remembers when its handshake completes. The cluster's connect_timeout
 * runs until then (TCP connect and handshake), failing with the pools' connect timeout error.
 */
export function connectTls(ctx: TlsContext, o: { host: string; port: number; localAddress?: string; alpn?: string[] }): Socket {
  const s = ctx.connect(o) as Marked;
  s[ESTABLISHED] = false;
  const ms = ctx.connectTimeoutMs;
  const timer = ms > 0 ? setTimeout(() => s.destroy(Object.assign(new Error('connection timeout'), { code: 'SPAR_CONNECT_TIMEOUT' })), ms) : undefined;
  s.once('secureConnect', () => {
    s[ESTABLISHED] = true;
    clearTimeout(timer);
  });
  if (timer) s.once('close', () => clearTimeout(timer));
  return s;
}

/**
 * The connection factory of a host's HTTP/1 pool when its transport socket is TLS (the Agent's
 * createConnection signature). Without configured alpn_protocols Envoy offers "http/1.1".
 */
export function tlsConnector(ctx: TlsContext): (o: object, cb: unknown) => Socket {
  return (o) => {
    const opts = o as { host?: string; port?: number; localAddress?: string };
    return connectTls(ctx, { host: opts.host ?? '', port: Number(opts.port), localAddress: opts.localAddress, alpn: ['http/1.1'] });
  };
}

/** BoringSSL's texts (what Envoy prints) where node's differ. */
const VERIFY_TEXT: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unable to get local issuer certificate',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unable to get local issuer certificate',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self signed certificate in certificate chain',
  CERT_HAS_EXPIRED: 'certificate has expired',
  CERT_NOT_YET_VALID: 'certificate is not yet valid',
};

/** OpenSSL certificate verification errors, as node names them. */
const VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_SIGNATURE_FAILURE',
  'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'CERT_CHAIN_TOO_LONG', 'HOSTNAME_MISMATCH',
]);

/**
 * The transport failure reason when `socket` is a TLS connection that failed before its handshake
 * completed (Envoy's "TLS_error:|...:TLS_error_end" form), else undefined.
 */
export function tlsHandshakeFailure(socket: Socket | null | undefined, err: NodeJS.ErrnoException): string | undefined {
  const s = socket as Marked | null | undefined;
  if (!s || s[ESTABLISHED] !== false) return undefined;
  if (err.code === 'SPAR_TLS_VERIFY' || err.code === 'SPAR_TLS_CONTEXT') return err.message;
  if (err.code && VERIFY_CODES.has(err.code)) {
    // node reports the leaf's chain error; Envoy names the depth (0: the leaf) and OpenSSL's text.
    return `TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify cert failed: X509_verify_cert: certificate verification error at depth 0: ${VERIFY_TEXT[err.code] ?? err.message}:TLS_error_end`;
  }
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return 'TLS_error:|connection reset during the TLS handshake|TLS_error_end';
  // "error:0A000410:SSL routines::sslv3 alert handshake failure" → SSLV3_ALERT_HANDSHAKE_FAILURE
  const m = /SSL routines:[^:]*:(.+)$/.exec(err.message);
  const reason = m ? m[1].trim().toUpperCase().replace(/[^A-Z0-9]+/g, '_') : (err.code ?? 'HANDSHAKE_FAILURE');
  return `TLS_error:|268435456:SSL routines:OPENSSL_internal:${reason}:TLS_error_end`;
}

/** Whether a downstream connection is TLS (for :scheme and x-forwarded-proto). */
export function isTls(s: Socket): s is TLSSocket {
  return (s as TLSSocket).encrypted === true;
}
