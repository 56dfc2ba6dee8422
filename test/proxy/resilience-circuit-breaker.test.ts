/**
 * Circuit breaking side by side: the same static bootstrap runs in real Envoy 1.40 and in
 * `spar proxy`; each scenario drives concurrent requests through both (one proxy after the other,
 * against the same upstreams) and compares what Envoy documents: how many requests got 200 and how
 * many 503 with flag UO and `x-envoy-overloaded: true`, the access log, and the cluster stats
 * (upstream_cx_overflow, upstream_rq_pending_overflow, upstream_rq_pending_total/_active,
 * circuit_breakers.<priority>.*_open, remaining_*). The upstreams count what reached them, so a
 * request lost or sent twice shows. Timing is only used to order requests (a slow request holds
 * its connection while the next ones arrive), never asserted.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { createServer as createH2Server, type Http2Server } from 'node:http2';
import { freePort } from '../helpers/envoy.js';
import { startProxy, type Envoy, type Json, type ProxyKind } from './helpers/proxies.js';
import { startUpstream, type Upstream } from './helpers/upstreams.js';
import { send, type Reply } from './helpers/client.js';

const KINDS: ProxyKind[] = ['envoy', 'spar'];
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

const dir = mkdtempSync(join(tmpdir(), 'spar-cb-'));
let up: Upstream;
let h2: { server: Http2Server; port: number; requests: number; sessions: number };
const proxies = new Map<ProxyKind, { proxy: Envoy; http: number; tcp: number; log: string; tcpLog: string }>();

function fileLog(path: string, format: Json): Json[] {
  return [{
    name: 'envoy.access_loggers.file',
    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path, log_format: { json_format: format } },
  }];
}

function cluster(name: string, port: number, extra: Json = {}): Json {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
    ...extra,
  };
}

const perConnection = (n: number): Json => ({
  typed_extension_protocol_options: { [HTTP_OPTIONS]: { '@type': `type.googleapis.com/${HTTP_OPTIONS}`, common_http_protocol_options: { max_requests_per_connection: n }, explicit_http_config: { http_protocol_options: {} } } },
});
const http2Upstream: Json = {
  typed_extension_protocol_options: { [HTTP_OPTIONS]: { '@type': `type.googleapis.com/${HTTP_OPTIONS}`, explicit_http_config: { http2_protocol_options: {} } } },
};

function bootstrap(http: number, tcp: number, log: string, tcpLog: string): Json {
  const route = (prefix: string, c: string, extra: Json = {}) => ({ match: { prefix }, route: { cluster: c, prefix_rewrite: '/', timeout: '10s', ...extra } });
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [
        {
          name: 'http',
          address: { socket_address: { address: '127.0.0.1', port_value: http } },
          filter_chains: [{
            filters: [{
              name: 'envoy.filters.network.http_connection_manager',
              typed_config: {
                '@type': HCM,
                stat_prefix: 'http',
                access_log: fileLog(log, { case: '%REQ(X-CASE)%', code: '%RESPONSE_CODE%', flags: '%RESPONSE_FLAGS%', details: '%RESPONSE_CODE_DETAILS%' }),
                route_config: {
                  virtual_hosts: [{
                    name: 'all',
                    domains: ['*'],
                    routes: [
                      route('/cb/', 'cb'),
                      route('/cbhigh/', 'cb', { priority: 'HIGH' }),
                      route('/cbshort/', 'cb', { timeout: '0.3s' }),
                      route('/rq/', 'rq'),
                      route('/h2/', 'h2'),
                      route('/h2perconn/', 'h2perconn'),
                      route('/perconn/', 'perconn'),
                      route('/burst/', 'burst'),
                      route('/retry/', 'retry', { retry_policy: { retry_on: '5xx', num_retries: 1 } }),
                      route('/retryhigh/', 'retry', { priority: 'HIGH', retry_policy: { retry_on: '5xx', num_retries: 1 } }),
                    ],
                  }],
                },
                http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
              },
            }],
          }],
        },
        {
          name: 'tcp',
          address: { socket_address: { address: '127.0.0.1', port_value: tcp } },
          filter_chains: [{
            filters: [{
              name: 'envoy.filters.network.tcp_proxy',
              typed_config: {
                '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
                stat_prefix: 'tcp',
                cluster: 'tcp',
                access_log: fileLog(tcpLog, { flags: '%RESPONSE_FLAGS%', cluster: '%UPSTREAM_CLUSTER%' }),
              },
            }],
          }],
        },
      ],
      clusters: [
        // Istio's DestinationRule maxConnections: 1, http1MaxPendingRequests: 1; HIGH priority roomier.
        cluster('cb', up.port, {
          circuit_breakers: {
            thresholds: [
              { priority: 'DEFAULT', max_connections: 1, max_pending_requests: 1, track_remaining: true },
              { priority: 'HIGH', max_connections: 10, max_pending_requests: 10, track_remaining: true },
            ],
          },
        }),
        cluster('rq', up.port, { circuit_breakers: { thresholds: [{ max_requests: 1 }] } }),
        cluster('h2', h2.port, { circuit_breakers: { thresholds: [{ max_requests: 2 }] }, ...http2Upstream }),
        cluster('perconn', up.port, perConnection(1)),
        cluster('h2perconn', h2.port, {
          typed_extension_protocol_options: {
            [HTTP_OPTIONS]: { '@type': `type.googleapis.com/${HTTP_OPTIONS}`, common_http_protocol_options: { max_requests_per_connection: 2 }, explicit_http_config: { http2_protocol_options: {} } },
          },
        }),
        cluster('burst', up.port, { circuit_breakers: { thresholds: [{ max_connections: 2, max_pending_requests: 2 }] } }),
        // No retry at DEFAULT priority (max_retries 0); HIGH may retry.
        cluster('retry', up.port, { circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_retries: 0 }, { priority: 'HIGH', max_retries: 5 }] } }),
        cluster('tcp', up.port, { circuit_breakers: { thresholds: [{ max_connections: 1 }] } }),
      ],
    },
  };
}

/** An HTTP/2 (h2c) upstream answering /delay/MS after MS ms. */
async function startH2(): Promise<typeof h2> {
  const u = { server: createH2Server(), port: 0, requests: 0, sessions: 0 };
  u.server.on('session', () => u.sessions++);
  u.server.on('stream', (stream, headers) => {
    u.requests++;
    const m = /^\/delay\/(\d+)/.exec(String(headers[':path']));
    const t = setTimeout(() => {
      if (!stream.closed) {
        stream.respond({ ':status': 200, 'content-type': 'text/plain' });
        stream.end('h2 ok');
      }
    }, m ? Number(m[1]) : 0);
    stream.on('close', () => clearTimeout(t));
  });
  await new Promise<void>((r) => u.server.listen(0, '127.0.0.1', () => r()));
  u.port = (u.server.address() as { port: number }).port;
  return u;
}

before(async () => {
  up = await startUpstream('cb-upstream');
  h2 = await startH2();
  await Promise.all(KINDS.map(async (kind) => {
    const http = await freePort(), tcp = await freePort();
    const log = join(dir, `${kind}.log`), tcpLog = join(dir, `${kind}-tcp.log`);
    const proxy = await startProxy(kind, bootstrap(http, tcp, log, tcpLog));
    await proxy.waitReady(30_000);
    proxies.set(kind, { proxy, http, tcp, log, tcpLog });
  }));
});

after(async () => {
  for (const p of proxies.values()) await p.proxy.stop();
  await up?.close();
  h2?.server.close();
  if (!process.env.SPAR_KEEP) rmSync(dir, { recursive: true, force: true });
  else process.stderr.write(`circuit breaker logs kept in ${dir}\n`);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Access log lines by case id (Envoy flushes file logs on /reopen_logs or every second). */
async function logs(kind: ProxyKind, ids: string[], tcp = false): Promise<Json[]> {
  const p = proxies.get(kind)!;
  const path = tcp ? p.tcpLog : p.log;
  const end = Date.now() + 5000;
  for (;;) {
    await p.proxy.admin('/reopen_logs', 'POST');
    const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Json) : [];
    const got = tcp ? lines : lines.filter((l) => ids.includes(String(l.case)));
    if (got.length >= ids.length || Date.now() > end) return got;
    await sleep(100);
  }
}

/** Counter/gauge deltas over `run` for the named cluster stats. */
async function statDelta(kind: ProxyKind, names: string[], run: () => Promise<void>): Promise<Record<string, number>> {
  const proxy = proxies.get(kind)!.proxy;
  const before = await proxy.stats();
  await run();
  const after = await proxy.stats();
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (after[n] ?? NaN) - (before[n] ?? 0);
  return out;
}

const tally = (rs: Reply[]) => {
  const t: Record<number, number> = {};
  for (const r of rs) t[r.status] = (t[r.status] ?? 0) + 1;
  return t;
};

/**
 * Warms the cluster's connection (one request), then sends `n` requests to `path`, `gapMs` apart,
 * so that the first holds the connection while the others arrive.
 */
async function staggered(kind: ProxyKind, prefix: string, path: string, n: number, gapMs = 60, warm = true): Promise<{ replies: Reply[]; ids: string[] }> {
  const port = proxies.get(kind)!.http;
  if (warm) assert.equal((await send(port, { path: `${prefix}/`, headers: { 'x-case': `${kind}-warm-${prefix}` } })).status, 200);
  const ids: string[] = [];
  const ps: Promise<Reply>[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${kind}${prefix.replace(/\//g, '-')}-${i}-${Date.now()}`;
    ids.push(id);
    ps.push(send(port, { path: `${prefix}${path}`, headers: { 'x-case': id } }));
    if (i < n - 1) await sleep(gapMs);
  }
  return { replies: await Promise.all(ps), ids };
}

test('max_connections 1 + max_pending_requests 1 (HTTP/1): second request pending, third 503 UO with x-envoy-overloaded', async () => {
  const seen: Record<string, unknown> = {};
  for (const kind of KINDS) {
    const proxy = proxies.get(kind)!.proxy;
    const upBefore = up.requests;
    let during: Record<string, number> = {};
    let replies: Reply[] = [];
    let ids: string[] = [];
    const names = ['cluster.cb.upstream_rq_pending_overflow', 'cluster.cb.upstream_rq_pending_total', 'cluster.cb.upstream_cx_overflow', 'cluster.cb.upstream_rq_total',
      'cluster.cb.upstream_rq_5xx', 'cluster.cb.upstream_rq_completed', 'cluster.cb.upstream_cx_total'];
    const d = await statDelta(kind, names, async () => {
      const port = proxies.get(kind)!.http;
      assert.equal((await send(port, { path: '/cb/', headers: { 'x-case': `${kind}-warm` } })).status, 200);
      ids = [0, 1, 2].map((i) => `${kind}-cb-${i}`);
      const p0 = send(port, { path: '/cb/delay/2000', headers: { 'x-case': ids[0] } });
      await sleep(250);
      const p1 = send(port, { path: '/cb/delay/10', headers: { 'x-case': ids[1] } });
      await sleep(250);
      const r2 = await send(port, { path: '/cb/delay/10', headers: { 'x-case': ids[2] } });
      // The third came back at once; the first still holds the connection, the second is pending.
      during = await proxy.stats('cluster.cb.');
      replies = [await p0, await p1, r2];
    });
    const log = await logs(kind, ids);
    const byCase = new Map(log.map((l) => [String(l.case), l]));
    const after = await proxy.stats('cluster.cb.');
    seen[kind] = {
      statuses: replies.map((r) => r.status),
      overloaded: replies.map((r) => r.headers['x-envoy-overloaded'] ?? null),
      body503: replies[2].body,
      flags: ids.map((id) => byCase.get(id)?.flags),
      upstreamGot: up.requests - upBefore,
      deltas: d,
      during: {
        cx_open: during['cluster.cb.circuit_breakers.default.cx_open'],
        rq_pending_open: during['cluster.cb.circuit_breakers.default.rq_pending_open'],
        remaining_cx: during['cluster.cb.circuit_breakers.default.remaining_cx'],
        remaining_pending: during['cluster.cb.circuit_breakers.default.remaining_pending'],
        pending_active: during['cluster.cb.upstream_rq_pending_active'],
      },
      afterwards: {
        rq_pending_open: after['cluster.cb.circuit_breakers.default.rq_pending_open'],
        remaining_pending: after['cluster.cb.circuit_breakers.default.remaining_pending'],
        pending_active: after['cluster.cb.upstream_rq_pending_active'],
        high_cx_open: after['cluster.cb.circuit_breakers.high.cx_open'],
        high_remaining_cx: after['cluster.cb.circuit_breakers.high.remaining_cx'],
      },
    };
  }
  const e = seen.envoy as Record<string, unknown>;
  const s = seen.spar as Record<string, unknown>;
  // What Envoy documents, checked on Envoy first (the referee), then the same answer from spar.
  assert.deepEqual(e.statuses, [200, 200, 503], JSON.stringify(e));
  assert.deepEqual(e.overloaded, [null, null, 'true']);
  const ed = e.deltas as Record<string, number>;
  assert.equal(ed['cluster.cb.upstream_rq_pending_overflow'], 1);
  assert.ok(ed['cluster.cb.upstream_cx_overflow'] >= 1);
  // Counters that move a variable number of times in Envoy are compared as "moved / did not move".
  const shape = (x: Record<string, unknown>) => {
    const dd = x.deltas as Record<string, number>;
    return { ...x, deltas: { ...dd, 'cluster.cb.upstream_cx_overflow': dd['cluster.cb.upstream_cx_overflow'] > 0 } };
  };
  assert.deepEqual(shape(s), shape(e));
});

test('route priority HIGH uses the HIGH thresholds (and its own pool)', async () => {
  const seen: Record<string, unknown> = {};
  for (const kind of KINDS) {
    const upBefore = up.requests;
    const d = await statDelta(kind, ['cluster.cb.upstream_rq_pending_overflow'], async () => {
      const { replies } = await staggered(kind, '/cbhigh', '/delay/400', 3, 50);
      seen[kind] = { statuses: tally(replies) };
    });
    // /clusters prints both priorities' thresholds.
    const thresholds = (await proxies.get(kind)!.proxy.admin('/clusters')).split('\n').filter((l) => l.startsWith('cb::') && l.includes('_priority::'));
    seen[kind] = { ...(seen[kind] as object), overflow: d['cluster.cb.upstream_rq_pending_overflow'], upstreamGot: up.requests - upBefore, thresholds };
  }
  assert.deepEqual({ ...(seen.envoy as object), thresholds: undefined }, { statuses: { 200: 3 }, overflow: 0, upstreamGot: 4, thresholds: undefined });
  assert.equal((seen.envoy as { thresholds: string[] }).thresholds.length, 8);
  assert.deepEqual(seen.spar, seen.envoy);
});

test('max_requests 1: the second concurrent request is 503 UO (upstream_rq_active_overflow)', async () => {
  const seen: Record<string, unknown> = {};
  for (const kind of KINDS) {
    const upBefore = up.requests;
    let out: { replies: Reply[]; ids: string[] } = { replies: [], ids: [] };
    const d = await statDelta(kind, ['cluster.rq.upstream_rq_pending_overflow', 'cluster.rq.upstream_rq_active_overflow', 'cluster.rq.upstream_rq_total', 'cluster.rq.upstream_rq_5xx', 'cluster.rq.upstream_rq_completed'], async () => {
      out = await staggered(kind, '/rq', '/delay/1500', 2, 250);
    });
    const log = await logs(kind, out.ids);
    seen[kind] = {
      statuses: out.replies.map((r) => r.status),
      overloaded: out.replies.map((r) => r.headers['x-envoy-overloaded'] ?? null),
      flags: out.ids.map((id) => log.find((l) => l.case === id)?.flags),
      deltas: d,
      upstreamGot: up.requests - upBefore,
    };
  }
  assert.deepEqual((seen.envoy as { statuses: number[] }).statuses, [200, 503]);
  assert.deepEqual(seen.spar, seen.envoy);
});

test('HTTP/2 upstream respects max_requests (streams over the limit are 503 UO)', async () => {
  const seen: Record<string, unknown> = {};
  for (const kind of KINDS) {
    const h2Before = h2.requests;
    let out: { replies: Reply[]; ids: string[] } = { replies: [], ids: [] };
    const d = await statDelta(kind, ['cluster.h2.upstream_rq_active_overflow'], async () => {
      out = await staggered(kind, '/h2', '/delay/1500', 4, 150);
    });
    seen[kind] = {
      statuses: tally(out.replies),
      overloaded: out.replies.filter((r) => r.headers['x-envoy-overloaded'] === 'true').length,
      overflow: d['cluster.h2.upstream_rq_active_overflow'],
      upstreamGot: h2.requests - h2Before,
    };
  }
  assert.deepEqual(seen.envoy, { statuses: { 200: 2, 503: 2 }, overloaded: 2, overflow: 2, upstreamGot: 3 });
  assert.deepEqual(seen.spar, seen.envoy);
});

test('max_requests_per_connection 1: every request on a new upstream connection', async () => {
  const seen: Record<string, unknown> = {};
  for (const kind of KINDS) {
    const port = proxies.get(kind)!.http;
    const upBefore = up.requests;
    const d = await statDelta(kind, ['cluster.perconn.upstream_cx_total', 'cluster.perconn.upstream_rq_total'], async () => {
      for (let i = 0; i < 5; i++) assert.equal((await send(port, { path: '/perconn/' })).status, 200);
    });
    seen[kind] = { deltas: d, upstreamGot: up.requests - upBefore };
  }
  assert.deepEqual(seen.envoy, { deltas: { 'cluster.perconn.upstream_cx_total': 5, 'cluster.perconn.upstream_rq_total': 5 }, upstreamGot: 5 });
  assert.deepEqual(seen.spar, seen.envoy);
});

test('a burst of 20 against max_connections 2 / max_pending_requests 2: nothing lost or duplicated', async (t) => {
  const seen: Record<string, { ok: number; overflow: number; other: number; upstreamGot: number; pendingOverflow: number }> = {};
  for (const kind of KINDS) {
    const port = proxies.get(kind)!.http;
    const upBefore = up.requests;
    let replies: Reply[] = [];
    const d = await statDelta(kind, ['cluster.burst.upstream_rq_pending_overflow'], async () => {
      replies = await Promise.all(Array.from({ length: 20 }, () => send(port, { path: '/burst/delay/100' })));
    });
    await sleep(200);
    const ok = replies.filter((r) => r.status === 200).length;
    const overflow = replies.filter((r) => r.status === 503 && r.headers['x-envoy-overloaded'] === 'true').length;
    seen[kind] = { ok, overflow, other: replies.length - ok - overflow, upstreamGot: up.requests - upBefore, pendingOverflow: d['cluster.burst.upstream_rq_pending_overflow'] };
    t.diagnostic(`${kind}: ${ok} x 200, ${overflow} x 503 UO of 20 (upstream got ${up.requests - upBefore})`);
  }
  for (const kind of KINDS) {
    const v = seen[kind];
    assert.equal(v.other, 0, `${kind}: ${JSON.stringify(v)}`);
    assert.equal(v.upstreamGot, v.ok, `${kind}: every 200 reached the upstream once, no 503 did`);
    assert.equal(v.pendingOverflow, v.overflow, `${kind}: one overflow counted per 503`);
    assert.ok(v.overflow > 0 && v.ok >= 2, `${kind}: ${JSON.stringify(v)}`);
  }
  // Same order of magnitude (the exact split depends on arrival timing).
  assert.ok(Math.abs(seen.spar.ok - seen.envoy.ok) <= 8, JSON.stringify(seen));
});

test('tcp_proxy max_connections 1: a second connection is closed, flag UO, upstream_cx_overflow', async () => {
  const seen: Record<string, unknown> = {};
  for (const kind of KINDS) {
    const { tcp, proxy } = proxies.get(kind)!;
    const before = await proxy.stats('cluster.tcp.');
    const open = (): Promise<Socket> => new Promise((resolve, reject) => {
      const s = connect(tcp, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
    const closed = (s: Socket, ms: number) => new Promise<boolean>((resolve) => {
      if (s.destroyed) return resolve(true);
      const t = setTimeout(() => resolve(false), ms);
      s.once('close', () => {
        clearTimeout(t);
        resolve(true);
      });
      s.resume();
    });
    const first = await open();
    first.on('error', () => {});
    // An HTTP request through the first connection proves it reached the upstream.
    first.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    const answer = await new Promise<string>((r) => first.once('data', (b: Buffer) => r(b.toString('latin1'))));
    const second = await open();
    second.on('error', () => {});
    const secondClosed = await closed(second, 3000);
    const firstAlive = !first.destroyed;
    first.destroy();
    await sleep(300);
    const after = await proxy.stats('cluster.tcp.');
    const log = await logs(kind, ['x', 'y'], true);
    seen[kind] = {
      firstAnswered: answer.startsWith('HTTP/1.1 200'),
      secondClosed,
      firstAlive,
      cxOverflow: after['cluster.tcp.upstream_cx_overflow'] - (before['cluster.tcp.upstream_cx_overflow'] ?? 0),
      flags: log.map((l) => l.flags).sort(),
    };
  }
  assert.deepEqual(seen.envoy, { firstAnswered: true, secondClosed: true, firstAlive: true, cxOverflow: 1, flags: ['-', 'UO'] });
  assert.deepEqual(seen.spar, seen.envoy);
});

test('max_retries per priority: DEFAULT (0) overflows — UO, upstream_rq_retry_overflow; HIGH retries — URX', async () => {
  const seen: Record<string, unknown> = {};
  for (const kind of KINDS) {
    const port = proxies.get(kind)!.http;
    const out: Record<string, unknown> = {};
    for (const prefix of ['/retry', '/retryhigh']) {
      const upBefore = up.requests;
      const id = `${kind}${prefix.replace('/', '-')}-${Date.now()}`;
      let r: Reply | undefined;
      const d = await statDelta(kind, ['cluster.retry.upstream_rq_retry', 'cluster.retry.upstream_rq_retry_overflow'], async () => {
        r = await send(port, { path: `${prefix}/status/503`, headers: { 'x-case': id } });
      });
      const log = await logs(kind, [id]);
      out[prefix] = { status: r!.status, overloaded: r!.headers['x-envoy-overloaded'] ?? null, flags: log[0]?.flags, deltas: d, upstreamGot: up.requests - upBefore };
    }
    seen[kind] = out;
  }
  assert.deepEqual(seen.envoy, {
    '/retry': { status: 503, overloaded: null, flags: 'UO', deltas: { 'cluster.retry.upstream_rq_retry': 0, 'cluster.retry.upstream_rq_retry_overflow': 1 }, upstreamGot: 1 },
    '/retryhigh': { status: 503, overloaded: null, flags: 'URX', deltas: { 'cluster.retry.upstream_rq_retry': 1, 'cluster.retry.upstream_rq_retry_overflow': 0 }, upstreamGot: 2 },
  });
  assert.deepEqual(seen.spar, seen.envoy);
});

test('a pending request that times out (504 UT) or whose client goes away leaves the queue (both upstream_rq_cancelled)', async () => {
  const seen: Record<string, unknown> = {};
  for (const kind of KINDS) {
    const { http: port, proxy } = proxies.get(kind)!;
    assert.equal((await send(port, { path: '/cb/', headers: { 'x-case': `${kind}-warm2` } })).status, 200);
    const upBefore = up.requests;
    const ids = [`${kind}-hold-${Date.now()}`, `${kind}-timeout-${Date.now()}`];
    let timedOut: Reply | undefined;
    let during: Record<string, number> = {};
    const d = await statDelta(kind, ['cluster.cb.upstream_rq_cancelled', 'cluster.cb.upstream_rq_timeout', 'cluster.cb.upstream_rq_pending_total', 'cluster.cb.upstream_rq_pending_overflow'], async () => {
      const hold = send(port, { path: '/cb/delay/2500', headers: { 'x-case': ids[0] } });
      await sleep(250);
      // Pending behind the held connection, then the route timeout (0.3 s) ends it.
      timedOut = await send(port, { path: '/cbshort/delay/10', headers: { 'x-case': ids[1] } });
      // Pending again; the client gives up after 200 ms.
      await send(port, { path: '/cb/delay/10', timeoutMs: 200 }).catch(() => undefined);
      await sleep(200);
      during = await proxy.stats('cluster.cb.');
      assert.equal((await hold).status, 200);
    });
    await sleep(100);
    const log = await logs(kind, ids);
    seen[kind] = {
      timedOut: { status: timedOut!.status, body: timedOut!.body, flags: log.find((l) => l.case === ids[1])?.flags },
      deltas: d,
      pendingActiveAfterwards: during['cluster.cb.upstream_rq_pending_active'],
      remainingPending: during['cluster.cb.circuit_breakers.default.remaining_pending'],
      upstreamGot: up.requests - upBefore,
    };
  }
  assert.deepEqual(seen.envoy, {
    timedOut: { status: 504, body: 'upstream request timeout', flags: 'UT' },
    deltas: { 'cluster.cb.upstream_rq_cancelled': 2, 'cluster.cb.upstream_rq_timeout': 1, 'cluster.cb.upstream_rq_pending_total': 2, 'cluster.cb.upstream_rq_pending_overflow': 0 },
    pendingActiveAfterwards: 0,
    remainingPending: 1,
    upstreamGot: 1,
  });
  assert.deepEqual(seen.spar, seen.envoy);
});

test('HTTP/2 upstream: max_requests_per_connection 2 — five requests use three connections', async () => {
  const seen: Record<string, unknown> = {};
  for (const kind of KINDS) {
    const port = proxies.get(kind)!.http;
    const before = { requests: h2.requests, sessions: h2.sessions };
    const d = await statDelta(kind, ['cluster.h2perconn.upstream_cx_total', 'cluster.h2perconn.upstream_rq_total'], async () => {
      for (let i = 0; i < 5; i++) {
        const r = await send(port, { path: '/h2perconn/delay/1' });
        assert.equal(r.status, 200, `${kind} request ${i}: ${r.body}`);
      }
    });
    seen[kind] = { deltas: d, upstreamRequests: h2.requests - before.requests, upstreamSessions: h2.sessions - before.sessions };
  }
  assert.deepEqual(seen.envoy, { deltas: { 'cluster.h2perconn.upstream_cx_total': 3, 'cluster.h2perconn.upstream_rq_total': 5 }, upstreamRequests: 5, upstreamSessions: 3 });
  assert.deepEqual(seen.spar, seen.envoy);
});
