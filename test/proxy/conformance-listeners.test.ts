/**
 * Conformance by difference for listeners: filter chain selection with tls_inspector (SNI exact
 * and wildcard, ALPN, transport_protocol) and http_inspector (HTTP/1.1 vs h2c), source prefix
 * ranges and the default chain — the same bootstrap in Envoy 1.40 and `spar proxy`, each chain a
 * tcp_proxy to a TCP upstream that announces its name, so the chosen chain is visible.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { freePort } from '../helpers/envoy.js';
import { startProxy, type Envoy, type ProxyKind, type Json } from './helpers/proxies.js';

const KINDS: ProxyKind[] = ['envoy', 'spar'];
const NAMES = ['sni-exact', 'sni-wild', 'sni-longer-wild', 'tls-h2', 'tls-any', 'http1', 'h2c', 'src-local', 'default'];
const servers: Server[] = [];
const upstreamSockets = new Set<import('node:net').Socket>();
const upPorts: Record<string, number> = {};
const proxies = new Map<ProxyKind, { proxy: Envoy; port: number; port2: number }>();

function tcp(name: string): Json {
  return { filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: name, cluster: name } }] };
}

function bootstrap(port: number, port2: number): Json {
  const LF = [
    { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } },
    { name: 'envoy.filters.listener.http_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector' } },
  ];
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [{
        name: 'sniff', address: { socket_address: { address: '127.0.0.1', port_value: port } },
        listener_filters: LF,
        listener_filters_timeout: '1s',
        continue_on_listener_filters_timeout: true,
        filter_chains: [
          { name: 'sni-exact', filter_chain_match: { server_names: ['a.example.com'], transport_protocol: 'tls' }, ...tcp('sni-exact') },
          { name: 'sni-wild', filter_chain_match: { server_names: ['*.example.com'], transport_protocol: 'tls' }, ...tcp('sni-wild') },
          { name: 'sni-longer-wild', filter_chain_match: { server_names: ['*.b.example.com'], transport_protocol: 'tls' }, ...tcp('sni-longer-wild') },
          { name: 'tls-h2', filter_chain_match: { transport_protocol: 'tls', application_protocols: ['h2'] }, ...tcp('tls-h2') },
          { name: 'tls-any', filter_chain_match: { transport_protocol: 'tls' }, ...tcp('tls-any') },
          { name: 'http1', filter_chain_match: { application_protocols: ['http/1.1'] }, ...tcp('http1') },
          { name: 'h2c', filter_chain_match: { application_protocols: ['h2c'] }, ...tcp('h2c') },
        ],
        default_filter_chain: { name: 'default', ...tcp('default') },
      }, {
        name: 'sources', address: { socket_address: { address: '127.0.0.1', port_value: port2 } },
        filter_chains: [
          { name: 'src-local', filter_chain_match: { source_prefix_ranges: [{ address_prefix: '127.0.0.0', prefix_len: 8 }] }, ...tcp('src-local') },
          { name: 'default', filter_chain_match: { source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] }, ...tcp('default') },
        ],
      }],
      clusters: NAMES.map((n) => ({ name: n, type: 'STATIC', connect_timeout: '0.5s', load_assignment: { cluster_name: n, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upPorts[n] } } } }] }] } })),
    },
  };
}

before(async () => {
  for (const n of NAMES) {
    // Each upstream answers with its name as soon as a connection opens (then closes).
    const s = createServer((c) => {
      upstreamSockets.add(c);
      c.on('close', () => upstreamSockets.delete(c));
      c.on('error', () => {});
      c.end(`${n}\n`);
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    upPorts[n] = (s.address() as { port: number }).port;
    servers.push(s);
  }
  await Promise.all(KINDS.map(async (kind) => {
    const port = await freePort();
    const port2 = await freePort();
    const proxy = await startProxy(kind, bootstrap(port, port2));
    await proxy.waitReady(30_000);
    proxies.set(kind, { proxy, port, port2 });
  }));
});

after(async () => {
  for (const p of proxies.values()) await p.proxy.stop();
  for (const c of upstreamSockets) c.destroy();
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
});

/** Opens a connection, sends `first`, returns the upstream's name (or '' if closed without one). */
function chosen(port: number, first: (s: ReturnType<typeof connect>) => void): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString('latin1')));
    s.on('close', () => resolve(out.split('\n')[0]));
    s.on('error', () => {});
    s.on('connect', () => first(s));
    setTimeout(() => s.destroy(), 3000);
  });
}

/** A real TLS ClientHello (with SNI and ALPN) captured from node:tls. */
async function clientHello(servername: string | undefined, alpn: string[] | undefined): Promise<Buffer> {
  return new Promise((resolve) => {
    const srv = createServer((c) => c.once('data', (d: Buffer) => { resolve(d); c.destroy(); srv.close(); }));
    srv.listen(0, '127.0.0.1', () => {
      const t = tlsConnect({ host: '127.0.0.1', port: (srv.address() as { port: number }).port, servername, ALPNProtocols: alpn, rejectUnauthorized: false });
      t.on('error', () => {});
    });
  });
}

test('filter chain selection agrees with Envoy (SNI, ALPN, transport, HTTP sniffing, default)', async () => {
  const cases: [string, () => Promise<Buffer | string>][] = [
    ['sni a.example.com', () => clientHello('a.example.com', undefined)],
    ['sni x.example.com', () => clientHello('x.example.com', undefined)],
    ['sni x.b.example.com', () => clientHello('x.b.example.com', undefined)],
    ['sni A.EXAMPLE.COM', () => clientHello('A.EXAMPLE.COM', undefined)],
    ['sni other.org alpn h2', () => clientHello('other.org', ['h2', 'http/1.1'])],
    ['sni other.org alpn http/1.1', () => clientHello('other.org', ['http/1.1'])],
    ['tls without sni', () => clientHello(undefined, undefined)],
    ['http/1.1 request', async () => 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['http/1.0 request', async () => 'GET / HTTP/1.0\r\n\r\n'],
    ['h2c preface', async () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['raw bytes', async () => 'hello there\r\n'],
  ];
  const diffs: string[] = [];
  for (const [label, make] of cases) {
    const bytes = await make();
    const got: Record<string, string> = {};
    for (const kind of KINDS) got[kind] = await chosen(proxies.get(kind)!.port, (s) => s.write(bytes));
    if (got.envoy !== got.spar) diffs.push(`${label}: envoy=${got.envoy} spar=${got.spar}`);
  }
  for (const kind of KINDS) {
    const r = await chosen(proxies.get(kind)!.port2, () => {});
    if (kind === 'spar' && r !== (await chosen(proxies.get('envoy')!.port2, () => {}))) diffs.push(`source prefix: spar=${r}`);
  }
  assert.deepEqual(diffs, []);
});
