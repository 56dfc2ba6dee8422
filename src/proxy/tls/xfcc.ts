/**
 * x-forwarded-client-cert, as Envoy's connection manager writes it (forward_client_cert_details and
 * set_current_client_cert_details): SANITIZE drops the header; FORWARD_ONLY, APPEND_FORWARD and
 * SANITIZE_SET act only on mutual TLS connections (a peer certificate was presented) and sanitize
 * otherwise; ALWAYS_FORWARD_ONLY passes it as received. The element added for the current client is
 * `By=<our URI SAN>;Hash=<peer cert SHA-256>` followed by the chosen details
 * (Cert, Chain, Subject, URI, DNS). Istio's sidecars append (APPEND_FORWARD with Subject, URI, DNS).
 */
import type { DownstreamTlsInfo } from './connection-info.js';

export type ForwardClientCert = 'SANITIZE' | 'FORWARD_ONLY' | 'APPEND_FORWARD' | 'SANITIZE_SET' | 'ALWAYS_FORWARD_ONLY';
export type ClientCertDetail = 'Cert' | 'Chain' | 'Subject' | 'URI' | 'DNS';

const XFCC = 'x-forwarded-client-cert';

/** The set_current_client_cert_details flags, in the order Envoy writes them. */
export function clientCertDetails(flags: { cert: boolean; chain: boolean; subject: boolean; uri: boolean; dns: boolean }): ClientCertDetail[] {
  const out: ClientCertDetail[] = [];
  if (flags.cert) out.push('Cert');
  if (flags.chain) out.push('Chain');
  if (flags.subject) out.push('Subject');
  if (flags.uri) out.push('URI');
  if (flags.dns) out.push('DNS');
  return out;
}

/** The XFCC element describing this connection's client. */
function element(tls: DownstreamTlsInfo, details: ClientCertDetail[]): string {
  const parts: string[] = [];
  for (const u of tls.sans('local', 'URI')) parts.push(`By=${u}`);
  const hash = tls.peerFingerprint256;
  if (hash) parts.push(`Hash=${hash}`);
  for (const d of details) {
    switch (d) {
      case 'Cert': parts.push(`Cert="${tls.peerCertPemUrlEncoded}"`); break;
      case 'Chain': parts.push(`Chain="${tls.peerChainPemUrlEncoded}"`); break;
      case 'Subject': parts.push(`Subject="${tls.peerSubject}"`); break;
      case 'URI': for (const u of tls.sans('peer', 'URI')) parts.push(`URI=${u}`); break;
      case 'DNS': for (const n of tls.sans('peer', 'DNS')) parts.push(`DNS=${n}`); break;
    }
  }
  return parts.join(';');
}

/** Applies the connection manager's XFCC rule to request headers (lower-case keys). */
export function mutateXfcc(h: Record<string, string | string[] | undefined>, mode: string, details: ClientCertDetail[], tls: DownstreamTlsInfo | undefined): void {
  if (mode === 'ALWAYS_FORWARD_ONLY') return;
  const mtls = !!tls && tls.peerCertificatePresented;
  if (mode === 'SANITIZE' || !mtls) {
    if (h[XFCC] !== undefined) delete h[XFCC];
    return;
  }
  if (mode === 'FORWARD_ONLY') return;
  const el = element(tls, details);
  const cur = h[XFCC];
  const prev = Array.isArray(cur) ? cur.join(',') : cur;
  h[XFCC] = mode === 'APPEND_FORWARD' && prev ? `${prev},${el}` : el;
}
