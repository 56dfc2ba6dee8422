/**
 * Transport sockets (envoy.config.core.v3.TransportSocket) of clusters and filter chains:
 * `envoy.transport_sockets.tls` (UpstreamTlsContext / DownstreamTlsContext) or
 * `envoy.transport_sockets.raw_buffer` (plaintext, the default).
 *
 * A cluster's transport_socket_matches pick a transport socket per endpoint: the first match whose
 * every key equals the endpoint's `envoy.transport_socket_match` metadata (an empty match matches
 * all), else the cluster's transport_socket. Istio's auto mTLS is exactly this: `tlsMode: istio`
 * endpoints get mesh mTLS, the rest plaintext.
 */
import { typeName, type Fields } from '../config/fields.js';
import { readCommonTlsContext, TlsContext } from './context.js';
import type { SecretManager, SecretRef } from './secrets.js';

export const UPSTREAM_TLS = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
export const DOWNSTREAM_TLS = 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const RAW_BUFFER = 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';
const TLS_NAMES = ['envoy.transport_sockets.tls', 'tls'];
const RAW_NAMES = ['envoy.transport_sockets.raw_buffer', 'raw_buffer'];

/** A TransportSocket: a TlsContext, or undefined for plaintext. */
function readTransportSocket(f: Fields, secrets: SecretManager, side: 'client' | 'server', connectTimeoutMs = 0): TlsContext | undefined {
  const name = f.str('name');
  const tc = f.opt('typed_config');
  f.done();
  const t = tc ? typeName(tc.str('@type')) : '';
  if (t === RAW_BUFFER || (!tc && RAW_NAMES.includes(name))) {
    tc?.done();
    return undefined;
  }
  const want = side === 'client' ? UPSTREAM_TLS : DOWNSTREAM_TLS;
  if (t !== want) {
    f.error('', `transport socket ${JSON.stringify(name)} (${t || 'no typed_config'}) is not supported by spar proxy${TLS_NAMES.includes(name) ? ` (expected ${want})` : ''}`);
    return undefined;
  }
  return side === 'client' ? readUpstreamTlsContext(tc!, secrets, connectTimeoutMs) : readDownstreamTlsContext(tc!, secrets);
}

function readUpstreamTlsContext(f: Fields, secrets: SecretManager, connectTimeoutMs: number): TlsContext {
  const common = readCommonTlsContext(f.obj_('common_tls_context'), secrets, 'client');
  const sni = f.str('sni');
  f.unsupportedIfSet('allow_renegotiation', 'TLS renegotiation is not supported by spar proxy');
  f.num('max_session_keys', 1);
  f.bool('enforce_rsa_key_usage');
  f.unsupportedIfSet('auto_host_sni', 'not supported by spar proxy yet');
  f.unsupportedIfSet('auto_sni_san_validation', 'not supported by spar proxy yet');
  f.done();
  return new TlsContext('client', common, secrets, sni, false, false, connectTimeoutMs);
}

function readDownstreamTlsContext(f: Fields, secrets: SecretManager): TlsContext {
  const common = readCommonTlsContext(f.obj_('common_tls_context'), secrets, 'server');
  if (!common.certs.length && !common.certRefs.length) f.error('common_tls_context', 'a server TLS context needs a certificate (tls_certificates or tls_certificate_sds_secret_configs)');
  const require = f.bool('require_client_certificate');
  const requireSni = f.bool('require_sni');
  f.unsupported('session_ticket_keys', 'session ticket keys are not supported by spar proxy');
  f.unsupported('session_ticket_keys_sds_secret_config', 'session ticket keys are not supported by spar proxy');
  f.bool('disable_stateless_session_resumption');
  f.bool('disable_stateful_session_resumption');
  f.durationMs('session_timeout', 0);
  f.enumOf('ocsp_staple_policy', ['LENIENT_STAPLING'] as const, 'LENIENT_STAPLING');
  f.bool('full_scan_certs_on_sni_mismatch');
  f.unsupportedIfSet('prefer_client_ciphers', 'not supported by spar proxy');
  f.unsupported('tls_session_ticket_keys');
  f.done();
  return new TlsContext('server', common, secrets, '', require, requireSni);
}

interface TransportMatch {
  name: string;
  match: [string, string][];
  tls: TlsContext | undefined;
}

/** A cluster's transport sockets, chosen per endpoint. */
export class UpstreamTransport {
  constructor(private readonly dflt: TlsContext | undefined, private readonly matches: TransportMatch[]) {}

  /** The TLS context for an endpoint with this metadata (undefined: plaintext). */
  forEndpoint(metadata: unknown): TlsContext | undefined {
    if (!this.matches.length) return this.dflt;
    const fm = (metadata as { filter_metadata?: Record<string, Record<string, unknown>> } | undefined)?.filter_metadata?.['envoy.transport_socket_match'];
    for (const m of this.matches) {
      if (m.match.every(([k, v]) => fm !== undefined && k in fm && JSON.stringify(fm[k]) === v)) return m.tls;
    }
    return this.dflt;
  }

  private get contexts(): TlsContext[] {
    return [this.dflt, ...this.matches.map((m) => m.tls)].filter((c): c is TlsContext => !!c);
  }
  get refs(): SecretRef[] {
    return this.contexts.flatMap((c) => c.refs);
  }
  /** Every secret of every transport socket is present (the cluster warms until then, as Envoy's). */
  get ready(): boolean {
    return this.contexts.every((c) => c.ready);
  }
}

/**
 * A cluster's transport_socket and transport_socket_matches; undefined when plaintext throughout.
 * connect_timeout covers the TLS handshake too (Envoy's connection is connected after it).
 */
export function readUpstreamTransport(cluster: Fields, secrets: SecretManager, connectTimeoutMs = 0): UpstreamTransport | undefined {
  const ts = cluster.opt('transport_socket');
  const dflt = ts ? readTransportSocket(ts, secrets, 'client', connectTimeoutMs) : undefined;
  const matches: TransportMatch[] = [];
  for (const m of cluster.list('transport_socket_matches')) {
    const name = m.str('name');
    const raw = (m.raw('match') ?? {}) as Record<string, unknown>;
    const sock = m.opt('transport_socket');
    const tls = sock ? readTransportSocket(sock, secrets, 'client', connectTimeoutMs) : undefined;
    m.done();
    matches.push({ name, match: Object.entries(raw).map(([k, v]) => [k, JSON.stringify(v)]), tls });
  }
  cluster.unsupported('transport_socket_matcher', 'the matcher API for transport sockets is not supported by spar proxy yet');
  if (!dflt && matches.every((m) => !m.tls)) return undefined;
  return new UpstreamTransport(dflt, matches);
}

/** A filter chain's transport_socket: the TLS context, or undefined for plaintext. */
export function readDownstreamTransport(chain: Fields, secrets: SecretManager): TlsContext | undefined {
  const ts = chain.opt('transport_socket');
  return ts ? readTransportSocket(ts, secrets, 'server') : undefined;
}
