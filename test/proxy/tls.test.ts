/**
 * TLS in `spar proxy`, refereed by Envoy 1.40: the same static bootstraps run in both.
 *   (a) TLS origination to a node https upstream with SAN verification (a wrong SAN, an unknown CA
 *       or a handshake past connect_timeout is a 503 with flag UF and Envoy's transport failure
 *       reason);
 *   (b) mutual TLS between a client proxy and a server proxy (SPIFFE certificates, tls_inspector,
 *       Istio's ALPN and chain matching, peer SANs in %DOWNSTREAM_PEER_URI_SAN%, HTTP/2, Istio's
 *       x-forwarded-client-cert) in all four combinations of Envoy and Spar;
 *   (c) transport_socket_matches as Istio's auto mTLS uses them (tlsMode: istio → mTLS, other
 *       endpoints plaintext);
 *   (d) SDS over ADS (SotW and delta) from the in-process control plane: a listener warms until its
 *       secrets arrive, a rotated certificate serves new connections while open ones keep working,
 *       a bad secret is NACKed, /config_dump shows secrets redacted;
 *   (e) both ACK the pilot's CDS for a Bookinfo sidecar (auto mTLS with SDS from sds-grpc) and
 *       warm its clusters when the secrets arrive on the SDS stream;
 *   (f) static secrets and tcp_proxy over mTLS;
 * and in-process tables for transport socket choice and SAN checks.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent as HttpsAgent, createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EnvoyJson } from '../../src/xds/codec.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { startProxy, type Envoy, type ProxyKind } from './helpers/proxies.js';
import { startUpstream, type Echo, type Upstream } from './helpers/upstreams.js';
import { send } from './helpers/client.js';
import { makeCa, removeCerts, spiffe, type Ca, type CertFiles } from './helpers/certs.js';
import { ControlPlane } from './helpers/control-plane.js';
import { freePort, warming } from '../helpers/envoy.js';
import { ConfigErrors, Fields } from '../../src/proxy/config/fields.js';
import { SecretManager } from '../../src/proxy/tls/secrets.js';
import { readUpstreamTransport } from '../../src/proxy/tls/transport-socket.js';
import { certSans } from '../../src/proxy/tls/context.js';

const T = 'type.googleapis.com/';
const HCM = `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
const UP_TLS = `${T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`;
const DOWN_TLS = `${T}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`;
const KINDS: ProxyKind[] = ['envoy', 'spar'];
/** Envoy writes access log files every 10 s unless told otherwise. */
const FLUSH = (kind: ProxyKind) => ({ args: kind === 'envoy' ? ['--file-flush-interval-msec', '50'] : [] });

const addr = (port: number) => ({ socket_address: { address: '127.0.0.1', port_value: port } });
const endpoint = (port: number, metadata?: EnvoyJson) => ({ endpoint: { address: addr(port) }, ...(metadata ? { metadata } : {}) });

function cluster(name: string, eps: EnvoyJson[], extra: EnvoyJson = {}): EnvoyJson {
  return { name, type: 'STATIC', connect_timeout: '2s', load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: eps }] }, ...extra } as EnvoyJson;
}

function upstreamTls(o: { sni?: string; ca?: string; san?: string; cert?: CertFiles; alpn?: string[] }): EnvoyJson {
  const common: EnvoyJson = {};
  if (o.cert) common.tls_certificates = [{ certificate_chain: { filename: o.cert.certFile }, private_key: { filename: o.cert.keyFile } }];
  if (o.ca) {
    common.validation_context = { trusted_ca: { filename: o.ca }, ...(o.san ? { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: o.san } }] } : {}) };
  }
  if (o.alpn) common.alpn_protocols = o.alpn;
  return { name: 'envoy.transport_sockets.tls', typed_config: { '@type': UP_TLS, common_tls_context: common, ...(o.sni ? { sni: o.sni } : {}) } };
}

function downstreamTls(o: { cert: CertFiles; ca?: string; san?: string; require?: boolean; alpn?: string[] }): EnvoyJson {
  const common: EnvoyJson = { tls_certificates: [{ certificate_chain: { filename: o.cert.certFile }, private_key: { filename: o.cert.keyFile } }] };
  if (o.ca) common.validation_context = { trusted_ca: { filename: o.ca }, ...(o.san ? { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: o.san } }] } : {}) };
  if (o.alpn) common.alpn_protocols = o.alpn;
  return { name: 'envoy.transport_sockets.tls', typed_config: { '@type': DOWN_TLS, common_tls_context: common, require_client_certificate: !!o.require } };
}

/** An HCM routing every request by path prefix to clusters; logs flags and failure reasons to `log`. */
function hcm(routes: [string, string][], o: { log?: string; headers?: Record<string, string>; hcm?: EnvoyJson } = {}): EnvoyJson {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': HCM, stat_prefix: 'in',
      route_config: {
        name: 'local',
        virtual_hosts: [{
          name: 'all', domains: ['*'],
          routes: routes.map(([prefix, c]) => ({ match: { prefix }, route: { cluster: c, timeout: '5s' } })),
          request_headers_to_add: Object.entries(o.headers ?? {}).map(([key, value]) => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })),
        }],
      },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` } }],
      ...o.hcm,
      ...(o.log ? { access_log: [{ name: 'envoy.access_loggers.file', typed_config: { '@type': `${T}envoy.extensions.access_loggers.file.v3.FileAccessLog`, path: o.log, log_format: { text_format_source: { inline_string: '%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_TRANSPORT_FAILURE_REASON%\n' } } } }] } : {}),
    },
  } as EnvoyJson;
}

function bootstrap(listeners: EnvoyJson[], clusters: EnvoyJson[], extra: EnvoyJson = {}): EnvoyJson {
  return { admin: { address: addr(0) }, static_resources: { listeners, clusters }, ...extra } as EnvoyJson;
}

function listener(name: string, port: number, chains: EnvoyJson[], tlsInspector = false): EnvoyJson {
  return {
    name, address: addr(port), filter_chains: chains,
    ...(tlsInspector ? { listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': `${T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector` } }] } : {}),
  } as EnvoyJson;
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const echo = (body: string): Echo => JSON.parse(body) as Echo;

let ca: Ca;
let otherCa: Ca;
let serverCert: CertFiles;
let clientCert: CertFiles;
let rogueClient: CertFiles;
let plain: Upstream;
let tmp: string;

before(() => {
  ca = makeCa('cluster.local');
  otherCa = makeCa('elsewhere');
  serverCert = ca.issue('server', [`URI:${spiffe('bookinfo-reviews')}`, 'DNS:reviews.default.svc.cluster.local']);
  clientCert = ca.issue('client', [`URI:${spiffe('bookinfo-productpage')}`]);
  rogueClient = otherCa.issue('rogue', [`URI:${spiffe('bookinfo-productpage')}`]);
  tmp = mkdtempSync(join(tmpdir(), 'spar-tls-test-'));
});
before(async () => {
  plain = await startUpstream('plain');
});
after(async () => {
  await plain.close();
  removeCerts();
  rmSync(tmp, { recursive: true, force: true });
});

describe('(a) TLS origination to an https upstream', () => {
  let https: HttpsServer;
  let httpsPort = 0;
  // Accepts TCP, never answers the ClientHello: the handshake runs into connect_timeout.
  const silentSockets = new Set<import('node:net').Socket>();
  const silent = createNetServer(() => {});
  let silentPort = 0;
  const seen: { sni: string; alpn: string }[] = [];
  before(async () => {
    https = createHttpsServer({ cert: serverCert.cert, key: serverCert.key, ALPNProtocols: ['http/1.1'] }, (req, res) => {
      const s = req.socket as TLSSocket;
      seen.push({ sni: String((s as TLSSocket & { servername?: string }).servername ?? ''), alpn: String(s.alpnProtocol) });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ upstream: 'https', url: req.url, headers: req.headers }));
    });
    await new Promise<void>((r) => https.listen(0, '127.0.0.1', () => r()));
    httpsPort = (https.address() as { port: number }).port;
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    silentPort = (silent.address() as { port: number }).port;
  });
  after(() => {
    https.closeAllConnections();
    https.close();
    for (const s of silentSockets) s.destroy();
    silent.close();
  });
  silent.on('connection', (s) => silentSockets.add(s.on('close', () => silentSockets.delete(s))));

  const results: Record<string, { status: number; body: string; log: string[] }[]> = {};
  for (const kind of KINDS) {
    test(`${kind}: verified SAN → 200; wrong SAN, unknown CA → 503 UF with the TLS error`, async () => {
      const log = join(tmp, `a-${kind}.log`);
      const port = await freePort();
      const clusters = [
        cluster('good', [endpoint(httpsPort)], { transport_socket: upstreamTls({ sni: 'reviews.default.svc.cluster.local', ca: ca.certFile, san: spiffe('bookinfo-reviews') }) }),
        cluster('wrong-san', [endpoint(httpsPort)], { transport_socket: upstreamTls({ ca: ca.certFile, san: spiffe('someone-else') }) }),
        cluster('unknown-ca', [endpoint(httpsPort)], { transport_socket: upstreamTls({ ca: otherCa.certFile }) }),
        cluster('no-verify', [endpoint(httpsPort)], { transport_socket: upstreamTls({}) }),
        cluster('silent', [endpoint(silentPort)], { connect_timeout: '0.3s', transport_socket: upstreamTls({}) }),
      ];
      const p = await startProxy(kind, bootstrap([listener('in', port, [{ filters: [hcm([['/good', 'good'], ['/wrong', 'wrong-san'], ['/ca', 'unknown-ca'], ['/nv', 'no-verify'], ['/silent', 'silent']], { log })] }])], clusters), FLUSH(kind));
      try {
        await p.waitReady();
        seen.length = 0;
        const good = await send(port, { path: '/good' });
        assert.equal(good.status, 200, good.body);
        assert.equal(echo(good.body).url, '/good');
        assert.deepEqual(seen[0], { sni: 'reviews.default.svc.cluster.local', alpn: 'http/1.1' });
        const out = [];
        for (const path of ['/wrong', '/ca', '/nv', '/silent']) {
          const r = await send(port, { path });
          out.push({ status: r.status, body: r.status === 200 ? '' : r.body, log: [] as string[] });
        }
        assert.equal(out[0].status, 503);
        assert.equal(out[1].status, 503);
        assert.equal(out[2].status, 200);
        assert.equal(out[3].status, 503);
        await until(() => readFileSync(log, 'utf8').split('\n').filter(Boolean).length >= 5, 'access log');
        const lines = readFileSync(log, 'utf8').trim().split('\n');
        out[0].log = [lines[1]];
        out[1].log = [lines[2]];
        out[3].log = [lines[4]];
        assert.match(lines[1], /^503 UF TLS_error:/);
        assert.match(lines[2], /^503 UF TLS_error:/);
        results[kind] = out;
      } finally {
        await p.stop();
      }
    });
  }
  test('spar answers and logs the TLS failures as Envoy does', () => {
    if (!results.envoy || !results.spar) return;
    assert.deepEqual(results.spar, results.envoy);
  });
});

const ALPN_ISTIO = ['istio-peer-exchange', 'istio'];
const PEER_HEADERS = {
  'x-peer-uri': '%DOWNSTREAM_PEER_URI_SAN%',
  'x-local-uri': '%DOWNSTREAM_LOCAL_URI_SAN%',
  'x-tls-version': '%DOWNSTREAM_TLS_VERSION%',
  'x-peer-subject': '%DOWNSTREAM_PEER_SUBJECT%',
  'x-protocol': '%PROTOCOL%',
};

/**
 * A sidecar's inbound side as the pilot writes it: an mTLS chain for Istio's ALPN (transport_protocol
 * tls, application_protocols istio*) offering h2 / http/1.1, and a plaintext chain, both to `plain`.
 * Clients offering only istio-peer-exchange / istio agree on no ALPN (HTTP/1 is sniffed).
 */
function serverBootstrap(port: number): EnvoyJson {
  const mtls = {
    filter_chain_match: { transport_protocol: 'tls', application_protocols: ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'] },
    transport_socket: downstreamTls({ cert: serverCert, ca: ca.certFile, san: 'spiffe://cluster.local/ns/default/', require: true, alpn: ['h2', 'http/1.1'] }),
    // Istio's inbound sidecar: append the client's identity to x-forwarded-client-cert.
    filters: [hcm([['/', 'app']], { headers: { ...PEER_HEADERS, 'x-chain': 'mtls' }, hcm: { forward_client_cert_details: 'APPEND_FORWARD', set_current_client_cert_details: { subject: true, dns: true, uri: true } } })],
  };
  const plaintext = { filters: [hcm([['/', 'app']], { headers: { 'x-chain': 'plain' } })] };
  return bootstrap([listener('inbound', port, [mtls, plaintext], true)], [cluster('app', [endpoint(plain.port)])]);
}

/** A sidecar's outbound side: clusters to the server proxy with mTLS, without a client certificate, plaintext, and auto mTLS. */
function clientBootstrap(port: number, serverPort: number, log: string): EnvoyJson {
  const mtls = upstreamTls({ sni: 'outbound_.9080_._.reviews.default.svc.cluster.local', ca: ca.certFile, san: spiffe('bookinfo-reviews'), cert: clientCert, alpn: ALPN_ISTIO });
  const clusters = [
    cluster('mtls', [endpoint(serverPort)], { transport_socket: mtls }),
    // HTTP/2 over mTLS as the pilot writes it (ALPN istio-peer-exchange, istio, h2): the server picks h2.
    cluster('mtls-h2', [endpoint(serverPort)], {
      transport_socket: upstreamTls({ sni: 'outbound_.9080_._.reviews.default.svc.cluster.local', ca: ca.certFile, san: spiffe('bookinfo-reviews'), cert: clientCert, alpn: [...ALPN_ISTIO, 'h2'] }),
      typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`, explicit_http_config: { http2_protocol_options: {} } } },
    }),
    cluster('nocert', [endpoint(serverPort)], { transport_socket: upstreamTls({ ca: ca.certFile, san: spiffe('bookinfo-reviews'), alpn: ALPN_ISTIO }) }),
    cluster('rogue', [endpoint(serverPort)], { transport_socket: upstreamTls({ ca: ca.certFile, cert: rogueClient }) }),
    cluster('plaintext', [endpoint(serverPort)]),
    // Istio's auto mTLS: tlsMode=istio endpoints get mTLS, the others plaintext.
    cluster('auto', [endpoint(serverPort, { filter_metadata: { 'envoy.transport_socket_match': { tlsMode: 'istio' } } }), endpoint(plain.port)], {
      transport_socket_matches: [
        { name: 'tlsMode-istio', match: { tlsMode: 'istio' }, transport_socket: mtls },
        { name: 'tlsMode-disabled', match: {}, transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': `${T}envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer` } } },
      ],
    }),
  ];
  const routes: [string, string][] = [['/h2', 'mtls-h2'], ['/nocert', 'nocert'], ['/rogue', 'rogue'], ['/plaintext', 'plaintext'], ['/auto', 'auto'], ['/', 'mtls']];
  return bootstrap([listener('outbound', port, [{ filters: [hcm(routes, { log })] }])], clusters);
}

describe('(b) mutual TLS between proxies, (c) transport_socket_matches', () => {
  const servers = new Map<ProxyKind, { p: Envoy; port: number }>();
  before(async () => {
    for (const kind of KINDS) {
      const port = await freePort();
      const p = await startProxy(kind, serverBootstrap(port));
      await p.waitReady();
      servers.set(kind, { p, port });
    }
  });
  after(async () => {
    for (const s of servers.values()) await s.p.stop();
  });

  type Seen = Record<string, unknown>;
  const combos: Record<string, Seen> = {};
  for (const client of KINDS) for (const server of KINDS) {
    test(`${client} → ${server}: SPIFFE identities both ways; a missing or untrusted client certificate is refused`, async () => {
      const log = join(tmp, `b-${client}-${server}.log`);
      const port = await freePort();
      const srv = servers.get(server)!;
      const p = await startProxy(client, clientBootstrap(port, srv.port, log), FLUSH(client));
      try {
        await p.waitReady();
        const r = await send(port, { path: '/mtls' });
        assert.equal(r.status, 200, r.body);
        const h = echo(r.body).headers;
        assert.equal(h['x-chain'], 'mtls');
        assert.equal(h['x-peer-uri'], spiffe('bookinfo-productpage'));
        assert.equal(h['x-local-uri'], spiffe('bookinfo-reviews'));
        assert.equal(h['x-tls-version'], 'TLSv1.2', 'Envoy clients offer at most TLS 1.2 by default');
        assert.equal(h['x-peer-subject'], 'CN=client,O=cluster.local');
        assert.equal(h['x-protocol'], 'HTTP/1.1');
        const xfcc = String(h['x-forwarded-client-cert']);
        assert.match(xfcc, new RegExp(`^By=${spiffe('bookinfo-reviews')};Hash=[0-9a-f]{64};Subject="CN=client,O=cluster.local";URI=${spiffe('bookinfo-productpage')}$`));
        const h2 = await send(port, { path: '/h2' });
        assert.equal(h2.status, 200, h2.body);
        assert.equal(echo(h2.body).headers['x-protocol'], 'HTTP/2');
        assert.equal(echo(h2.body).headers['x-peer-uri'], spiffe('bookinfo-productpage'));
        const pt = await send(port, { path: '/plaintext' });
        assert.equal(pt.status, 200);
        assert.equal(echo(pt.body).headers['x-chain'], 'plain');
        const nocert = await send(port, { path: '/nocert' });
        const rogue = await send(port, { path: '/rogue' });
        assert.equal(nocert.status, 503);
        assert.equal(rogue.status, 503);
        // (c) auto mTLS: the tlsMode=istio endpoint through the server proxy, the other direct.
        const auto = [];
        for (let i = 0; i < 4; i++) {
          const a = await send(port, { path: '/auto' });
          assert.equal(a.status, 200);
          const e = echo(a.body);
          auto.push(`${String(e.headers['x-chain'] ?? 'direct')} ${String(e.headers['x-peer-uri'] ?? '-')}`);
        }
        assert.deepEqual(auto.sort(), ['direct -', 'direct -', `mtls ${spiffe('bookinfo-productpage')}`, `mtls ${spiffe('bookinfo-productpage')}`]);
        await until(() => readFileSync(log, 'utf8').split('\n').filter(Boolean).length >= 9, 'access log');
        const lines = readFileSync(log, 'utf8').trim().split('\n');
        combos[`${client}→${server}`] = { xfcc, nocert: [nocert.body, lines[3].split(' ').slice(0, 2)], rogue: [rogue.body, lines[4].split(' ').slice(0, 2)] };
      } finally {
        await p.stop();
      }
    });
  }
  test('the four combinations agree (refusals are 503 UF before headers)', () => {
    const all = Object.values(combos);
    if (all.length !== 4) return;
    for (const c of all) assert.deepEqual(c, all[0]);
    assert.deepEqual((all[0].nocert as unknown[])[1], ['503', 'UF']);
  });

  for (const kind of KINDS) {
    test(`${kind} server: a TLS client without a certificate, or with one from another CA, is refused in the handshake`, async () => {
      const port = servers.get(kind)!.port;
      const attempt = (cert?: CertFiles, alpn = ['istio']) => new Promise<string>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port, ca: ca.cert, checkServerIdentity: () => undefined, ...(cert ? { cert: cert.cert, key: cert.key } : {}), ALPNProtocols: alpn });
        s.on('secureConnect', () => {
          s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
        });
        s.on('data', (d: Buffer) => {
          resolve(d.toString('latin1').split('\r\n')[0]);
          s.destroy();
        });
        s.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
        s.on('close', () => resolve('closed'));
      });
      assert.equal(await attempt(clientCert), 'HTTP/1.1 200 OK');
      assert.equal(await attempt(clientCert, ['istio', 'spdy/1']), 'HTTP/1.1 200 OK', 'no common ALPN: the handshake goes on without one');
      // Plaintext chain, default SANITIZE: a client's x-forwarded-client-cert is dropped.
      const r = await send(port, { path: '/', headers: { 'x-forwarded-client-cert': 'By=spiffe://evil;Hash=00' } });
      assert.equal(echo(r.body).headers['x-forwarded-client-cert'], undefined);
      assert.match(await attempt(), /^error|closed/);
      assert.match(await attempt(rogueClient), /^error|closed/);
    });
  }
});

/** A minimal ADS bootstrap (SotW or delta) whose only static cluster is the control plane. */
function adsBootstrap(cpPort: number, delta: boolean, extraClusters: EnvoyJson[] = []): EnvoyJson {
  const h2 = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`, explicit_http_config: { http2_protocol_options: {} } } };
  return {
    node: { id: 'sidecar~127.0.0.1~reviews-v1.default~default.svc.cluster.local', cluster: 'reviews.default', metadata: { NAMESPACE: 'default' } },
    admin: { address: addr(0) },
    dynamic_resources: {
      lds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' },
      cds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' },
      ads_config: { api_type: delta ? 'DELTA_GRPC' : 'GRPC', set_node_on_first_message_only: true, transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] },
    },
    static_resources: { clusters: [cluster('xds-grpc', [endpoint(cpPort)], { typed_extension_protocol_options: h2 }), ...extraClusters.map((c) => ({ ...c, typed_extension_protocol_options: h2 }))] },
  } as EnvoyJson;
}

const sdsAds = (name: string): EnvoyJson => ({ name, sds_config: { ads: {}, resource_api_version: 'V3' } });

/** An inbound listener whose certificate and CA come from SDS (Istio's shape: combined validation). */
function sdsListener(port: number): EnvoyJson {
  return listener('inbound', port, [{
    transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: {
      '@type': DOWN_TLS, require_client_certificate: true,
      common_tls_context: {
        tls_params: { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' },
        tls_certificate_sds_secret_configs: [sdsAds('default')],
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } }] },
          validation_context_sds_secret_config: sdsAds('ROOTCA'),
        },
      },
    } },
    filters: [hcm([['/', 'app']], { headers: PEER_HEADERS })],
  }]);
}

const certSecret = (name: string, c: CertFiles): EnvoyJson => ({ name, tls_certificate: { certificate_chain: { inline_string: c.cert }, private_key: { inline_string: c.key } } });
const caSecret = (name: string, pem: string): EnvoyJson => ({ name, validation_context: { trusted_ca: { inline_string: pem } } });

/** One HTTPS request as the productpage sidecar would make it; `agent` keeps a connection open across calls. */
function mtlsGet(port: number, agent: HttpsAgent | false): Promise<{ status: number; serverSan: string; echo: Echo }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/', agent, ca: ca.cert, cert: clientCert.cert, key: clientCert.key, checkServerIdentity: () => undefined }, (res) => {
      const chunks: Buffer[] = [];
      const san = String((res.socket as TLSSocket).getPeerCertificate().subjectaltname ?? '');
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, serverSan: san, echo: echo(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('(d) SDS over ADS: warming, then rotation for new connections only', () => {
  for (const kind of KINDS) for (const delta of [false, true]) {
    test(`${kind} (${delta ? 'delta' : 'SotW'}): the listener waits for its secrets; a rotated certificate serves new connections, open ones keep working`, async () => {
      const cp = new ControlPlane();
      await cp.start();
      const port = await freePort();
      const p = await startProxy(kind, adsBootstrap(cp.port, delta));
      const keep = new HttpsAgent({ keepAlive: true, maxSockets: 1 });
      try {
        cp.set(TypeUrl.Cluster, [cluster('app', [endpoint(plain.port)])]);
        cp.set(TypeUrl.Listener, [sdsListener(port)]);
        await p.waitFor(async () => warming(await p.configDump()).includes('listener inbound'), 10_000, 'the listener warming on its secrets');
        const asked = (r: { resource_names?: string[]; resource_names_subscribe?: string[] }) => [...(r.resource_names ?? []), ...(r.resource_names_subscribe ?? [])];
        await until(() => cp.requests.some((r) => r.type_url === TypeUrl.Secret && asked(r).includes('default') && asked(r).includes('ROOTCA')), 'SDS requests for default and ROOTCA');
        cp.set(TypeUrl.Secret, [certSecret('default', serverCert), caSecret('ROOTCA', ca.cert)]);
        await p.waitReady();
        await p.waitFor(async () => !warming(await p.configDump()).length, 10_000, 'the listener active');
        const sd = ((await p.configDump()).configs as EnvoyJson[]).find((c) => String(c['@type']).endsWith('SecretsConfigDump'))!;
        const active = (sd.dynamic_active_secrets as EnvoyJson[]) ?? [];
        assert.deepEqual(active.map((x) => x.name).sort(), ['ROOTCA', 'default']);
        const key = ((active.find((x) => x.name === 'default')!.secret as EnvoyJson).tls_certificate as EnvoyJson).private_key;
        assert.deepEqual(key, { inline_string: '[redacted]' }, 'private keys are redacted in /config_dump');
        const first = await mtlsGet(port, keep);
        assert.equal(first.status, 200);
        assert.match(first.serverSan, /sa\/bookinfo-reviews(,|$)/);
        assert.equal(first.echo.headers['x-peer-uri'], spiffe('bookinfo-productpage'));
        // Rotation: a new workload certificate for the same secret name.
        const rotated = ca.issue('server-v2', [`URI:${spiffe('bookinfo-reviews-v2')}`]);
        cp.set(TypeUrl.Secret, [certSecret('default', rotated), caSecret('ROOTCA', ca.cert)]);
        await until(async () => (await mtlsGet(port, false)).serverSan.endsWith('sa/bookinfo-reviews-v2'), 'a new connection with the rotated certificate');
        const again = await mtlsGet(port, keep);
        assert.equal(again.status, 200, 'the connection opened before the rotation still works');
        assert.match(again.serverSan, /sa\/bookinfo-reviews(,|$)/, 'and still carries the certificate it was opened with');
        assert.equal(again.echo.headers['x-local-uri'], spiffe('bookinfo-reviews'));
        // A bad secret is NACKed and changes nothing.
        cp.set(TypeUrl.Secret, [{ name: 'default', tls_certificate: { certificate_chain: { filename: '/nonexistent/cert.pem' }, private_key: { inline_string: 'x' } } }, caSecret('ROOTCA', ca.cert)]);
        await until(() => cp.nacks(TypeUrl.Secret).length > 0, 'a NACK for the unreadable certificate');
        assert.equal((await mtlsGet(port, false)).status, 200);
      } finally {
        keep.destroy();
        await p.stop();
        await cp.stop();
      }
    });
  }
});

describe("(e) the pilot's CDS for a Bookinfo sidecar (auto mTLS, SDS from sds-grpc)", () => {
  for (const kind of KINDS) {
    test(`${kind}: ACKs it; the clusters warm until default and ROOTCA arrive over the sds-grpc stream`, async () => {
      const { BOOKINFO, gen, pushFor, sidecarFor } = await import('../pilot/fixtures/mesh.js');
      const push = pushFor([BOOKINFO]);
      const productpage = sidecarFor(push, 'productpage-v1');
      const cds = gen(productpage, push, TypeUrl.Cluster);
      const withMatches = cds.filter((c) => Array.isArray(c.transport_socket_matches));
      assert.ok(withMatches.length >= 4, 'auto mTLS clusters (tlsMode-istio / tlsMode-disabled)');
      const cp = new ControlPlane();
      await cp.start();
      const p = await startProxy(kind, adsBootstrap(cp.port, false, [cluster('sds-grpc', [endpoint(cp.port)])]));
      try {
        cp.set(TypeUrl.Cluster, cds);
        cp.set(TypeUrl.ClusterLoadAssignment, gen(productpage, push, TypeUrl.ClusterLoadAssignment));
        await until(() => cp.acked(TypeUrl.Cluster).length > 0 || cp.nacks(TypeUrl.Cluster).length > 0, 'the CDS answer');
        assert.deepEqual(cp.nacks(TypeUrl.Cluster).map((n) => n.error_detail?.message), []);
        const name = String(withMatches[0].name);
        await p.waitFor(async () => warming(await p.configDump()).includes(`cluster ${name}`), 10_000, `${name} warming on its secrets`);
        cp.set(TypeUrl.Secret, [certSecret('default', clientCert), caSecret('ROOTCA', ca.cert)]);
        await p.waitFor(async () => !warming(await p.configDump()).some((w) => w.startsWith('cluster ')), 15_000, 'every cluster active');
        assert.ok(cp.requests.some((r) => r.type_url === TypeUrl.Secret && (r.resource_names ?? []).includes('ROOTCA')), 'secrets requested over the SDS stream');
      } finally {
        await p.stop();
        await cp.stop();
      }
    });
  }
});

describe('(f) static secrets, tcp_proxy over mutual TLS, sni_cluster passthrough', () => {
  const results: Record<string, string[]> = {};
  for (const kind of KINDS) {
    test(`${kind}: tcp_proxy originates mTLS with static secrets; a TLS chain with tcp_proxy terminates it; sni_cluster passes TLS through by SNI`, async () => {
      const log = join(tmp, `f-${kind}.log`);
      const inPort = await freePort();
      const tlsPort = await freePort();
      const sniPort = await freePort();
      const TCP = `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`;
      const tcp = (c: string, accessLog?: string) => ({
        name: 'envoy.filters.network.tcp_proxy',
        typed_config: {
          '@type': TCP, stat_prefix: c, cluster: c,
          ...(accessLog ? { access_log: [{ name: 'envoy.access_loggers.file', typed_config: { '@type': `${T}envoy.extensions.access_loggers.file.v3.FileAccessLog`, path: accessLog, log_format: { text_format_source: { inline_string: '%DOWNSTREAM_PEER_URI_SAN% %DOWNSTREAM_LOCAL_URI_SAN% %DOWNSTREAM_TLS_VERSION%\n' } } } }] } : {}),
        },
      });
      // Secrets named without sds_config are the bootstrap's static_resources.secrets.
      const common = (cert: string) => ({ tls_certificate_sds_secret_configs: [{ name: cert }], validation_context_sds_secret_config: { name: 'ca' } });
      const full = bootstrap(
        [listener('tcp-in', inPort, [{ filters: [tcp('to-tls')] }]), listener('tls-in', tlsPort, [{
          transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': DOWN_TLS, require_client_certificate: true, common_tls_context: { ...common('server'), tls_params: { tls_maximum_protocol_version: 'TLSv1_3' } } } },
          filters: [tcp('app', log)],
        }]),
        // An AUTO_PASSTHROUGH gateway: the client's SNI names the cluster; TLS passes through.
        listener('sni', sniPort, [{ filters: [{ name: 'envoy.filters.network.sni_cluster', typed_config: { '@type': `${T}envoy.extensions.filters.network.sni_cluster.v3.SniCluster` } }, tcp('app')] }], true)],
        [
          cluster('outbound_.9080_._.reviews.default.svc.cluster.local', [endpoint(tlsPort)]),
          cluster('to-tls', [endpoint(tlsPort)], { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': UP_TLS, common_tls_context: { ...common('client'), tls_params: { tls_maximum_protocol_version: 'TLSv1_3' } } } } }),
          cluster('app', [endpoint(plain.port)]),
        ],
      );
      (full.static_resources as EnvoyJson).secrets = [certSecret('server', serverCert), certSecret('client', clientCert), caSecret('ca', ca.cert)];
      const p = await startProxy(kind, full, FLUSH(kind));
      try {
        await p.waitReady();
        const r = await send(inPort, { path: '/through-tcp' });
        assert.equal(r.status, 200, r.body);
        assert.equal(echo(r.body).url, '/through-tcp');
        await until(() => readFileSync(log, 'utf8').trim().length > 0, 'tcp_proxy access log');
        results[kind] = readFileSync(log, 'utf8').trim().split('\n');
        assert.deepEqual(results[kind], [`${spiffe('bookinfo-productpage')} ${spiffe('bookinfo-reviews')} TLSv1.3`]);
        const through = await new Promise<string>((resolve) => {
          const sock = tlsConnect({ host: '127.0.0.1', port: sniPort, servername: 'outbound_.9080_._.reviews.default.svc.cluster.local', ca: ca.cert, cert: clientCert.cert, key: clientCert.key, checkServerIdentity: () => undefined });
          sock.on('secureConnect', () => sock.write('GET /sni HTTP/1.1\r\nhost: x\r\n\r\n'));
          sock.on('data', (d: Buffer) => {
            resolve(`${d.toString('latin1').split('\r\n')[0]} ${String((sock.getPeerCertificate().subjectaltname ?? '').split(',')[0])}`);
            sock.destroy();
          });
          sock.on('error', (e) => resolve(`error ${e.message}`));
        });
        assert.equal(through, `HTTP/1.1 200 OK URI:${spiffe('bookinfo-reviews')}`);
      } finally {
        await p.stop();
      }
    });
  }
});

describe('(g) require_tls on virtual hosts', () => {
  const results: Record<string, unknown[]> = {};
  for (const kind of KINDS) {
    test(`${kind}: plaintext requests to ALL / EXTERNAL_ONLY virtual hosts are redirected to https as Envoy does`, async () => {
      const port = await freePort();
      const vh = (name: string, domains: string[], requireTls?: string) => ({ name, domains, ...(requireTls ? { require_tls: requireTls } : {}), routes: [{ match: { prefix: '/' }, route: { cluster: 'app' } }] });
      const h = hcm([['/', 'app']]);
      const tc = h.typed_config as EnvoyJson;
      tc.route_config = { name: 'local', virtual_hosts: [vh('all', ['all.example', 'all.example:*'], 'ALL'), vh('ext', ['ext.example'], 'EXTERNAL_ONLY'), vh('any', ['*'])] };
      const p = await startProxy(kind, bootstrap([listener('in', port, [{ filters: [h] }])], [cluster('app', [endpoint(plain.port)])]));
      try {
        await p.waitReady();
        const out = [];
        for (const [host, path, xfp] of [['all.example', '/a?b=1', ''], ['all.example:8443', '/x', ''], ['all.example', '/a', 'https'], ['ext.example', '/e', ''], ['other.example', '/o', '']]) {
          const r = await send(port, { path, headers: { host, ...(xfp ? { 'x-forwarded-proto': xfp } : {}) } });
          out.push([host, path, xfp, r.status, r.headers.location ?? '', r.status === 301 ? r.body : '']);
        }
        results[kind] = out;
        // Without use_remote_address nothing marks the request internal: EXTERNAL_ONLY redirects too.
        assert.deepEqual(out.map((o) => o[3]), [301, 301, 200, 301, 200]);
        assert.equal(out[0][4], 'https://all.example/a?b=1');
      } finally {
        await p.stop();
      }
    });
  }
  test('spar redirects exactly as Envoy', () => {
    if (results.envoy && results.spar) assert.deepEqual(results.spar, results.envoy);
  });
});

describe('in-process tables: transport socket choice, SAN checks', () => {
  const tlsSocket = (sni: string): EnvoyJson => ({ name: 'envoy.transport_sockets.tls', typed_config: { '@type': UP_TLS, sni } });
  const transport = (json: EnvoyJson) => {
    const errs = new ConfigErrors();
    const t = readUpstreamTransport(new Fields(json, 'Cluster "c"', errs), new SecretManager());
    assert.deepEqual(errs.list, []);
    return t!;
  };
  const md = (m: EnvoyJson | undefined) => (m ? { filter_metadata: { 'envoy.transport_socket_match': m } } : undefined);

  test('transport_socket_matches: the first whose keys all equal the endpoint metadata, else transport_socket', () => {
    const withCatchAll = transport({
      transport_socket: tlsSocket('default'),
      transport_socket_matches: [
        { name: 'both', match: { tlsMode: 'istio', network: 'n1' }, transport_socket: tlsSocket('both') },
        { name: 'istio', match: { tlsMode: 'istio' }, transport_socket: tlsSocket('istio') },
        { name: 'plain', match: {}, transport_socket: { name: 'envoy.transport_sockets.raw_buffer' } },
      ],
    });
    const table: [EnvoyJson | undefined, string | undefined][] = [
      [{ tlsMode: 'istio', network: 'n1' }, 'both'],
      [{ tlsMode: 'istio', network: 'n2' }, 'istio'],
      [{ tlsMode: 'istio' }, 'istio'],
      [{ tlsMode: 'disabled' }, undefined],
      [undefined, undefined],
    ];
    for (const [m, want] of table) assert.equal(withCatchAll.forEndpoint(md(m))?.sni, want, JSON.stringify(m));
    const noCatchAll = transport({ transport_socket: tlsSocket('default'), transport_socket_matches: [{ name: 'istio', match: { tlsMode: 'istio' }, transport_socket: tlsSocket('istio') }] });
    assert.equal(noCatchAll.forEndpoint(md({ tlsMode: 'disabled' }))?.sni, 'default');
    assert.equal(noCatchAll.forEndpoint(undefined)?.sni, 'default');
  });

  test('SAN matchers: typed (URI, DNS) and untyped; any SAN matching any matcher passes', () => {
    const sans = 'URI:spiffe://cluster.local/ns/default/sa/reviews, DNS:reviews.default.svc, IP Address:10.0.0.1';
    const table: [EnvoyJson, boolean][] = [
      [{ match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/default/sa/reviews' } }] }, true],
      [{ match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'spiffe://cluster.local/ns/default/sa/reviews' } }] }, false],
      [{ match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { suffix: '.default.svc' } }] }, true],
      [{ match_typed_subject_alt_names: [{ san_type: 'IP_ADDRESS', matcher: { exact: '10.0.0.1' } }] }, true],
      [{ match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://other/' } }, { san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } }] }, true],
      [{ match_subject_alt_names: [{ exact: 'reviews.default.svc' }] }, true],
      [{ match_subject_alt_names: [{ safe_regex: { regex: '.*/sa/ratings' } }] }, false],
    ];
    for (const [vc, ok] of table) {
      const t = transport({ transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': UP_TLS, common_tls_context: { validation_context: { trusted_ca: { inline_string: ca.cert }, ...vc } } } } });
      const ctx = t.forEndpoint(undefined)!;
      const why = ctx.checkPeer({ raw: Buffer.from('x'), subjectaltname: sans } as never, ctx.validation()!);
      assert.equal(why === undefined, ok, JSON.stringify(vc));
    }
  });

  test("node's SAN text is split by type, quoted values included", () => {
    assert.deepEqual(certSans({ subjectaltname: 'DNS:a.example, URI:"spiffe://x/a, b", IP Address:::1' }), [
      { type: 'DNS', value: 'a.example' },
      { type: 'URI', value: 'spiffe://x/a, b' },
      { type: 'IP Address', value: '::1' },
    ]);
  });
});

describe("in-process: the pilot's TLS config compiles in spar proxy", () => {
  test('ISTIO_MUTUAL DestinationRules, PeerAuthentication modes, Gateway TLS modes (SIMPLE, MUTUAL, PASSTHROUGH, AUTO_PASSTHROUGH, httpsRedirect)', async () => {
    const { BOOKINFO, gen, pushFor, sidecarFor, ingressGateway, sample } = await import('../pilot/fixtures/mesh.js');
    const { PEER_AUTHENTICATION, TLS_GATEWAYS } = await import('../pilot/fixtures/features.js');
    const { ClusterManager } = await import('../../src/proxy/cluster/cluster-manager.js');
    const { StatsStore } = await import('../../src/proxy/stats/stats.js');
    const { compileCluster } = await import('../../src/proxy/cluster/cluster.js');
    const { compileListener } = await import('../../src/proxy/listener/listener.js');
    const { compileRouteConfig } = await import('../../src/proxy/router/route-table.js');
    const fixtures = join(import.meta.dirname, '..', 'pilot', 'fixtures');
    const net = (f: string) => sample('bookinfo', 'networking', f);
    const cases: [string, ReturnType<typeof pushFor>, string[], boolean][] = [
      ['ISTIO_MUTUAL', pushFor([BOOKINFO, net('destination-rule-all-mtls.yaml')]), ['productpage-v1', 'reviews-v1'], false],
      ['PeerAuthentication', pushFor([BOOKINFO], [PEER_AUTHENTICATION]), ['productpage-v1', 'reviews-v1', 'ratings-v1'], false],
      ['Gateway TLS', pushFor([BOOKINFO, net('destination-rule-all.yaml'), join(fixtures, 'ingressgateway.yaml'), join(fixtures, 'credential.yaml')], [TLS_GATEWAYS]), [], true],
    ];
    for (const [label, push, sidecars, gateway] of cases) {
      for (const proxy of [...sidecars.map((w) => sidecarFor(push, w)), ...(gateway ? [ingressGateway()] : [])]) {
        const stats = new StatsStore();
        const clusters = new ClusterManager(stats);
        clusters.secrets.staticClusterExists = (n) => n === 'sds-grpc';
        const errs = new ConfigErrors();
        for (const c of gen(proxy, push, TypeUrl.Cluster)) compileCluster(c, errs, clusters.secrets);
        const env = { clusters, routes: new Map(), stats, nodeMetadata: {}, secrets: clusters.secrets };
        for (const l of gen(proxy, push, TypeUrl.Listener)) for (const c of compileListener(l, errs, env as never).chains) c.handler.close();
        for (const r of gen(proxy, push, TypeUrl.RouteConfiguration)) compileRouteConfig(r, errs);
        assert.deepEqual(errs.list, [], `${label}: ${proxy.id}`);
      }
    }
  });
});
