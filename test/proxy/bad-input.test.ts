/**
 * Hostile and broken input, sent to real Envoy 1.40 and to `spar proxy` with the conformance
 * bootstrap: request smuggling attempts (CL+TE, duplicate CL, obs-fold, bad chunk sizes), malformed
 * request lines and headers, oversized and too many headers, slow clients, half-closed TCP,
 * upstream reset mid-body, client gone mid-request. Each must give Envoy's status (or Envoy's
 * close), leave the proxy serving, and leak no connections.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/envoy.js';
import { startProxy, type Envoy, type ProxyKind } from './helpers/proxies.js';
import { startUpstream, type Upstream } from './helpers/upstreams.js';
import { firstStatus, raw, send } from './helpers/client.js';
import { conformanceBootstrap, type Ports } from './conformance/bootstrap.js';

const dir = mkdtempSync(join(tmpdir(), 'spar-bad-'));
const ups: Upstream[] = [];
const proxies = new Map<ProxyKind, { proxy: Envoy; ports: Ports; log: string }>();
const KINDS: ProxyKind[] = ['envoy', 'spar'];

before(async () => {
  for (const n of ['a', 'b', 'c']) ups.push(await startUpstream(n));
  const refused = await freePort();
  await Promise.all(KINDS.map(async (kind) => {
    const ports: Ports = { main: await freePort(), edge: await freePort(), small: await freePort(), tcp: await freePort(), upstreams: { a: ups[0].port, b: ups[1].port, c: ups[2].port }, refused };
    const log = join(dir, `${kind}.log`);
    const proxy = await startProxy(kind, conformanceBootstrap(ports, log));
    await proxy.waitReady(30_000);
    proxies.set(kind, { proxy, ports, log });
  }));
});

after(async () => {
  for (const p of proxies.values()) await p.proxy.stop();
  for (const u of ups) await u.close();
  rmSync(dir, { recursive: true, force: true });
});

const H = 'Host: any.test\r\n';
const RAW: [string, string][] = [
  ['CL and TE together', `POST /post HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['two different Content-Length', `POST /post HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`],
  ['Content-Length not a number', `POST /post HTTP/1.1\r\n${H}Content-Length: 5x\r\n\r\nhello`],
  ['negative Content-Length', `POST /post HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`],
  ['obs-fold header', `GET / HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n`],
  ['bad chunk size', `POST /post HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`],
  ['chunk size overflow', `POST /post HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n`],
  ['TE not ending in chunked', `POST /post HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`],
  ['TE identity', `POST /post HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n`],
  ['space before colon', `GET / HTTP/1.1\r\nHost : any.test\r\n\r\n`],
  ['NUL in header value', `GET / HTTP/1.1\r\n${H}X-Bad: a\u0000b\r\n\r\n`],
  ['bare LF line endings', `GET / HTTP/1.1\n${H.trim()}\n\n`],
  ['bad HTTP version', `GET / HTTP/9.9\r\n${H}\r\n`],
  ['garbage request line', `HELLO\r\n\r\n`],
  ['lowercase method', `get / HTTP/1.1\r\n${H}\r\n`],
  ['absolute-form URI', `GET http://any.test/abs HTTP/1.1\r\n${H}\r\n`],
  ['no Host header', `GET / HTTP/1.1\r\n\r\n`],
  ['two Host headers', `GET / HTTP/1.1\r\n${H}Host: other.test\r\n\r\n`],
  ['header name with space', `GET / HTTP/1.1\r\n${H}Bad Name: x\r\n\r\n`],
  ['fragment in path', `GET /a#frag HTTP/1.1\r\n${H}\r\n`],
  ['CONNECT', `CONNECT any.test:443 HTTP/1.1\r\n${H}\r\n`],
  ['too many headers', `GET / HTTP/1.1\r\n${H}${Array.from({ length: 120 }, (_, i) => `X-H${i}: ${i}\r\n`).join('')}\r\n`],
];

/** Where Node's llhttp parser is stricter than Envoy's: rejected with 400 instead of accepted. */
const KNOWN: Record<string, { spar: number; why: string }> = {
  'obs-fold header': { spar: 400, why: 'llhttp rejects obs-fold (RFC 9112 allows rejecting it); Envoy unfolds it' },
  'bare LF line endings': { spar: 400, why: 'llhttp requires CRLF; Envoy accepts bare LF' },
};

test('malformed requests get Envoy\'s status and the proxy keeps serving', { timeout: 90_000 }, async () => {
  const diffs: string[] = [];
  for (const [label, bytes] of RAW) {
    const got: Record<string, number> = {};
    for (const kind of KINDS) {
      const text = await raw(proxies.get(kind)!.ports.main, bytes, 400);
      got[kind] = firstStatus(text);
    }
    if (got.envoy !== got.spar && !(KNOWN[label] && got.spar === KNOWN[label].spar)) diffs.push(`${label}: envoy=${got.envoy} spar=${got.spar}`);
    const after = await send(proxies.get('spar')!.ports.main, { path: '/', headers: { host: 'any.test' } });
    assert.equal(after.status, 200, `spar serves after "${label}"`);
  }
  process.stderr.write(`bad input: ${RAW.length} malformed requests, ${RAW.length - diffs.length - Object.keys(KNOWN).length} with Envoy's status, ${Object.keys(KNOWN).length} known (stricter)\n${diffs.join('\n')}\n`);
  assert.deepEqual(diffs, []);
});

test('request smuggling: a CL+TE request never reaches the upstream as two requests', async () => {
  const before = ups[2].requests;
  for (const kind of KINDS) {
    await raw(proxies.get(kind)!.ports.main, `POST /post HTTP/1.1\r\n${H}Content-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: any.test\r\n\r\n`, 400);
  }
  assert.equal(ups[2].requests - before, 0, 'nothing forwarded for the ambiguous request');
});

test('oversized headers: 431 as Envoy (max_request_headers_kb), then served again', async () => {
  for (const kind of KINDS) {
    const p = proxies.get(kind)!;
    const r = await raw(p.ports.small, `GET / HTTP/1.1\r\nHost: small.test\r\nX-Big: ${'x'.repeat(9000)}\r\n\r\n`);
    assert.equal(firstStatus(r), 431, kind);
    assert.equal((await send(p.ports.small, { path: '/', headers: { host: 'small.test' } })).status, 200, kind);
  }
});

test('a slow client (headers dribbled over a second) is served', async () => {
  for (const kind of KINDS) {
    const port = proxies.get(kind)!.ports.main;
    const text = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1');
      const parts = ['GET /exact HT', 'TP/1.1\r\nHo', 'st: any.test\r\nX-Slow: 1\r\n', '\r\n'];
      let out = '';
      s.on('data', (c) => { out += c.toString(); if (out.includes('"upstream"')) { s.destroy(); resolve(out); } });
      s.on('close', () => resolve(out));
      let i = 0;
      const next = () => { s.write(parts[i++]); if (i < parts.length) setTimeout(next, 300); };
      s.on('connect', next);
    });
    assert.equal(firstStatus(text), 200, kind);
  }
});

test('tcp_proxy: a half-closed client still gets the whole response', async () => {
  for (const kind of KINDS) {
    const port = proxies.get(kind)!.ports.tcp;
    const text = await new Promise<string>((resolve) => {
      const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      let out = '';
      s.on('data', (c) => (out += c.toString()));
      s.on('end', () => { s.end(); resolve(out); });
      s.on('error', () => resolve(out));
      s.on('connect', () => s.end('GET /half HTTP/1.1\r\nHost: tcp.test\r\nConnection: close\r\n\r\n'));
    });
    assert.equal(firstStatus(text), 200, kind);
    assert.match(text, /"upstream":"a"/, kind);
  }
});

test('upstream reset mid-body: the client sees a truncated response, flag UPE as Envoy, next request fine', async () => {
  for (const kind of KINDS) {
    const p = proxies.get(kind)!;
    const text = await raw(p.ports.main, `GET /reset-mid HTTP/1.1\r\n${H}X-Case: reset-mid\r\n\r\n`, 1000);
    assert.equal(firstStatus(text), 200, kind);
    assert.ok(!text.includes('\r\n0\r\n\r\n'), `${kind}: response not completed`);
    assert.equal((await send(p.ports.main, { path: '/', headers: { host: 'any.test' } })).status, 200, kind);
  }
  await proxies.get('envoy')!.proxy.admin('/reopen_logs', 'POST');
  await new Promise((r) => setTimeout(r, 1200));
  const flags = (kind: ProxyKind) => readFileSync(proxies.get(kind)!.log, 'utf8').split('\n').filter((l) => l.includes('"reset-mid"')).map((l) => (JSON.parse(l) as { flags: string }).flags);
  assert.deepEqual(flags('spar'), flags('envoy'));
});

test('client gone mid-request: flag DC, code 0 (as Envoy), and no connection left behind', async () => {
  for (const kind of KINDS) {
    const p = proxies.get(kind)!;
    await new Promise<void>((resolve) => {
      const s = connect(p.ports.main, '127.0.0.1', () => s.write(`GET /delay/800 HTTP/1.1\r\n${H}X-Case: gone-${kind}\r\n\r\n`));
      setTimeout(() => { s.destroy(); resolve(); }, 150);
    });
  }
  await new Promise((r) => setTimeout(r, 1200));
  await proxies.get('envoy')!.proxy.admin('/reopen_logs', 'POST');
  await new Promise((r) => setTimeout(r, 300));
  for (const kind of KINDS) {
    const line = readFileSync(proxies.get(kind)!.log, 'utf8').split('\n').find((l) => l.includes(`"gone-${kind}"`));
    assert.ok(line, `${kind} logged the request`);
    const j = JSON.parse(line) as { code: number; flags: string };
    assert.equal(j.code, 0, kind);
    assert.equal(j.flags, 'DC', kind);
  }
  const spar = proxies.get('spar')!.proxy;
  const s = await spar.stats('http.main.downstream');
  assert.equal(s['http.main.downstream_rq_active'], 0, 'no request left active');
  const c = await spar.stats('cluster.a.upstream_rq_active');
  assert.equal(c['cluster.a.upstream_rq_active'], 0, 'no upstream request left active');
});
