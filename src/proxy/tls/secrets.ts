/**
 * Secrets (envoy.extensions.transport_sockets.tls.v3.Secret): TLS certificates and validation
 * contexts, from the bootstrap's static_resources.secrets or delivered over SDS (ADS or an SDS
 * gRPC stream). A TLS context names secrets by (source, name); the SecretManager holds the current
 * value of each and a version that changes on every update, so contexts rebuild their
 * SecureContext once per rotation (never per connection) and new connections use the new
 * certificate while old ones keep theirs.
 */
import { readFileSync } from 'node:fs';
import { ConfigErrors, Fields } from '../config/fields.js';
import type { EnvoyJson } from '../../xds/codec.js';
import { compileStringMatcher, type StringPredicate } from '../matchers/string-matcher.js';

/** Where a secret comes from: 'static' (bootstrap), 'ads', or 'grpc:<cluster>' (an SDS stream). */
export type SecretSource = string;

export interface SecretRef {
  source: SecretSource;
  name: string;
}

export interface CertKeyPair {
  cert: Buffer;
  key: Buffer;
  passphrase?: string;
}

export type SanType = 'DNS' | 'URI' | 'EMAIL' | 'IP_ADDRESS' | 'ANY';

export interface SanMatcher {
  type: SanType;
  match: StringPredicate;
}

/** A CertificateValidationContext, compiled. */
export interface ValidationParams {
  ca: Buffer | undefined;
  sans: SanMatcher[];
  /** verify_certificate_hash: SHA-256 fingerprints, lower-case hex without colons. */
  hashes: string[];
  /** verify_certificate_spki: base64 SHA-256 of the SubjectPublicKeyInfo. */
  spki: string[];
  acceptUntrusted: boolean;
}

export interface Secret {
  name: string;
  tlsCertificate?: CertKeyPair;
  validation?: ValidationParams;
  json: EnvoyJson;
}

/** envoy.config.core.v3.DataSource → bytes (files are read now: config time, not per connection). */
export function readDataSource(f: Fields | undefined): Buffer | undefined {
  if (!f) return undefined;
  let out: Buffer | undefined;
  let kinds = 0;
  if (f.has('filename')) {
    kinds++;
    const file = f.str('filename');
    try {
      out = readFileSync(file);
    } catch (e) {
      f.error('filename', `cannot read ${JSON.stringify(file)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (f.has('inline_bytes')) {
    kinds++;
    out = Buffer.from(f.str('inline_bytes'), 'base64');
  }
  if (f.has('inline_string')) {
    kinds++;
    out = Buffer.from(f.str('inline_string'), 'utf8');
  }
  if (f.has('environment_variable')) {
    kinds++;
    const v = process.env[f.str('environment_variable')];
    if (v === undefined) f.error('environment_variable', 'the environment variable is not set');
    else out = Buffer.from(v, 'utf8');
  }
  f.unsupported('watched_directory', 'not supported by spar proxy yet (deliver rotations over SDS)');
  if (kinds > 1) f.error('', 'only one of filename, inline_bytes, inline_string, environment_variable may be set');
  f.done();
  return out;
}

/** envoy.extensions.transport_sockets.tls.v3.TlsCertificate. */
export function readTlsCertificate(f: Fields): CertKeyPair | undefined {
  const cert = readDataSource(f.opt('certificate_chain'));
  const key = readDataSource(f.opt('private_key'));
  const pw = readDataSource(f.opt('password'));
  f.unsupported('private_key_provider', 'private key providers are not supported by spar proxy');
  f.unsupported('pkcs12', 'PKCS#12 certificates are not supported by spar proxy yet (use PEM)');
  f.unsupported('ocsp_staple', 'OCSP stapling is not supported by spar proxy');
  f.unsupported('signed_certificate_timestamp', 'not supported by spar proxy');
  f.unsupported('watched_directory', 'not supported by spar proxy yet (deliver rotations over SDS)');
  f.done();
  if (!cert) f.error('certificate_chain', 'required');
  if (!key) f.error('private_key', 'required');
  if (!cert || !key) return undefined;
  return { cert, key, passphrase: pw?.toString('utf8') };
}

const SAN_TYPES = ['DNS', 'URI', 'EMAIL', 'IP_ADDRESS'] as const;

/** envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext. */
export function readValidationContext(f: Fields): ValidationParams {
  const ca = readDataSource(f.opt('trusted_ca'));
  const sans: SanMatcher[] = [];
  for (const m of f.list('match_typed_subject_alt_names')) {
    const type = m.enumOf('san_type', [...SAN_TYPES, 'OTHER_NAME', 'SAN_TYPE_UNSPECIFIED'] as const, 'SAN_TYPE_UNSPECIFIED');
    if (type === 'OTHER_NAME') m.error('san_type', 'OTHER_NAME is not supported by spar proxy');
    if (type === 'SAN_TYPE_UNSPECIFIED') m.error('san_type', 'a SAN type is required');
    m.unsupported('oid', 'OTHER_NAME is not supported by spar proxy');
    const match = compileStringMatcher(m.obj_('matcher'));
    m.done();
    if (type !== 'OTHER_NAME' && type !== 'SAN_TYPE_UNSPECIFIED') sans.push({ type, match });
  }
  // The deprecated form matches any SAN of types DNS, URI, EMAIL and IP address.
  for (const m of f.list('match_subject_alt_names')) sans.push({ type: 'ANY', match: compileStringMatcher(m) });
  const hashes = f.strList('verify_certificate_hash').map((h) => h.replace(/:/g, '').toLowerCase());
  const spki = f.strList('verify_certificate_spki');
  const tcv = f.enumOf('trust_chain_verification', ['VERIFY_TRUST_CHAIN', 'ACCEPT_UNTRUSTED'] as const, 'VERIFY_TRUST_CHAIN');
  f.unsupported('crl', 'certificate revocation lists are not supported by spar proxy yet');
  f.unsupportedIfSet('only_verify_leaf_cert_crl', 'certificate revocation lists are not supported by spar proxy yet');
  f.unsupportedIfSet('allow_expired_certificate', 'not supported by spar proxy');
  f.unsupported('custom_validator_config', 'custom certificate validators are not supported by spar proxy');
  f.unsupported('ca_certificate_provider_instance', 'certificate providers are not supported by spar proxy');
  f.unsupported('system_root_certs', 'system root certificates are not supported by spar proxy (set trusted_ca)');
  f.unsupported('watched_directory', 'not supported by spar proxy yet (deliver rotations over SDS)');
  f.num('max_verify_depth');
  f.done();
  return { ca, sans, hashes, spki, acceptUntrusted: tcv === 'ACCEPT_UNTRUSTED' };
}

/** Compiles one Secret resource; errors name the secret and field. */
export function compileSecret(json: EnvoyJson, errs: ConfigErrors): Secret {
  const name = typeof json.name === 'string' ? json.name : '';
  const f = new Fields(json, `Secret ${JSON.stringify(name)}`, errs);
  f.ignore('name');
  if (!name) f.error('name', 'required');
  const out: Secret = { name, json };
  const tc = f.opt('tls_certificate');
  if (tc) out.tlsCertificate = readTlsCertificate(tc);
  const vc = f.opt('validation_context');
  if (vc) out.validation = readValidationContext(vc);
  f.unsupported('session_ticket_keys', 'session ticket keys are not supported by spar proxy');
  f.unsupported('generic_secret', 'generic secrets are not supported by spar proxy');
  f.done();
  return out;
}

interface Held {
  secret: Secret;
  version: number;
  versionInfo: string;
  lastUpdated: Date;
}

export class SecretManager {
  private readonly held = new Map<string, Held>();
  private counter = 0;
  /** Called after secrets change (warming clusters and listeners may now be ready). */
  onUpdate: (() => void) | undefined;
  /** Whether a bootstrap (static, non-EDS) cluster of this name exists: SDS streams need one. */
  staticClusterExists: (name: string) => boolean = () => false;

  private static key(source: SecretSource, name: string): string {
    return `${source}\u0000${name}`;
  }

  get(ref: SecretRef): Secret | undefined {
    return this.held.get(SecretManager.key(ref.source, ref.name))?.secret;
  }

  /** Changes whenever the secret is replaced; 0 when absent. */
  version(ref: SecretRef): number {
    return this.held.get(SecretManager.key(ref.source, ref.name))?.version ?? 0;
  }

  /** Compiles secrets of one source; nothing changes when any is invalid (returns the errors). */
  update(source: SecretSource, resources: EnvoyJson[], versionInfo: string, removed: string[] = []): string | undefined {
    const errs = new ConfigErrors();
    const compiled = resources.map((r) => compileSecret(r, errs));
    if (!errs.ok) return errs.toString();
    for (const s of compiled) {
      const k = SecretManager.key(source, s.name);
      const cur = this.held.get(k);
      if (cur && JSON.stringify(cur.secret.json) === JSON.stringify(s.json)) continue;
      this.held.set(k, { secret: s, version: ++this.counter, versionInfo, lastUpdated: new Date() });
    }
    for (const n of removed) this.held.delete(SecretManager.key(source, n));
    this.onUpdate?.();
    return undefined;
  }

  /** Every held secret (for /config_dump). */
  list(): { source: SecretSource; name: string; versionInfo: string; lastUpdated: Date; json: EnvoyJson }[] {
    return [...this.held.entries()].map(([k, h]) => ({ source: k.slice(0, k.indexOf('\u0000')), name: h.secret.name, versionInfo: h.versionInfo, lastUpdated: h.lastUpdated, json: h.secret.json }));
  }
}
