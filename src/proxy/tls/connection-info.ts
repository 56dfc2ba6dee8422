/**
 * What a downstream TLS connection tells the request path (Envoy's Ssl::ConnectionInfo): the
 * peer's and our certificate SANs, subject, fingerprint, serial, TLS version and cipher. Read by
 * the access log (%DOWNSTREAM_PEER_URI_SAN% ...) and x-forwarded-client-cert. The certificates are
 * read once after the handshake; each derived value is computed on first use and kept for the
 * connection's other requests.
 */
import { X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls';
import { certSans } from './context.js';

/** RFC 2253 form (Envoy prints names this way): the last RDN first, comma-separated. */
function rfc2253(raw: Buffer | undefined, which: 'subject' | 'issuer'): string {
  if (!raw) return '';
  const lines = new X509Certificate(raw)[which].split('\n');
  return lines.reverse().map((l) => l.replace(/([,+"\\<>;])/g, '\\$1')).join(',');
}

function toPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

export class DownstreamTlsInfo {
  private peer: PeerCertificate | undefined | null = null;
  private local: PeerCertificate | undefined | null = null;
  private cache = new Map<string, string>();
  readonly tlsVersion: string;
  readonly cipher: string;
  /** Read at the handshake: a closed socket no longer answers (tcp_proxy logs after the close). */
  constructor(private readonly socket: TLSSocket) {
    this.peerCert();
    this.localCert();
    this.tlsVersion = socket.getProtocol() ?? '';
    this.cipher = socket.getCipher()?.standardName ?? '';
  }

  private peerCert(): PeerCertificate | undefined {
    if (this.peer === null) {
      const c = this.socket.getPeerCertificate(true) as DetailedPeerCertificate | undefined;
      this.peer = c && c.raw ? c : undefined;
    }
    return this.peer;
  }
  private localCert(): PeerCertificate | undefined {
    if (this.local === null) {
      const c = this.socket.getCertificate() as PeerCertificate | null;
      this.local = c && (c as PeerCertificate).raw ? c : undefined;
    }
    return this.local;
  }
  private memo(k: string, f: () => string): string {
    let v = this.cache.get(k);
    if (v === undefined) {
      v = f();
      this.cache.set(k, v);
    }
    return v;
  }

  get peerCertificatePresented(): boolean {
    return !!this.peerCert();
  }
  sans(side: 'peer' | 'local', type: 'URI' | 'DNS'): string[] {
    const c = side === 'peer' ? this.peerCert() : this.localCert();
    return c ? certSans(c).filter((s) => s.type === type).map((s) => s.value) : [];
  }
  get peerUriSan(): string {
    return this.memo('pu', () => this.sans('peer', 'URI').join(','));
  }
  get peerDnsSan(): string {
    return this.memo('pd', () => this.sans('peer', 'DNS').join(','));
  }
  get localUriSan(): string {
    return this.memo('lu', () => this.sans('local', 'URI').join(','));
  }
  get localDnsSan(): string {
    return this.memo('ld', () => this.sans('local', 'DNS').join(','));
  }
  get peerSubject(): string {
    return this.memo('ps', () => rfc2253(this.peerCert()?.raw, 'subject'));
  }
  get peerIssuer(): string {
    return this.memo('pi', () => rfc2253(this.peerCert()?.raw, 'issuer'));
  }
  get localSubject(): string {
    return this.memo('ls', () => rfc2253(this.localCert()?.raw, 'subject'));
  }
  get peerFingerprint256(): string {
    return this.memo('pf', () => (this.peerCert()?.fingerprint256 ?? '').replace(/:/g, '').toLowerCase());
  }
  get peerSerial(): string {
    return this.memo('pn', () => (this.peerCert()?.serialNumber ?? '').toLowerCase());
  }
  /** The peer certificate, PEM, URL-encoded (x-forwarded-client-cert `Cert`). */
  get peerCertPemUrlEncoded(): string {
    return this.memo('pem', () => {
      const raw = this.peerCert()?.raw;
      return raw ? encodeURIComponent(toPem(raw)) : '';
    });
  }
  /** The peer's chain (leaf first), PEM, URL-encoded (x-forwarded-client-cert `Chain`). */
  get peerChainPemUrlEncoded(): string {
    return this.memo('chain', () => {
      let pem = '';
      const seen = new Set<string>();
      for (let c = this.peerCert() as DetailedPeerCertificate | undefined; c?.raw && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
        seen.add(c.fingerprint256);
        pem += toPem(c.raw);
      }
      return encodeURIComponent(pem);
    });
  }
}
