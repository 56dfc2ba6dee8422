/**
 * envoy.transport_sockets.tls: UpstreamTlsContext and DownstreamTlsContext compiled into a
 * TlsContext that opens (upstream) or accepts (downstream) TLS connections with node:tls.
 *
 * Certificates and validation contexts come inline, from files (read at config time) or from SDS
 * secrets (by name, through the SecretManager). A context is `ready` when every secret it names is
 * present — clusters and listeners wait for that (warming), as Envoy does. The SecureContext is
 * built once per config and secret version and shared by every context with the same certificate
 * material (an Istio sidecar has thousands of clusters and one workload certificate); a rotation
 * changes the version, so the next connection gets a new SecureContext and open ones keep theirs.
 *
 * Peer verification follows Envoy: the chain is verified only when a trusted CA is configured;
 * then the SAN matchers (any SAN matching any matcher), verify_certificate_hash and
 * verify_certificate_spki must pass. Envoy does not check the SNI against the certificate.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, createServer as createTlsServer, type PeerCertificate, type SecureContext, type SecureContextOptions, type SecureVersion, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Fields } from '../config/fields.js';
import { readTlsCertificate, readValidationContext, type CertKeyPair, type SanMatcher, type SecretManager, type SecretRef, type ValidationParams } from './secrets.js';

const VERSIONS: Record<string, SecureVersion | undefined> = { TLS_AUTO: undefined, TLSv1_0: 'TLSv1', TLSv1_1: 'TLSv1.1', TLSv1_2: 'TLSv1.2', TLSv1_3: 'TLSv1.3' };
const VERSION_NAMES = Object.keys(VERSIONS);
const TLS13_SUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

/** A secret's ConfigSource: ads, an SDS gRPC stream to a static cluster, or (unset) the bootstrap's static secrets. */
export function readSdsSource(f: Fields | undefined, secrets: SecretManager): string {
  if (!f) return 'static';
  let source = 'static';
  if (f.has('ads')) {
    f.opt('ads')?.done();
    source = 'ads';
  }
  const api = f.opt('api_config_source');
  if (api) {
    api.enumOf('api_type', ['GRPC'] as const, 'GRPC');
    api.enumOf('transport_api_version', ['V3'] as const, 'V3');
    api.bool('set_node_on_first_message_only');
    const gs = api.list('grpc_services');
    if (gs.length !== 1) api.error('grpc_services', 'exactly one gRPC service is required');
    for (const g of gs) {
      const eg = g.opt('envoy_grpc');
      if (eg) {
        const cluster = eg.str('cluster_name');
        eg.ignore('authority');
        eg.done();
        if (!secrets.staticClusterExists(cluster)) {
          eg.error('cluster_name', `envoy.config.core.v3.ApiConfigSource must have a statically defined non-EDS cluster: '${cluster}' does not exist, was added via api, or is an EDS cluster`);
        }
        source = `grpc:${cluster}`;
      } else g.error('', 'only envoy_grpc is supported by spar proxy');
      g.unsupported('google_grpc', 'google_grpc is not supported by spar proxy (use envoy_grpc)');
      g.durationMs('timeout', 0);
      g.unsupported('initial_metadata', 'not supported by spar proxy yet');
      g.done();
    }
    api.durationMs('refresh_delay', 0);
    api.durationMs('request_timeout', 0);
    api.unsupported('rate_limit_settings');
    api.unsupported('cluster_names', 'REST SDS is not supported by spar proxy (use GRPC)');
    api.unsupported('config_validators');
    api.done();
  }
  f.unsupported('path_config_source', 'file-based SDS is not supported by spar proxy yet');
  f.unsupported('path', 'file-based SDS is not supported by spar proxy yet');
  f.unsupported('self', 'not supported by spar proxy');
  f.durationMs('initial_fetch_timeout', 15000);
  f.enumOf('resource_api_version', ['V3'] as const, 'V3');
  f.done();
  return source;
}

function readSdsSecretConfig(f: Fields, secrets: SecretManager): SecretRef {
  const name = f.str('name');
  if (!name) f.error('name', 'required');
  const source = readSdsSource(f.opt('sds_config'), secrets);
  f.done();
  // Without sds_config the name refers to the bootstrap's static_resources.secrets.
  if (source === 'static' && name && !secrets.get({ source, name })) f.error('name', `Unknown static secret: ${name}`);
  return { source, name };
}

/** envoy.extensions.transport_sockets.tls.v3.CommonTlsContext, compiled. */
export interface CommonTlsConfig {
  certs: CertKeyPair[];
  certRefs: SecretRef[];
  /** validation_context, or combined_validation_context.default_validation_context. */
  validation: ValidationParams | undefined;
  validationRef: SecretRef | undefined;
  alpn: string[];
  minVersion: SecureVersion | undefined;
  maxVersion: SecureVersion | undefined;
  ciphers: string | undefined;
  ecdhCurve: string | undefined;
  sigalgs: string | undefined;
  /** Identity of the certificate material (shares SecureContexts between contexts). */
  materialKey: string;
}

export function readCommonTlsContext(f: Fields, secrets: SecretManager, side: 'client' | 'server'): CommonTlsConfig {
  const c: CommonTlsConfig = {
    certs: [], certRefs: [], validation: undefined, validationRef: undefined, alpn: [], minVersion: 'TLSv1.2',
    maxVersion: side === 'client' ? 'TLSv1.2' : 'TLSv1.3', ciphers: undefined, ecdhCurve: undefined, sigalgs: undefined, materialKey: '',
  };
  const p = f.opt('tls_params');
  if (p) {
    const min = p.enumOf('tls_minimum_protocol_version', VERSION_NAMES, 'TLS_AUTO');
    const max = p.enumOf('tls_maximum_protocol_version', VERSION_NAMES, 'TLS_AUTO');
    if (min !== 'TLS_AUTO') c.minVersion = VERSIONS[min];
    if (max !== 'TLS_AUTO') c.maxVersion = VERSIONS[max];
    const suites = p.strList('cipher_suites');
    // Envoy's "[A|B]" equal-preference groups have no OpenSSL form: keep their order.
    if (suites.length) c.ciphers = `${suites.flatMap((s) => s.replace(/^\[|\]$/g, '').split('|')).join(':')}:${TLS13_SUITES}`;
    const curves = p.strList('ecdh_curves');
    if (curves.length) c.ecdhCurve = curves.join(':');
    const sig = p.strList('signature_algorithms');
    if (sig.length) c.sigalgs = sig.join(':');
    p.unsupported('compliance_policies', 'not supported by spar proxy');
    p.done();
  }
  if (c.minVersion && c.maxVersion && c.minVersion > c.maxVersion) f.error('tls_params', 'tls_minimum_protocol_version is greater than tls_maximum_protocol_version');
  for (const t of f.list('tls_certificates')) {
    const kp = readTlsCertificate(t);
    if (kp) c.certs.push(kp);
  }
  for (const s of f.list('tls_certificate_sds_secret_configs')) c.certRefs.push(readSdsSecretConfig(s, secrets));
  if (c.certs.length && c.certRefs.length) f.error('tls_certificate_sds_secret_configs', 'tls_certificates and tls_certificate_sds_secret_configs cannot both be set');
  const vc = f.opt('validation_context');
  if (vc) c.validation = readValidationContext(vc);
  const vref = f.opt('validation_context_sds_secret_config');
  if (vref) c.validationRef = readSdsSecretConfig(vref, secrets);
  const cvc = f.opt('combined_validation_context');
  if (cvc) {
    c.validation = readValidationContext(cvc.obj_('default_validation_context'));
    c.validationRef = readSdsSecretConfig(cvc.obj_('validation_context_sds_secret_config'), secrets);
    cvc.unsupported('validation_context_certificate_provider');
    cvc.unsupported('validation_context_certificate_provider_instance');
    cvc.done();
  }
  if ([vc, vref, cvc].filter(Boolean).length > 1) f.error('', 'only one of validation_context, validation_context_sds_secret_config, combined_validation_context may be set');
  c.alpn = f.strList('alpn_protocols');
  f.unsupported('tls_certificate_provider_instance', 'certificate providers are not supported by spar proxy');
  f.unsupported('tls_certificate_certificate_provider', 'certificate providers are not supported by spar proxy');
  f.unsupported('tls_certificate_certificate_provider_instance', 'certificate providers are not supported by spar proxy');
  f.unsupported('validation_context_certificate_provider', 'certificate providers are not supported by spar proxy');
  f.unsupported('validation_context_certificate_provider_instance', 'certificate providers are not supported by spar proxy');
  f.unsupported('custom_handshaker', 'custom handshakers are not supported by spar proxy');
  f.unsupported('custom_tls_certificate_selector', 'not supported by spar proxy');
  f.unsupported('key_log', 'TLS key logging is not supported by spar proxy');
  f.unsupported('tls_certificate_selector', 'not supported by spar proxy');
  f.done();
  if (c.validation && !c.validation.ca && !c.validationRef && c.validation.sans.length) {
    f.error('validation_context', 'SAN-based verification of peer certificates without trusted CA is insecure and not allowed');
  }
  c.materialKey = JSON.stringify([
    c.certs.map((k) => [hash(k.cert), hash(k.key)]), c.certRefs, c.validation?.ca ? hash(c.validation.ca) : '', c.validationRef,
    c.minVersion, c.maxVersion, c.ciphers, c.ecdhCurve, c.sigalgs, side,
  ]);
  return c;
}

function hash(b: Buffer): string {
  return createHash('sha256').update(b).digest('base64');
}

/** SecureContexts by certificate material; replaced when a secret version changes. */
const SHARED = new Map<string, { versions: string; ctx: SecureContext }>();

/** The error a failed verification carries (its message is Envoy's transport failure text). */
export class TlsVerifyError extends Error {
  readonly code = 'SPAR_TLS_VERIFY';
  constructor(detail: string) {
    super(`TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:${detail}:TLS_error_end`);
  }
}

export class TlsContext {
  /** sni and the cluster's connect_timeout (upstream); require_client_certificate, require_sni (downstream). */
  constructor(
    readonly side: 'client' | 'server',
    readonly common: CommonTlsConfig,
    private readonly secrets: SecretManager,
    readonly sni = '',
    readonly requireClientCert = false,
    readonly requireSni = false,
    readonly connectTimeoutMs = 0,
  ) {}

  /** The secrets this context names (for SDS subscriptions). */
  get refs(): SecretRef[] {
    return this.common.validationRef ? [...this.common.certRefs, this.common.validationRef] : this.common.certRefs;
  }

  /** Every named secret is present (clusters and listeners warm until then). */
  get ready(): boolean {
    for (const r of this.common.certRefs) if (!this.secrets.get(r)?.tlsCertificate) return false;
    const v = this.common.validationRef;
    return !v || !!this.secrets.get(v)?.validation;
  }

  /** The validation in effect: the default context merged with the SDS one (its CA wins). */
  validation(): ValidationParams | undefined {
    const base = this.common.validation;
    const ref = this.common.validationRef;
    const dyn = ref ? this.secrets.get(ref)?.validation : undefined;
    if (!dyn) return base;
    if (!base) return dyn;
    return { ca: dyn.ca ?? base.ca, sans: [...base.sans, ...dyn.sans], hashes: [...base.hashes, ...dyn.hashes], spki: [...base.spki, ...dyn.spki], acceptUntrusted: base.acceptUntrusted || dyn.acceptUntrusted };
  }

  /** The versions of the secrets this context names (changes on every rotation). */
  private versions(): string {
    let versions = '';
    for (const r of this.refs) versions += `${this.secrets.version(r)},`;
    return versions;
  }

  /** Certificates, CA and parameters as node:tls options (for createSecureContext and tls.Server). */
  private contextOptions(): SecureContextOptions {
    const c = this.common;
    const pairs = c.certs.length ? c.certs : c.certRefs.map((r) => this.secrets.get(r)?.tlsCertificate).filter((x): x is CertKeyPair => !!x);
    return {
      cert: pairs.length ? pairs.map((p) => p.cert) : undefined,
      key: pairs.length ? pairs.map((p) => ({ pem: p.key, passphrase: p.passphrase })) : undefined,
      ca: this.validation()?.ca,
      minVersion: c.minVersion,
      maxVersion: c.maxVersion,
      ciphers: c.ciphers,
      ecdhCurve: c.ecdhCurve,
      sigalgs: c.sigalgs,
    };
  }

  /** The SecureContext for a new upstream connection (built once per secret version). */
  secureContext(): SecureContext {
    const versions = this.versions();
    const cur = SHARED.get(this.common.materialKey);
    if (cur && cur.versions === versions) return cur.ctx;
    const ctx = createSecureContext(this.contextOptions());
    SHARED.set(this.common.materialKey, { versions, ctx });
    return ctx;
  }

  /** Why the peer's certificate is not acceptable, or undefined when it is (after chain verification). */
  checkPeer(cert: PeerCertificate | undefined, v: ValidationParams): string | undefined {
    if (!cert || !cert.raw) return 'peer did not present a certificate';
    if (v.sans.length && !sanMatches(cert, v.sans)) return `verify cert failed: SAN matcher, certificate SANs are [${certSans(cert).map((s) => s.value).join(', ')}]`;
    if (v.hashes.length && !v.hashes.includes((cert.fingerprint256 ?? '').replace(/:/g, '').toLowerCase())) return 'verify cert failed: cert hash and spki';
    if (v.spki.length) {
      const spki = createHash('sha256').update(new X509Certificate(cert.raw).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
      if (!v.spki.includes(spki)) return 'verify cert failed: cert hash and spki';
    }
    return undefined;
  }

  /** Opens a TLS connection to an upstream host (HTTP/1 pools, HTTP/2 sessions, tcp_proxy). */
  connect(o: { host: string; port: number; localAddress?: string; alpn?: string[] }): Socket {
    let ctx: SecureContext;
    try {
      if (!this.ready) throw new Error('TLS_error:|secret not ready|TLS_error_end');
      ctx = this.secureContext();
    } catch (e) {
      const s = new Socket();
      process.nextTick(() => s.destroy(Object.assign(new Error((e as Error).message), { code: 'SPAR_TLS_CONTEXT' })));
      return s;
    }
    const v = this.validation();
    const verify = !!v && !!v.ca && !v.acceptUntrusted;
    const alpn = this.common.alpn.length ? this.common.alpn : o.alpn;
    // node:tls passes localAddress to the TCP connect (its typings omit it).
    const s = tlsConnect({
      host: o.host,
      port: o.port,
      ...({ localAddress: o.localAddress } as object),
      secureContext: ctx,
      servername: this.sni || undefined,
      ALPNProtocols: alpn && alpn.length ? alpn : undefined,
      rejectUnauthorized: verify,
      checkServerIdentity: (_host, cert) => {
        if (!verify || !v) return undefined;
        const why = this.checkPeer(cert, v);
        return why ? new TlsVerifyError(why) : undefined;
      },
    });
    s.setNoDelay(true);
    return s;
  }

  /**
   * A tls.Server that never listens: downstream connections are handed to it, so node's server-side
   * TLS (ALPN, client certificate verification, `authorized`, what http2 expects of a server
   * socket) applies. Its certificates are replaced when a secret rotates. A second one without
   * ALPN serves clients that offer none of our protocols: node would refuse them with an alert,
   * Envoy carries on without ALPN.
   */
  private readonly servers: [TlsServer | undefined, TlsServer | undefined] = [undefined, undefined];
  private readonly serverVersions = ['', ''];
  private readonly accepting = new Map<string, (t: TLSSocket) => void>();

  private tlsServer(alpn: boolean): TlsServer {
    const i = alpn ? 0 : 1;
    const versions = this.versions();
    const cur = this.servers[i];
    if (cur && versions === this.serverVersions[i]) return cur;
    const opts = this.contextOptions();
    let srv = cur;
    if (srv) srv.setSecureContext(opts);
    else {
      const c = this.common;
      srv = createTlsServer({
        ...opts,
        requestCert: !!c.validation?.ca || !!c.validationRef || this.requireClientCert,
        rejectUnauthorized: false, // verified in onSecure, with the SAN checks
        ALPNProtocols: alpn ? c.alpn : undefined,
      });
      srv.on('secureConnection', (t: TLSSocket) => this.onSecure(t));
      srv.on('tlsClientError', (_e, t: TLSSocket) => t.destroy());
      this.servers[i] = srv;
    }
    this.serverVersions[i] = versions;
    return srv;
  }

  /**
   * Accepts a downstream connection: the TLS handshake on `socket` (whose first bytes the listener
   * filters may have read and pushed back), then peer verification; `onReady` gets the TLS socket.
   * `clientAlpn`: what the ClientHello offered, when tls_inspector read it.
   */
  accept(socket: Socket, timeoutMs: number, onReady: (t: TLSSocket) => void, clientAlpn?: string[]): void {
    const ours = this.common.alpn;
    const alpn = ours.length > 0 && (!clientAlpn || clientAlpn.length === 0 || clientAlpn.some((p) => ours.includes(p)));
    let srv: TlsServer;
    try {
      srv = this.tlsServer(alpn);
    } catch {
      socket.destroy();
      return;
    }
    const key = `${socket.remoteAddress}|${socket.remotePort}|${socket.localPort}`;
    const timer = timeoutMs > 0 ? setTimeout(() => socket.destroy(), timeoutMs) : undefined;
    const ready = (t: TLSSocket) => {
      clearTimeout(timer);
      onReady(t);
    };
    this.accepting.set(key, ready);
    socket.once('close', () => {
      clearTimeout(timer);
      if (this.accepting.get(key) === ready) this.accepting.delete(key);
    });
    srv.emit('connection', socket);
  }

  private onSecure(t: TLSSocket): void {
    const key = `${t.remoteAddress}|${t.remotePort}|${t.localPort}`;
    const ready = this.accepting.get(key);
    this.accepting.delete(key);
    if (!ready || t.destroyed) return void t.destroy();
    t.on('error', () => t.destroy());
    if (this.requireSni && !t.servername) return void t.destroy();
    const v = this.validation();
    const peer = t.getPeerCertificate();
    const presented = !!peer && !!peer.raw;
    if (!presented) {
      if (this.requireClientCert) return void t.destroy();
    } else if (v?.ca && !v.acceptUntrusted) {
      if (!t.authorized || this.checkPeer(peer, v)) return void t.destroy();
    }
    ready(t);
  }
}

/** SANs of a certificate by type, from node's "URI:a, DNS:b, IP Address:c" form. */
export function certSans(cert: { subjectaltname?: string }): { type: string; value: string }[] {
  const s = cert.subjectaltname;
  if (!s) return [];
  const out: { type: string; value: string }[] = [];
  // Values with separators are JSON-quoted by node ("URI:\"a, b\"").
  const re = /(DNS|URI|IP Address|email|othername|DirName|Registered ID):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const raw = m[2];
    out.push({ type: m[1], value: raw.startsWith('"') ? (JSON.parse(raw) as string) : raw });
  }
  return out;
}

const NODE_SAN: Record<Exclude<SanMatcher['type'], 'ANY'>, string> = { DNS: 'DNS', URI: 'URI', EMAIL: 'email', IP_ADDRESS: 'IP Address' };

function sanMatches(cert: PeerCertificate, matchers: SanMatcher[]): boolean {
  const sans = certSans(cert);
  for (const m of matchers) {
    for (const s of sans) {
      if (m.type === 'ANY' ? s.type === 'othername' || s.type === 'DirName' : NODE_SAN[m.type] !== s.type) continue;
      if (m.match(s.value)) return true;
    }
  }
  return false;
}

