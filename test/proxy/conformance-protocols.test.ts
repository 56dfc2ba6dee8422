/**
 * Conformance by difference for protocols: HTTP/2 with prior knowledge and HTTP/1.1 on one AUTO
 * port, gRPC over an HTTP/2 upstream (success, error status, local reply as grpc-status),
 * WebSocket upgrades (allowed by upgrade_configs, 403 otherwise) — the same bootstrap in Envoy 1.40
 * and `spar proxy`, answers compared.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as h2connect } from 'node:http2';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { Client, Server as GrpcServer, ServerCredentials, credentials, Metadata, status as GrpcStatus, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { freePort } from '../helpers/envoy.js';
import { startProxy, type Envoy, type ProxyKind, type Json } from './helpers/proxies.js';
import { startUpstream, type Upstream, type Echo } from './helpers/upstreams.js';
import { send } from './helpers/client.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const KINDS: ProxyKind[] = ['envoy', 'spar'];
const proxies = new Map<ProxyKind, { proxy: Envoy; port: number }>();
let up: Upstream;
let ws: Server;
let wsPort = 0;
const upgraded = new Set<import('node:stream').Duplex>();
let grpc: GrpcServer;
let grpcPort = 0;

const ident = (b: Buffer) => b;
const SAY = { path: '/test.Echo/Say', requestStream: false, responseStream: false, requestSerialize: ident, requestDeserialize: ident, responseSerialize: ident, responseDeserialize: ident };

function st(name: string, port: number, extra: Json = {}): Json {
  return { name, type: 'STATIC', connect_timeout: '0.5s', load_assignment: { cluster_name: name, endpoints: port ? [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] : [] }, ...extra };
}

function bootstrap(port: number): Json {
  const h2 = { typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } } };
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [{
        name: 'auto', address: { socket_address: { address: '127.0.0.1', port_value: port } },
        filter_chains: [{ filters: [{ name: 'hcm', typed_config: {
          '@type': HCM, stat_prefix: 'auto', codec_type: 'AUTO',
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
          route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [
            { match: { prefix: '/test.Echo/' }, route: { cluster: 'grpc' } },
            { match: { prefix: '/nogrpc.Echo/' }, route: { cluster: 'empty' } },
            { match: { prefix: '/ws-ok' }, route: { cluster: 'ws', upgrade_configs: [{ upgrade_type: 'websocket' }] } },
            { match: { prefix: '/ws-no' }, route: { cluster: 'ws' } },
            { match: { prefix: '/direct' }, direct_response: { status: 201, body: { inline_string: 'direct' } } },
            { match: { prefix: '/only-here' }, route: { cluster: 'a' } },
            { match: { prefix: '/a' }, route: { cluster: 'a' } },
          ] }] },
        } }] }],
      }],
      clusters: [st('a', up.port), st('ws', wsPort), st('grpc', grpcPort, h2), st('empty', 0, h2)],
    },
  };
}

before(async () => {
  up = await startUpstream('a');
  ws = createServer((_q, r) => r.end('not upgraded'));
  ws.on('upgrade', (req, socket) => {
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nx-path: ${req.url}\r\n\r\n`);
    socket.on('data', (d: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
  });
  await new Promise<void>((r) => ws.listen(0, '127.0.0.1', () => r()));
  wsPort = (ws.address() as { port: number }).port;
  grpc = new GrpcServer();
  grpc.addService({ Say: SAY } as never, {
    Say: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
      const text = call.request.toString();
      if (text === 'fail') return cb({ code: GrpcStatus.NOT_FOUND, details: 'no such thing' });
      const md = new Metadata();
      md.set('x-from', 'grpc');
      call.sendMetadata(md);
      cb(null, Buffer.from(`hi ${text}`));
    },
  } as never);
  grpcPort = await new Promise<number>((res, rej) => grpc.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  await Promise.all(KINDS.map(async (kind) => {
    const port = await freePort();
    const proxy = await startProxy(kind, bootstrap(port));
    await proxy.waitReady(30_000);
    proxies.set(kind, { proxy, port });
  }));
});

after(async () => {
  for (const p of proxies.values()) await p.proxy.stop();
  await up.close();
  ws.closeAllConnections();
  for (const s of upgraded) s.destroy();
  await new Promise<void>((r) => ws.close(() => r()));
  grpc.forceShutdown();
});

function h2get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const s = h2connect(`http://127.0.0.1:${port}`);
    s.on('error', reject);
    const rq = s.request({ ':path': path, ':authority': 'h2.test', ...headers });
    let status = 0;
    let hs: Record<string, unknown> = {};
    const chunks: Buffer[] = [];
    rq.on('response', (h) => { status = Number(h[':status']); hs = h; });
    rq.on('data', (c: Buffer) => chunks.push(c));
    rq.on('end', () => { s.close(); resolve({ status, headers: hs, body: Buffer.concat(chunks).toString() }); });
    rq.on('error', reject);
    rq.end();
  });
}

function grpcCall(port: number, method: string, text: string): Promise<{ code: number; details: string; reply?: string; from?: unknown }> {
  return new Promise((resolve) => {
    const c = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    let from: unknown;
    const call = c.makeUnaryRequest(method, ident, ident, Buffer.from(text), (err, reply) => {
      c.close();
      resolve(err ? { code: err.code ?? -1, details: err.details ?? '', from } : { code: 0, details: '', reply: reply?.toString(), from });
    });
    call.on('metadata', (md: Metadata) => (from = md.get('x-from')[0]));
  });
}

function wsUpgrade(port: number, path: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(`GET ${path} HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`));
    let out = '';
    s.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\r\n\r\n') && out.startsWith('HTTP/1.1 101') && !out.includes('echo:')) s.write('ping');
      if (out.includes('echo:ping')) s.destroy();
    });
    s.on('close', () => resolve(out));
    setTimeout(() => s.destroy(), 2000);
  });
}

async function both<T>(f: (port: number) => Promise<T>): Promise<Record<ProxyKind, T>> {
  const out = {} as Record<ProxyKind, T>;
  for (const k of KINDS) out[k] = await f(proxies.get(k)!.port);
  return out;
}

test('HTTP/2 prior knowledge and HTTP/1.1 on one AUTO port', async () => {
  const r = await both(async (port) => {
    const a = await h2get(port, '/a/x');
    const echo = JSON.parse(a.body) as Echo;
    const d = await h2get(port, '/direct');
    const nr = await h2get(port, '/nothing');
    const h1 = await send(port, { path: '/a/h1', headers: { host: 'h1.test' } });
    return { status: a.status, upstream: echo.upstream, host: echo.headers.host, xfp: echo.headers['x-forwarded-proto'], te: echo.headers.te, direct: [d.status, d.body], nr: nr.status, h1: [h1.status, (JSON.parse(h1.body) as Echo).upstream] };
  });
  assert.deepEqual(r.spar, r.envoy);
});

test('gRPC over an HTTP/2 upstream: OK, server error status, and local reply as grpc-status', async () => {
  const r = await both(async (port) => ({
    ok: await grpcCall(port, '/test.Echo/Say', 'there'),
    err: await grpcCall(port, '/test.Echo/Say', 'fail'),
    uh: await grpcCall(port, '/nogrpc.Echo/Say', 'x'),
  }));
  assert.equal(r.envoy.ok.reply, 'hi there');
  assert.deepEqual(r.spar, r.envoy);
});

test('WebSocket: upgrade allowed by the route\'s upgrade_configs, Envoy\'s 403 otherwise', async () => {
  const r = await both(async (port) => {
    const ok = await wsUpgrade(port, '/ws-ok');
    const no = await wsUpgrade(port, '/ws-no');
    return { ok: [ok.slice(0, 12), ok.includes('echo:ping'), /x-path: \/ws-ok/.test(ok)], no: no.slice(0, 12) };
  });
  assert.deepEqual(r.spar, r.envoy);
  assert.equal(r.envoy.ok[1], true);
});

test('spar proxy-config prints the same tables for Envoy and spar proxy (clusters, listeners, routes, endpoints)', async () => {
  const { runSpar } = await import('../helpers/cli.js');
  for (const kind of ['clusters', 'listeners', 'routes', 'endpoints']) {
    const out: Record<string, string> = {};
    for (const k of KINDS) {
      const r = await runSpar(['proxy-config', kind, proxies.get(k)!.proxy.adminUrl]);
      assert.equal(r.code, 0, `${k} ${kind}: ${r.stderr}`);
      out[k] = r.stdout.replace(new RegExp(String(proxies.get(k)!.port), 'g'), 'PORT');
    }
    assert.equal(out.spar, out.envoy, kind);
    assert.ok(out.spar.split('\n').length > 2, `${kind} has rows:\n${out.spar}`);
  }
});
