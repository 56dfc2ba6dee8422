/**
 * Rate limiting by difference: the same static bootstrap in real Envoy 1.40 and in `spar proxy`.
 *   local — envoy.filters.http.local_ratelimit: token buckets (filter-wide, per route, per
 *           descriptor from route rate_limits actions, per downstream connection), filter_enabled /
 *           filter_enforced, status, response_headers_to_add, request_headers_to_add_when_not_enforced,
 *           x-ratelimit-* headers; compared: status sequences, bodies, headers, access log flags, stats.
 *   global — envoy.filters.http.ratelimit against a small RLS (helpers/rls-server.ts) counting per
 *           descriptor: over / under limit, the descriptors each proxy sends, failure_mode_deny with
 *           the RLS down, x-envoy-ratelimited, RL / RLSE flags, stats.
 * Buckets refill once a minute or slower, so no count depends on timing; fractions get wide bounds.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/envoy.js';
import { startProxy, type Envoy, type Json, type ProxyKind } from './helpers/proxies.js';
import { startUpstream, type Upstream, type Echo } from './helpers/upstreams.js';
import { send, type Reply } from './helpers/client.js';
import { readJsonLog } from './helpers/access-log.js';
import { RlsServer, type RlsRequest } from './helpers/rls-server.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const LRL = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
const RL = 'type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit';
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
const KINDS: ProxyKind[] = ['envoy', 'spar'];
const ALL = { runtime_key: 'rl.enabled', default_value: { numerator: 100 } };

function cluster(name: string, port: number, extra: Json = {}): Json {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '0.5s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
    ...extra,
  };
}

const bucket = (max: number, interval = '60s', perFill = 1): Json => ({ max_tokens: max, tokens_per_fill: perFill, fill_interval: interval });
const local = (prefix: string, c: Json): Json => ({ typed_per_filter_config: { 'envoy.filters.http.local_ratelimit': { '@type': LRL, stat_prefix: prefix, ...c } } });
const r = (name: string, prefix: string, action: Json = {}, extra: Json = {}): Json => ({ name, match: { prefix }, route: { cluster: 'a', ...action }, ...extra });

function localRoutes(): Json[] {
  return [
    r('basic', '/basic', {}, { response_headers_to_add: [{ header: { key: 'x-route-resp', value: 'route' } }], ...local('basic', { token_bucket: bucket(3), filter_enabled: ALL, filter_enforced: ALL, enable_x_ratelimit_headers: 'DRAFT_VERSION_03', response_headers_to_add: [{ header: { key: 'x-rl', value: 'yes' } }] }) }),
    r('status', '/status', {}, local('status', { status: { code: 'ServiceUnavailable' }, token_bucket: bucket(1), filter_enabled: ALL, filter_enforced: ALL })),
    r('status-low', '/lowstatus', {}, local('lowstatus', { status: { code: 'OK' }, token_bucket: bucket(1), filter_enabled: ALL, filter_enforced: ALL })),
    r('not-enforced', '/notenforced', {}, local('notenforced', {
      token_bucket: bucket(1), filter_enabled: ALL, enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
      request_headers_to_add_when_not_enforced: [{ header: { key: 'x-not-enforced', value: 'limited' } }], response_headers_to_add: [{ header: { key: 'x-rl', value: 'yes' } }],
    })),
    r('disabled', '/disabled', {}, local('disabled', { token_bucket: bucket(1) })),
    r('descriptors', '/desc', {
      rate_limits: [{ actions: [{ request_headers: { header_name: 'x-user', descriptor_key: 'user' } }] }],
    }, local('desc', {
      token_bucket: bucket(3), filter_enabled: ALL, filter_enforced: ALL, enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
      descriptors: [{ entries: [{ key: 'user', value: 'alice' }], token_bucket: bucket(1) }],
    })),
    r('actions', '/actions', {
      rate_limits: [
        { actions: [{ generic_key: { descriptor_value: 'gv' } }] },
        { actions: [{ remote_address: {} }] },
        { actions: [{ header_value_match: { descriptor_value: 'hv', headers: [{ name: 'x-m', string_match: { exact: '1' } }] } }] },
        { actions: [{ header_value_match: { descriptor_key: 'nm', descriptor_value: 'nv', expect_match: false, headers: [{ name: 'x-m', present_match: true }] } }] },
        { stage: 1, actions: [{ generic_key: { descriptor_value: 'other-stage' } }] },
        { actions: [{ request_headers: { header_name: 'x-skip', descriptor_key: 'skip', skip_if_absent: true } }, { generic_key: { descriptor_key: 'g2', descriptor_value: 'v2' } }] },
      ],
    }, local('actions', {
      token_bucket: bucket(100), filter_enabled: ALL, filter_enforced: ALL, enable_x_ratelimit_headers: 'DRAFT_VERSION_03', always_consume_default_token_bucket: false,
      descriptors: [
        { entries: [{ key: 'generic_key', value: 'gv' }], token_bucket: bucket(50) },
        { entries: [{ key: 'remote_address', value: '127.0.0.1' }], token_bucket: bucket(40) },
        { entries: [{ key: 'header_match', value: 'hv' }], token_bucket: bucket(2) },
        { entries: [{ key: 'nm', value: 'nv' }], token_bucket: bucket(30) },
        { entries: [{ key: 'generic_key', value: 'other-stage' }], token_bucket: bucket(1) },
        { entries: [{ key: 'skip', value: 's' }, { key: 'g2', value: 'v2' }], token_bucket: bucket(1) },
        { entries: [{ key: 'g2', value: 'v2' }], token_bucket: bucket(60) },
      ],
    })),
    // Two matched descriptors: Envoy takes the slower-refilling bucket first, whatever the order.
    r('descriptor order', '/order', {
      rate_limits: [{ actions: [{ generic_key: { descriptor_value: 'fast' } }] }, { actions: [{ generic_key: { descriptor_value: 'slow' } }] }],
    }, local('order', {
      token_bucket: bucket(100), filter_enabled: ALL, filter_enforced: ALL, enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
      descriptors: [
        { entries: [{ key: 'generic_key', value: 'slow' }], token_bucket: bucket(4, '3600s') },
        { entries: [{ key: 'generic_key', value: 'fast' }], token_bucket: bucket(3, '60s') },
      ],
    })),
    // vh_rate_limits: INCLUDE adds the virtual host's descriptors to the route's; IGNORE drops them.
    r('vh include', '/vhinclude', { rate_limits: [{ actions: [{ generic_key: { descriptor_value: 'r' } }] }] }, local('vhinclude', {
      token_bucket: bucket(100), filter_enabled: ALL, filter_enforced: ALL, enable_x_ratelimit_headers: 'DRAFT_VERSION_03', vh_rate_limits: 'INCLUDE',
      descriptors: [{ entries: [{ key: 'generic_key', value: 'vhl' }], token_bucket: bucket(2, '120s') }, { entries: [{ key: 'generic_key', value: 'r' }], token_bucket: bucket(5) }],
    })),
    r('vh ignore', '/vhignore', {}, local('vhignore', {
      token_bucket: bucket(3), filter_enabled: ALL, filter_enforced: ALL, enable_x_ratelimit_headers: 'DRAFT_VERSION_03', vh_rate_limits: 'IGNORE',
      descriptors: [{ entries: [{ key: 'generic_key', value: 'vhl' }], token_bucket: bucket(1) }],
    })),
    r('vh override', '/vhoverride', {}, local('vhoverride', {
      token_bucket: bucket(3), filter_enabled: ALL, filter_enforced: ALL, enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
      descriptors: [{ entries: [{ key: 'generic_key', value: 'vhl' }], token_bucket: bucket(1) }],
    })),
    // gRPC callers get a trailers-only answer: grpc-status 8 with rate_limited_as_resource_exhausted.
    r('grpc', '/grpc', {}, local('grpc', { token_bucket: bucket(1), filter_enabled: ALL, filter_enforced: ALL, rate_limited_as_resource_exhausted: true })),
    r('per-connection', '/conn', {}, local('conn', { token_bucket: bucket(2), filter_enabled: ALL, filter_enforced: ALL, local_rate_limit_per_downstream_connection: true })),
    r('half-enforced', '/halfenforced', {}, local('halfenforced', { token_bucket: bucket(1), filter_enabled: ALL, filter_enforced: { runtime_key: 'x', default_value: { numerator: 50 } } })),
    r('half-enabled', '/halfenabled', {}, local('halfenabled', { token_bucket: bucket(1000), filter_enabled: { runtime_key: 'x', default_value: { numerator: 5000, denominator: 'TEN_THOUSAND' } }, filter_enforced: ALL })),
    r('vh-default', '/', {}),
  ];
}

function accessLog(path: string): Json[] {
  return [{
    name: 'envoy.access_loggers.file',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
      path,
      log_format: { json_format: { case: '%REQ(X-CASE)%', code: '%RESPONSE_CODE%', flags: '%RESPONSE_FLAGS%', details: '%RESPONSE_CODE_DETAILS%' } },
    },
  }];
}

/** Routes for the global rate limit listeners (the same on both). */
function globalRoutes(): Json[] {
  return [
    r('g', '/g', { rate_limits: [{ actions: [{ generic_key: { descriptor_value: 'g' } }] }, { actions: [{ request_headers: { header_name: 'x-user', descriptor_key: 'user' } }, { remote_address: {} }] }] }),
    r('user', '/user', { rate_limits: [{ actions: [{ request_headers: { header_name: 'x-user', descriptor_key: 'user' } }] }] }),
    r('no-descriptor', '/nodesc', { rate_limits: [{ actions: [{ request_headers: { header_name: 'x-absent', descriptor_key: 'absent' } }] }] }),
    // RateLimitPerRoute: another domain, and the virtual host's descriptors after the route's.
    r('per-route', '/perroute', { rate_limits: [{ actions: [{ generic_key: { descriptor_value: 'pr' } }] }] }, {
      typed_per_filter_config: { 'envoy.filters.http.ratelimit': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute', domain: 'other', vh_rate_limits: 'INCLUDE' } },
    }),
    r('stage-1-only', '/stage1', { rate_limits: [{ stage: 1, actions: [{ generic_key: { descriptor_value: 's1' } }] }] }),
    r('vh', '/', {}),
  ];
}

function globalListener(name: string, port: number, log: string, filter: Json): Json {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': HCM,
          stat_prefix: name,
          access_log: accessLog(log),
          http_filters: [
            { name: 'envoy.filters.http.ratelimit', typed_config: { '@type': RL, timeout: '1s', rate_limit_service: { transport_api_version: 'V3', grpc_service: { envoy_grpc: { cluster_name: 'rls' } } }, ...filter } },
            ROUTER,
          ],
          route_config: {
            name,
            virtual_hosts: [{ name, domains: ['*'], rate_limits: [{ actions: [{ generic_key: { descriptor_value: 'vh' } }] }], routes: globalRoutes() }],
          },
        },
      }],
    }],
  };
}

interface Ports {
  local: number;
  global: number;
  deny: number;
  a: number;
  rls: number;
}

function bootstrap(ports: Ports, log: string): Json {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [
        globalListener('global', ports.global, log, { domain: 'allow', enable_x_ratelimit_headers: 'DRAFT_VERSION_03' }),
        globalListener('deny', ports.deny, log, { domain: 'deny', failure_mode_deny: true, rate_limited_status: { code: 'ServiceUnavailable' }, disable_x_envoy_ratelimited_header: true, stat_prefix: 'strict' }),
        {
        name: 'local',
        address: { socket_address: { address: '127.0.0.1', port_value: ports.local } },
        filter_chains: [{
          filters: [{
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: 'local',
              access_log: accessLog(log),
              http_filters: [
                // The filter-wide config: a small bucket for the virtual host "limited" (enabled
                // there only through its own per-route config elsewhere: here, for every route without one).
                { name: 'envoy.filters.http.local_ratelimit', typed_config: { '@type': LRL, stat_prefix: 'filter_wide', token_bucket: bucket(2), filter_enabled: ALL, filter_enforced: ALL } },
                { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
              ],
              route_config: {
                name: 'local',
                virtual_hosts: [
                  { name: 'local', domains: ['*'], rate_limits: [{ actions: [{ generic_key: { descriptor_value: 'vhl' } }] }], routes: localRoutes() },
                ],
              },
            },
          }],
        }],
      }],
      clusters: [
        cluster('a', ports.a),
        cluster('rls', ports.rls, { typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } } }),
      ],
    },
  };
}

interface Setup {
  proxy: Envoy;
  port: number;
  ports: Ports;
  log: string;
  rls: RlsServer;
}

const dir = mkdtempSync(join(tmpdir(), 'spar-ratelimit-'));
let upA: Upstream;
const setups = new Map<ProxyKind, Setup>();

before(async () => {
  upA = await startUpstream('a');
  await Promise.all(KINDS.map(async (kind) => {
    const rls = new RlsServer();
    await rls.start();
    rls.limit('allow', { entries: [{ key: 'generic_key', value: 'g' }] }, 3);
    rls.limit('allow', { entries: [{ key: 'user', value: 'alice' }] }, 1);
    rls.limit('deny', { entries: [{ key: 'generic_key', value: 'g' }] }, 1);
    rls.responseHeadersToAdd = [{ key: 'x-rls-resp', value: 'from-rls' }];
    rls.requestHeadersToAdd = [{ key: 'x-rls-req', value: 'from-rls' }];
    const ports: Ports = { local: await freePort(), global: await freePort(), deny: await freePort(), a: upA.port, rls: rls.port };
    const log = join(dir, `${kind}.log`);
    const proxy = await startProxy(kind, bootstrap(ports, log));
    await proxy.waitReady(30_000);
    setups.set(kind, { proxy, port: ports.local, ports, log, rls });
  }));
});

after(async () => {
  for (const s of setups.values()) {
    await s.proxy.stop();
    await s.rls.stop();
  }
  await upA.close();
  if (!process.env.SPAR_KEEP) rmSync(dir, { recursive: true, force: true });
});


/** What a rate limited or passed request looks like, without timing-dependent values. */
interface View {
  status: number;
  body?: string;
  upstream: string;
  headers: Record<string, unknown>;
  upstreamSaw?: Record<string, unknown>;
}

function view(rep: Reply): View {
  let echo: Echo | undefined;
  try {
    const j = JSON.parse(rep.body) as Echo;
    if (j && typeof j.upstream === 'string') echo = j;
  } catch {
    // a local reply
  }
  const h: Record<string, unknown> = {};
  for (const k of ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-rl', 'content-type', 'x-envoy-ratelimited', 'x-rls-resp', 'grpc-status', 'grpc-message', 'x-route-resp']) if (rep.headers[k] !== undefined) h[k] = rep.headers[k];
  const reset = rep.headers['x-ratelimit-reset'];
  // Seconds to the next token: 0 while tokens are left, else close to the fill interval (60 s here).
  const n = Number(reset);
  if (reset !== undefined) h['x-ratelimit-reset'] = n === 0 ? 0 : n >= 55 && n <= 60 ? '55..60' : n >= 3595 && n <= 3600 ? '3595..3600' : `unexpected ${String(reset)}`;
  const v: View = { status: rep.status, upstream: echo?.upstream ?? '-', headers: h };
  if (!echo) v.body = rep.body;
  else {
    const saw: Record<string, unknown> = {};
    for (const k of ['x-not-enforced', 'x-rls-req']) if (echo.headers[k] !== undefined) saw[k] = echo.headers[k];
    if (Object.keys(saw).length) v.upstreamSaw = saw;
  }
  return v;
}

/** Requests in sequence on one keep-alive connection. */
async function onOneConnection(port: number, paths: string[], headers: Record<string, string>): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const out: number[] = [];
  for (const path of paths) {
    out.push(await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    }));
  }
  agent.destroy();
  return out;
}

interface Step {
  id: string;
  path: string;
  headers?: Record<string, string>;
}

const seq = (id: string, path: string, n: number, headers?: Record<string, string>): Step[] => Array.from({ length: n }, (_, i) => ({ id: `${id} #${i + 1}`, path, headers }));

const LOCAL_STEPS: Step[] = [
  ...seq('basic', '/basic', 5),
  ...seq('status 503', '/status', 2),
  ...seq('status below 400 means 429', '/lowstatus', 2),
  ...seq('not enforced', '/notenforced', 3),
  ...seq('filter_enabled unset', '/disabled', 3),
  ...seq('desc alice', '/desc', 2, { 'x-user': 'alice' }),
  ...seq('desc bob', '/desc', 3, { 'x-user': 'bob' }),
  ...seq('desc carol', '/desc', 1, { 'x-user': 'carol' }),
  ...seq('desc none', '/desc', 1),
  ...seq('actions plain', '/actions', 3),
  ...seq('actions header match', '/actions', 3, { 'x-m': '1' }),
  ...seq('actions skip_if_absent present', '/actions', 2, { 'x-skip': 's' }),
  ...seq('descriptor order', '/order', 6),
  ...seq('vh_rate_limits INCLUDE', '/vhinclude', 4),
  ...seq('vh_rate_limits IGNORE', '/vhignore', 2),
  ...seq('vh_rate_limits OVERRIDE', '/vhoverride', 2),
  ...seq('grpc', '/grpc', 2, { 'content-type': 'application/grpc' }),
  ...seq('filter-wide bucket', '/elsewhere', 4),
];

test('local rate limit: Envoy 1.40 and spar proxy answer the same sequences', { timeout: 60_000 }, async () => {
  const results = new Map<ProxyKind, Map<string, View>>();
  await Promise.all(KINDS.map(async (kind) => {
    const m = new Map<string, View>();
    for (const st of LOCAL_STEPS) m.set(st.id, view(await send(setups.get(kind)!.port, { path: st.path, headers: { 'x-case': st.id, ...st.headers } })));
    results.set(kind, m);
  }));
  const diffs: string[] = [];
  for (const st of LOCAL_STEPS) {
    const e = results.get('envoy')!.get(st.id)!;
    const s = results.get('spar')!.get(st.id)!;
    try {
      assert.deepEqual(s, e);
    } catch {
      diffs.push(`${st.id}:\n  envoy=${JSON.stringify(e)}\n  spar =${JSON.stringify(s)}`);
    }
  }
  const summary = (kind: ProxyKind) => LOCAL_STEPS.map((st) => results.get(kind)!.get(st.id)!.status).join(' ');
  process.stderr.write(`local rate limit statuses envoy: ${summary('envoy')}\nlocal rate limit statuses spar:  ${summary('spar')}\n`);
  assert.equal(diffs.length, 0, diffs.join('\n'));
  // The expected shape, so that both agreeing on something wrong is noticed too.
  const statuses = (id: string, n: number) => Array.from({ length: n }, (_, i) => results.get('envoy')!.get(`${id} #${i + 1}`)!.status);
  assert.deepEqual(statuses('basic', 5), [200, 200, 200, 429, 429]);
  assert.deepEqual(statuses('status 503', 2), [200, 503]);
  assert.deepEqual(statuses('not enforced', 3), [200, 200, 200]);
  assert.deepEqual(statuses('filter-wide bucket', 4), [200, 200, 429, 429]);
  assert.equal(results.get('spar')!.get('basic #4')!.body, 'local_rate_limited');

  // Access logs: RL on every local rate limit reply, details local_rate_limited.
  for (const kind of KINDS) {
    const st = setups.get(kind)!;
    await st.proxy.admin('/reopen_logs', 'POST');
    const lines = await readJsonLog<{ case: string; code: number; flags: string; details: string }>(st.log, 'case', LOCAL_STEPS.map((x) => x.id));
    for (const step of LOCAL_STEPS) {
      const l = lines.get(step.id);
      const v = results.get(kind)!.get(step.id)!;
      assert.ok(l, `${kind} ${step.id}: logged`);
      assert.equal(l.code, v.status, `${kind} ${step.id}`);
      if (v.upstream === '-') {
        assert.equal(l.flags, 'RL', `${kind} ${step.id}`);
        assert.equal(l.details, 'local_rate_limited', `${kind} ${step.id}`);
      } else assert.equal(l.flags, '-', `${kind} ${step.id}`);
    }
  }
  // Stats: <stat_prefix>.http_local_rate_limit.*, equal in both.
  const wanted = ['basic', 'status', 'notenforced', 'disabled', 'desc', 'actions', 'filter_wide'];
  const got = new Map<ProxyKind, Record<string, number>>();
  for (const kind of KINDS) {
    const s = await setups.get(kind)!.proxy.stats('http_local_rate_limit');
    const o: Record<string, number> = {};
    for (const p of wanted) for (const n of ['enabled', 'enforced', 'rate_limited', 'ok']) o[`${p}.${n}`] = s[`${p}.http_local_rate_limit.${n}`] ?? -1;
    got.set(kind, o);
  }
  process.stderr.write(`local rate limit stats envoy: ${JSON.stringify(got.get('envoy'))}\n`);
  assert.deepEqual(got.get('spar'), got.get('envoy'));
});

test('local rate limit: local_rate_limit_per_downstream_connection gives each connection its own bucket', async () => {
  for (const kind of KINDS) {
    const port = setups.get(kind)!.port;
    const first = await onOneConnection(port, ['/conn', '/conn', '/conn'], { 'x-case': 'conn-1' });
    const second = await onOneConnection(port, ['/conn', '/conn', '/conn'], { 'x-case': 'conn-2' });
    assert.deepEqual(first, [200, 200, 429], kind);
    assert.deepEqual(second, [200, 200, 429], kind);
  }
});

test('local rate limit: filter_enabled and filter_enforced fractions are roughly honoured', { timeout: 60_000 }, async () => {
  const N = 200;
  const out: string[] = [];
  for (const kind of KINDS) {
    const port = setups.get(kind)!.port;
    const counts = { enforced429: 0 };
    for (let i = 0; i < N; i += 10) {
      const rs = await Promise.all(Array.from({ length: 10 }, () => send(port, { path: '/halfenforced', headers: { 'x-case': 'half-enforced' } })));
      counts.enforced429 += rs.filter((x) => x.status === 429).length;
      await Promise.all(Array.from({ length: 10 }, () => send(port, { path: '/halfenabled', headers: { 'x-case': 'half-enabled' } })));
    }
    const s = await setups.get(kind)!.proxy.stats('http_local_rate_limit');
    const enabled = s['halfenabled.http_local_rate_limit.enabled'];
    out.push(`${kind}: enforced 429s ${counts.enforced429}/${N - 1}, enabled ${enabled}/${N}`);
    // Binomial at p = 0.5, N = 200: sd ≈ 7; ±5 sd.
    assert.ok(Math.abs(counts.enforced429 - (N - 1) / 2) <= 36, `${kind}: ${counts.enforced429} of ${N - 1} limited requests refused`);
    assert.ok(Math.abs(enabled - N / 2) <= 36, `${kind}: ${enabled} of ${N} requests looked at`);
    assert.equal(s['halfenforced.http_local_rate_limit.rate_limited'], N - 1, kind);
    assert.equal(s['halfenforced.http_local_rate_limit.enforced'], counts.enforced429, kind);
  }
  process.stderr.write(`local rate limit fractions: ${out.join('; ')}\n`);
});

/** What each proxy asked the rate limit service (domain and descriptors), in order. */
const asked = (reqs: RlsRequest[]) => reqs.map((q) => `${q.domain}: ${q.descriptors.map((d) => d.entries.map((e) => `${e.key}=${e.value}`).join(',')).join(' | ')}${q.hits_addend && q.hits_addend !== 1 ? ` +${q.hits_addend}` : ''}`);

const GLOBAL_STEPS: (Step & { listener: 'global' | 'deny' })[] = [
  ...seq('g', '/g', 4, { 'x-user': 'u1' }).map((x) => ({ ...x, listener: 'global' as const })),
  ...seq('user alice', '/user', 2, { 'x-user': 'alice' }).map((x) => ({ ...x, listener: 'global' as const })),
  ...seq('user bob', '/user', 2, { 'x-user': 'bob' }).map((x) => ({ ...x, listener: 'global' as const })),
  ...seq('no descriptor', '/nodesc', 1).map((x) => ({ ...x, listener: 'global' as const })),
  ...seq('other stage', '/stage1', 1).map((x) => ({ ...x, listener: 'global' as const })),
  ...seq('vhost descriptors', '/elsewhere', 1).map((x) => ({ ...x, listener: 'global' as const })),
  ...seq('per-route domain and vh include', '/perroute', 1).map((x) => ({ ...x, listener: 'global' as const })),
  ...seq('deny g', '/g', 2).map((x) => ({ ...x, listener: 'deny' as const })),
];

async function runGlobal(steps: (Step & { listener: 'global' | 'deny' })[]): Promise<Map<ProxyKind, Map<string, View>>> {
  const results = new Map<ProxyKind, Map<string, View>>();
  await Promise.all(KINDS.map(async (kind) => {
    const st = setups.get(kind)!;
    const m = new Map<string, View>();
    for (const x of steps) m.set(x.id, view(await send(st.ports[x.listener], { path: x.path, headers: { 'x-case': x.id, ...x.headers } })));
    results.set(kind, m);
  }));
  return results;
}

function diffViews(results: Map<ProxyKind, Map<string, View>>, ids: string[]): string[] {
  const diffs: string[] = [];
  for (const id of ids) {
    const e = results.get('envoy')!.get(id)!;
    const s = results.get('spar')!.get(id)!;
    try {
      assert.deepEqual(s, e);
    } catch {
      diffs.push(`${id}:\n  envoy=${JSON.stringify(e)}\n  spar =${JSON.stringify(s)}`);
    }
  }
  return diffs;
}

test('global rate limit: same answers, same descriptors sent to the rate limit service', { timeout: 60_000 }, async () => {
  const results = await runGlobal(GLOBAL_STEPS);
  const diffs = diffViews(results, GLOBAL_STEPS.map((x) => x.id));
  const summary = (kind: ProxyKind) => GLOBAL_STEPS.map((x) => results.get(kind)!.get(x.id)!.status).join(' ');
  process.stderr.write(`global rate limit statuses envoy: ${summary('envoy')}\nglobal rate limit statuses spar:  ${summary('spar')}\n`);
  assert.equal(diffs.length, 0, diffs.join('\n'));
  const e = results.get('envoy')!;
  assert.deepEqual([1, 2, 3, 4].map((i) => e.get(`g #${i}`)!.status), [200, 200, 200, 429]);
  assert.deepEqual([1, 2].map((i) => e.get(`user alice #${i}`)!.status), [200, 429]);
  assert.deepEqual([1, 2].map((i) => e.get(`deny g #${i}`)!.status), [200, 503]);
  assert.equal(e.get('g #4')!.headers['x-envoy-ratelimited'], 'true');
  const envoyAsked = asked(setups.get('envoy')!.rls.requests);
  const sparAsked = asked(setups.get('spar')!.rls.requests);
  process.stderr.write(`RLS requests (envoy): ${envoyAsked.length}, e.g. ${envoyAsked[0]}\n`);
  assert.deepEqual(sparAsked, envoyAsked);
  assert.ok(!envoyAsked.some((x) => x.includes('absent') || x.includes('s1')), 'no call without descriptors of this stage');
  assert.ok(envoyAsked.includes('other: generic_key=pr | generic_key=vh'), envoyAsked.join('\n'));
});

test('global rate limit: an unavailable, slow or absent service fails open (and closed with failure_mode_deny)', { timeout: 60_000 }, async () => {
  const steps: (Step & { listener: 'global' | 'deny' })[] = [];
  const phases: ['error' | 'slow' | 'down', (r: RlsServer) => Promise<void>][] = [
    ['error', async (r) => { r.mode = 'error'; }],
    ['slow', async (r) => { r.mode = 'slow'; r.delayMs = 2500; }],
    ['down', async (r) => { await r.stop(); }],
  ];
  const all = new Map<ProxyKind, Map<string, View>>([['envoy', new Map()], ['spar', new Map()]]);
  for (const [phase, set] of phases) {
    for (const kind of KINDS) await set(setups.get(kind)!.rls);
    const ps = [{ id: `${phase} allow`, path: '/user', headers: { 'x-user': 'carol' }, listener: 'global' as const }, { id: `${phase} deny`, path: '/g', listener: 'deny' as const }];
    steps.push(...ps);
    const res = await runGlobal(ps);
    for (const kind of KINDS) for (const [k, v] of res.get(kind)!) all.get(kind)!.set(k, v);
  }
  const diffs = diffViews(all, steps.map((x) => x.id));
  assert.equal(diffs.length, 0, diffs.join('\n'));
  for (const [phase] of phases) {
    assert.equal(all.get('envoy')!.get(`${phase} allow`)!.status, 200, phase);
    assert.equal(all.get('envoy')!.get(`${phase} deny`)!.status, 500, phase);
  }
  // Access logs: RL for over-limit answers, RLSE when the service failed and failure_mode_deny refused.
  const ids = [...GLOBAL_STEPS.map((x) => x.id), ...steps.map((x) => x.id)];
  const flags = new Map<ProxyKind, string[]>();
  for (const kind of KINDS) {
    const st = setups.get(kind)!;
    await st.proxy.admin('/reopen_logs', 'POST');
    const lines = await readJsonLog<{ case: string; code: number; flags: string; details: string }>(st.log, 'case', ids);
    // Upstream answers' details (via_upstream in Envoy) are not what this test is about.
    const details = (d: string | null | undefined) => (d === 'via_upstream' || d === '-' || d === null ? 'upstream' : d);
    flags.set(kind, ids.map((id) => `${id}=${lines.get(id)?.code}/${lines.get(id)?.flags}/${details(lines.get(id)?.details)}`));
  }
  assert.deepEqual(flags.get('spar'), flags.get('envoy'));
  assert.ok(flags.get('envoy')!.includes('g #4=429/RL/request_rate_limited'), flags.get('envoy')!.join(' '));
  assert.ok(flags.get('envoy')!.includes('down deny=500/RLSE/rate_limiter_error'), flags.get('envoy')!.join(' '));
  // Stats: cluster.<route cluster>.ratelimit.[<stat_prefix>.]*
  const got = new Map<ProxyKind, Record<string, number>>();
  for (const kind of KINDS) {
    const s = await setups.get(kind)!.proxy.stats('ratelimit');
    const o: Record<string, number> = {};
    for (const p of ['cluster.a.ratelimit.', 'cluster.a.ratelimit.strict.']) for (const n of ['ok', 'over_limit', 'error', 'failure_mode_allowed']) o[p + n] = s[p + n] ?? 0;
    got.set(kind, o);
  }
  process.stderr.write(`global rate limit stats envoy: ${JSON.stringify(got.get('envoy'))}\n`);
  assert.deepEqual(got.get('spar'), got.get('envoy'));
});
