/**
 * TLS settings: a server's (Gateway servers, Sidecar ingress listeners: which certificate source,
 * what each mode requires) and a client's (DestinationRule traffic policies: MUTUAL needs a client
 * certificate, insecureSkipVerify excludes verification settings), with Istio's texts.
 */
import { at, isObj, list, str, type Obj, type Report } from './report.js';

const VALID_CIPHERS = new Set([
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305', 'ECDHE-ECDSA-AES128-SHA', 'ECDHE-RSA-AES128-SHA',
  'ECDHE-ECDSA-AES256-SHA', 'ECDHE-RSA-AES256-SHA', 'AES128-GCM-SHA256', 'AES256-GCM-SHA384', 'AES128-SHA', 'AES256-SHA', 'DES-CBC3-SHA',
]);

/** BoringSSL cipher names Envoy accepts (an operator expression such as `[A|B]` or `-X` is passed through). */
function isValidCipherSuite(cs: string): boolean {
  if (cs === '' || cs === 'ALL') return true;
  if (!/^[\p{L}\p{N}]/u.test(cs)) return true;
  return VALID_CIPHERS.has(cs);
}

/** The server TLS mode, defaulting as protobuf does (PASSTHROUGH is the zero value). */
export function serverTlsMode(tls: Obj): string {
  return str(tls.mode) || 'PASSTHROUGH';
}

/** Istio's validateTLSOptions for a `ServerTLSSettings` at `path`. */
export function validateServerTLS(rep: Report, path: string, tls: unknown): void {
  if (!isObj(tls)) return;
  const mode = serverTlsMode(tls);
  const ciphers = list<unknown>(tls.cipherSuites).map(str);
  if ((tls.minProtocolVersion === 'TLSV1_0' || tls.minProtocolVersion === 'TLSV1_1') && ciphers.length === 0) {
    rep.warn(at(path, 'minProtocolVersion'), 'TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers.');
  }
  const invalid = new Set<string>();
  const valid = new Set<string>();
  const dup = new Set<string>();
  for (const cs of ciphers) {
    if (!isValidCipherSuite(cs)) invalid.add(cs);
    else if (valid.has(cs)) dup.add(cs);
    else valid.add(cs);
  }
  if (invalid.size) rep.warn(at(path, 'cipherSuites'), `ignoring invalid cipher suites: [${[...invalid].sort().join(' ')}]`);
  if (dup.size) rep.warn(at(path, 'cipherSuites'), `ignoring duplicate cipher suites: [${[...dup].sort().join(' ')}]`);

  const serverCertificate = str(tls.serverCertificate);
  const privateKey = str(tls.privateKey);
  const caCertificates = str(tls.caCertificates);
  const credentialName = str(tls.credentialName);
  const credentialNames = list(tls.credentialNames);
  const tlsCertificates = list<unknown>(tls.tlsCertificates);
  const caCrl = str(tls.caCrl);

  if (mode === 'ISTIO_MUTUAL') {
    if (serverCertificate) rep.error(at(path, 'serverCertificate'), 'ISTIO_MUTUAL TLS cannot have associated server certificate');
    if (privateKey) rep.error(at(path, 'privateKey'), 'ISTIO_MUTUAL TLS cannot have associated private key');
    if (caCertificates) rep.error(at(path, 'caCertificates'), 'ISTIO_MUTUAL TLS cannot have associated CA bundle');
    if (tlsCertificates.length) rep.error(at(path, 'tlsCertificates'), 'ISTIO_MUTUAL TLS cannot have associated tlsCertificates');
    if (credentialName) rep.error(at(path, 'credentialName'), 'ISTIO_MUTUAL TLS cannot have associated credentialName');
    if (credentialNames.length) rep.error(at(path, 'credentialNames'), 'ISTIO_MUTUAL TLS cannot have associated credentialNames');
    return;
  }
  if (mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') {
    if (caCrl || serverCertificate || privateKey || caCertificates || tlsCertificates.length || credentialName || credentialNames.length) {
      rep.warn(at(path, 'mode'), `${mode} mode does not use certificates, they will be ignored`);
    }
  }
  let sources = 0;
  if (serverCertificate && privateKey) sources++;
  if (credentialName) sources++;
  if (credentialNames.length) sources++;
  if (tlsCertificates.length) sources++;
  if (sources > 1) rep.error(path, 'only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified');

  const terminating = mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL';
  if (terminating && (credentialName || credentialNames.length)) return;
  if (terminating) {
    const prefix = mode === 'SIMPLE' ? 'SIMPLE TLS' : 'MUTUAL TLS';
    if (prefix === 'MUTUAL TLS' && !caCertificates) rep.error(at(path, 'caCertificates'), `${prefix} requires a client CA bundle`);
    if (tlsCertificates.length > 2) rep.warn(at(path, 'tlsCertificates'), `${prefix} can support up to 2 server certificates`);
    const certs: [string, Obj][] = tlsCertificates.length
      ? tlsCertificates.map((c, i) => [at(at(path, 'tlsCertificates'), i), isObj(c) ? c : {}])
      : [[path, { serverCertificate, privateKey }]];
    for (const [p, c] of certs) {
      if (!str(c.serverCertificate)) rep.error(at(p, 'serverCertificate'), `${prefix} requires a server certificate`);
      if (!str(c.privateKey)) rep.error(at(p, 'privateKey'), `${prefix} requires a private key`);
    }
  }
  if (caCrl) {
    if (credentialName) rep.error(at(path, 'caCrl'), 'CRL is not supported with credentialName. CRL has to be specified in the credential');
    if (mode === 'SIMPLE') rep.error(at(path, 'caCrl'), 'CRL is not supported with SIMPLE TLS');
  }
}

const CONFIGMAP_URI = 'configmap://';

/** Istio's agent.ValidateTLS for a `ClientTLSSettings` (DestinationRule) at `path`. */
export function validateClientTLS(rep: Report, path: string, namespace: string, tls: unknown): void {
  if (!isObj(tls)) return;
  const mode = str(tls.mode) || 'DISABLE';
  const credentialName = str(tls.credentialName);
  const caCertificates = str(tls.caCertificates);
  const sans = list(tls.subjectAltNames);
  if (credentialName.startsWith(CONFIGMAP_URI)) {
    const rest = credentialName.slice(CONFIGMAP_URI.length);
    const parts = rest.split('/');
    if (rest === '' || parts.length > 2 || parts.some((x) => x === '')) {
      rep.error(at(path, 'credentialName'), `invalid configmap:// credentialName: invalid resource name "${credentialName}". Expected configmap://<name> or configmap://<namespace>/<name>`);
    } else if ((parts.length === 2 ? parts[0] : namespace) !== namespace || namespace === '') {
      rep.error(at(path, 'credentialName'), `invalid configmap:// credentialName: namespace must match the configuration namespace "${namespace}"`);
    }
  }
  if (tls.insecureSkipVerify === true) {
    if (mode === 'SIMPLE' && (caCertificates || credentialName || sans.length)) {
      rep.error(at(path, 'insecureSkipVerify'), 'cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true');
    }
    if (mode === 'MUTUAL' && (caCertificates || sans.length)) {
      rep.error(at(path, 'insecureSkipVerify'), 'cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true');
    }
  }
  if ((mode === 'SIMPLE' || mode === 'MUTUAL') && credentialName) {
    if (str(tls.clientCertificate) || caCertificates || str(tls.privateKey) || str(tls.caCrl)) {
      rep.error(at(path, 'credentialName'), 'cannot specify client certificates or CA certificate or CA CRL If credentialName is set');
    }
    return;
  }
  if (mode === 'MUTUAL') {
    if (!str(tls.clientCertificate)) rep.error(at(path, 'clientCertificate'), 'client certificate required for mutual tls');
    if (!str(tls.privateKey)) rep.error(at(path, 'privateKey'), 'private key required for mutual tls');
  }
}
