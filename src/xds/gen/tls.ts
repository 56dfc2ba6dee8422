/**
 * TLS transport sockets: Istio mutual TLS (certificates from the agent's SDS: `default` and
 * `ROOTCA` over the `sds-grpc` bootstrap cluster), DestinationRule SIMPLE/MUTUAL (files or
 * `credentialName` served by the pilot's SDS as `kubernetes://<name>`), and downstream contexts
 * for inbound mTLS and Gateway servers.
 */
import type { ClientTLSSettings, ServerTLSSettings } from '../../api/types.js';
import type { EnvoyJson } from '../codec.js';
import { SdsCluster } from '../../model/naming.js';
import { adsConfigSource, compact, deepFreeze, Ext } from './common.js';

/** ALPN a sidecar offers on Istio mTLS (metadata exchange, then plain Istio). */
export const ALPN_ISTIO = ['istio-peer-exchange', 'istio'];
/** ALPN values inbound filter chains match for Istio mTLS traffic. */
export const ALPN_ISTIO_ALL = ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'];
export const ALPN_ISTIO_HTTP = ['istio-http/1.0', 'istio-http/1.1', 'istio-h2'];
export const ALPN_PLAINTEXT_HTTP = ['http/1.1', 'h2c'];

const TLS_PARAMS = { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' };

/**
 * The agent's SDS (workload certificate and root). One frozen object shared by every cluster and
 * listener that names it: thousands of clusters need not carry thousands of copies.
 */
const AGENT_SDS: EnvoyJson = deepFreeze({
  api_config_source: { api_type: 'GRPC', grpc_services: [{ envoy_grpc: { cluster_name: SdsCluster } }], set_node_on_first_message_only: true, transport_api_version: 'V3' },
  initial_fetch_timeout: '0s',
  resource_api_version: 'V3',
});
const SDS_DEFAULT: EnvoyJson = deepFreeze({ name: 'default', sds_config: AGENT_SDS });
const SDS_ROOTCA: EnvoyJson = deepFreeze({ name: 'ROOTCA', sds_config: AGENT_SDS });

export function agentSdsConfig(): EnvoyJson {
  return AGENT_SDS;
}

const sdsSecret = (name: string, source: EnvoyJson): EnvoyJson => ({ name, sds_config: source });

/** The Istio SNI for mesh-internal mTLS: `outbound_.9080_.v1_.reviews.default.svc.cluster.local`. */
export function istioMtlsSni(port: number, subset: string, host: string): string {
  return `outbound_.${port}_.${subset}_.${host}`;
}

export function spiffeId(trustDomain: string, ns: string, sa: string): string {
  return `spiffe://${trustDomain}/ns/${ns}/sa/${sa}`;
}

/** UpstreamTlsContext for ISTIO_MUTUAL. */
export function istioMutualUpstream(sni: string, sans: string[], http2: boolean): EnvoyJson {
  return {
    common_tls_context: compact({
      tls_params: TLS_PARAMS,
      alpn_protocols: http2 ? [...ALPN_ISTIO, 'h2'] : ALPN_ISTIO,
      tls_certificate_sds_secret_configs: [SDS_DEFAULT],
      combined_validation_context: {
        default_validation_context: sans.length ? { match_subject_alt_names: sans.map((s) => ({ exact: s })) } : {},
        validation_context_sds_secret_config: SDS_ROOTCA,
      },
    }),
    sni,
  };
}

/** UpstreamTlsContext for a DestinationRule `tls` in SIMPLE or MUTUAL mode. */
export function userUpstreamTls(tls: ClientTLSSettings, defaultSni: string | undefined): EnvoyJson {
  const common: Record<string, unknown> = {};
  const sans = tls.subjectAltNames ?? [];
  const validation = compact({
    trusted_ca: tls.caCertificates ? { filename: tls.caCertificates } : undefined,
    match_subject_alt_names: sans.length ? sans.map((s) => ({ exact: s })) : undefined,
    crl: tls.caCrl ? { filename: tls.caCrl } : undefined,
  });
  if (tls.credentialName) {
    if (tls.mode === 'MUTUAL') common.tls_certificate_sds_secret_configs = [sdsSecret(`kubernetes://${tls.credentialName}`, adsConfigSource())];
    if (!tls.insecureSkipVerify) {
      common.combined_validation_context = {
        default_validation_context: sans.length ? { match_subject_alt_names: sans.map((s) => ({ exact: s })) } : {},
        validation_context_sds_secret_config: sdsSecret(`kubernetes://${tls.credentialName}-cacert`, adsConfigSource()),
      };
    }
  } else {
    if (tls.mode === 'MUTUAL' && tls.clientCertificate && tls.privateKey) {
      common.tls_certificates = [{ certificate_chain: { filename: tls.clientCertificate }, private_key: { filename: tls.privateKey } }];
    }
    if (!tls.insecureSkipVerify && Object.keys(validation).length) common.validation_context = validation;
  }
  const sni = tls.sni ?? defaultSni;
  return compact({ common_tls_context: common, sni });
}

export function transportSocket(name: 'tls' | 'raw_buffer', config: EnvoyJson): EnvoyJson {
  if (name === 'raw_buffer') return { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': Ext.RawBuffer } };
  return { name: 'envoy.transport_sockets.tls', typed_config: { '@type': Ext.UpstreamTls, ...config } };
}

/** DownstreamTlsContext for inbound Istio mTLS (clients must present a mesh certificate). */
export function inboundMtlsContext(alpn: string[]): EnvoyJson {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': Ext.DownstreamTls,
      common_tls_context: {
        tls_params: TLS_PARAMS,
        alpn_protocols: alpn,
        tls_certificate_sds_secret_configs: [SDS_DEFAULT],
        combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: SDS_ROOTCA },
      },
      require_client_certificate: true,
    },
  };
}

const TLS_VERSION: Record<string, string> = { TLS_AUTO: 'TLS_AUTO', TLSV1_0: 'TLSv1_0', TLSV1_1: 'TLSv1_1', TLSV1_2: 'TLSv1_2', TLSV1_3: 'TLSv1_3' };

/** DownstreamTlsContext for a Gateway server in SIMPLE, MUTUAL or OPTIONAL_MUTUAL mode. */
export function gatewayTlsContext(tls: ServerTLSSettings, alpn: string[]): EnvoyJson {
  // ISTIO_MUTUAL: the gateway's own mesh certificate, clients must hold one too (east-west traffic).
  if (tls.mode === 'ISTIO_MUTUAL') return inboundMtlsContext(alpn.length ? alpn : ALPN_ISTIO);
  const common: Record<string, unknown> = { alpn_protocols: alpn };
  const params = compact({
    tls_minimum_protocol_version: tls.minProtocolVersion ? TLS_VERSION[tls.minProtocolVersion] : 'TLSv1_2',
    tls_maximum_protocol_version: tls.maxProtocolVersion ? TLS_VERSION[tls.maxProtocolVersion] : undefined,
    cipher_suites: tls.cipherSuites?.length ? tls.cipherSuites : undefined,
    ecdh_curves: tls.ecdhCurves?.length ? tls.ecdhCurves : undefined,
  });
  common.tls_params = params;
  const mutual = tls.mode === 'MUTUAL' || tls.mode === 'OPTIONAL_MUTUAL';
  const credentialNames = tls.credentialNames?.length ? tls.credentialNames : tls.credentialName ? [tls.credentialName] : [];
  const sans = tls.subjectAltNames ?? [];
  if (credentialNames.length) {
    common.tls_certificate_sds_secret_configs = credentialNames.map((c) => sdsSecret(`kubernetes://${c}`, adsConfigSource()));
    if (mutual) {
      common.combined_validation_context = {
        default_validation_context: sans.length ? { match_subject_alt_names: sans.map((s) => ({ exact: s })) } : {},
        validation_context_sds_secret_config: sdsSecret(`kubernetes://${tls.caCertCredentialName ?? credentialNames[0]}-cacert`, adsConfigSource()),
      };
    }
  } else {
    if (tls.serverCertificate && tls.privateKey) {
      common.tls_certificates = [{ certificate_chain: { filename: tls.serverCertificate }, private_key: { filename: tls.privateKey } }];
    }
    if (mutual && tls.caCertificates) {
      common.validation_context = compact({
        trusted_ca: { filename: tls.caCertificates },
        match_subject_alt_names: sans.length ? sans.map((s) => ({ exact: s })) : undefined,
        verify_certificate_spki: tls.verifyCertificateSpki?.length ? tls.verifyCertificateSpki : undefined,
        verify_certificate_hash: tls.verifyCertificateHash?.length ? tls.verifyCertificateHash : undefined,
      });
    }
  }
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: compact({ '@type': Ext.DownstreamTls, common_tls_context: common, require_client_certificate: tls.mode === 'MUTUAL' ? true : undefined }),
  };
}
