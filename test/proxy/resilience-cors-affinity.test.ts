/**
 * Resilience by difference, part 3: CORS policies (Istio's corsPolicy) and session affinity by hash
 * policy (Istio's consistentHash: header, cookie with a generated TTL cookie, source IP). The same
 * static bootstrap runs in real Envoy 1.40 and in `spar proxy`; CORS cases compare status, whether
 * the upstream was reached, and every access-control-* header; affinity cases compare what a user
 * can rely on (a generated cookie's shape, one upstream per key, several across keys), not which
 * host a hash picks (the hash functions differ, as they may).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../helpers/envoy.js';
import { startProxy, type Envoy, type ProxyKind, type Json } from './helpers/proxies.js';
import { startUpstream, type Upstream } from './helpers/upstreams.js';
import { send } from './helpers/client.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const CORS_POLICY = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
const CORS = { name: 'envoy.filters.http.cors', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors' } };

const cors = (p: Json): Json => ({ typed_per_filter_config: { 'envoy.filters.http.cors': { '@type': CORS_POLICY, ...p } } });
const FULL = {
  allow_origin_string_match: [{ exact: 'https://a.example' }, { prefix: 'https://b.' }],
  allow_methods: 'GET,POST,PUT', allow_headers: 'x-custom,content-type', expose_headers: 'x-exp', max_age: '600', allow_credentials: true,
};

function bootstrap(port: number, ups: number[]): Json {
  const route = (path: string, extra: Json = {}, action: Json = { cluster: 'one' }): Json => ({ match: { prefix: path }, route: action, ...extra });
  const hashed = (policy: Json[]): Json => ({ cluster: 'ring', hash_policy: policy });
  return {
    node: { id: 'cors', cluster: 'cors' },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: [{
        name: 'main', address: { socket_address: { address: '127.0.0.1', port_value: port } },
        filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: {
          '@type': HCM, stat_prefix: 'main', http_filters: [CORS, ROUTER],
          route_config: { name: 'r', virtual_hosts: [
            {
              name: 'vh-policy', domains: ['vh.test'], ...cors({ allow_origin_string_match: [{ exact: 'https://vh.example' }], allow_methods: 'GET' }),
              routes: [route('/override', cors({ allow_origin_string_match: [{ exact: 'https://route.example' }], allow_methods: 'DELETE' })), route('/')],
            },
            {
              name: 'main', domains: ['*'], routes: [
                route('/cors/full', cors(FULL)),
                route('/cors/star', cors({ allow_origin_string_match: [{ exact: '*' }], allow_methods: 'GET' })),
                route('/cors/regex', cors({ allow_origin_string_match: [{ safe_regex: { regex: 'https://[a-z]+\\.regex\\.test' } }], allow_headers: 'x-r' })),
                route('/cors/noforward', cors({ allow_origin_string_match: [{ exact: 'https://a.example' }], allow_methods: 'GET', forward_not_matching_preflights: false })),
                route('/cors/off', cors({ allow_origin_string_match: [{ exact: 'https://a.example' }], filter_enabled: { default_value: { numerator: 0 } } })),
                route('/cors/pna', cors({ allow_origin_string_match: [{ exact: 'https://a.example' }], allow_methods: 'GET', allow_private_network_access: true })),
                route('/cors/none'),
                route('/hash/cookie-ttl', {}, hashed([{ cookie: { name: 'session', ttl: '3600s', path: '/' } }])),
                route('/hash/cookie-session', {}, hashed([{ cookie: { name: 'sticky', ttl: '0s' } }])),
                route('/hash/cookie-only', {}, hashed([{ cookie: { name: 'user' } }])),
                route('/hash/header', {}, hashed([{ header: { header_name: 'x-user' } }])),
                route('/hash/source', {}, hashed([{ connection_properties: { source_ip: true } }])),
                route('/'),
              ],
            },
          ] },
        } }] }],
      }],
      clusters: [
        { name: 'one', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'one', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: ups[0] } } } }] }] } },
        {
          name: 'ring', type: 'STATIC', connect_timeout: '1s', lb_policy: 'RING_HASH',
          load_assignment: { cluster_name: 'ring', endpoints: [{ lb_endpoints: ups.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } })) }] },
        },
      ],
    },
  };
}

const ups: Upstream[] = [];
const proxies = new Map<ProxyKind, { proxy: Envoy; port: number }>();

before(async () => {
  for (const n of ['a', 'b', 'c']) ups.push(await startUpstream(n));
  await Promise.all((['envoy', 'spar'] as ProxyKind[]).map(async (kind) => {
    const port = await freePort();
    const proxy = await startProxy(kind, bootstrap(port, ups.map((u) => u.port)));
    await proxy.waitReady(30_000);
    proxies.set(kind, { proxy, port });
  }));
});

after(async () => {
  for (const p of proxies.values()) await p.proxy.stop();
  for (const u of ups) await u.close();
});

interface CorsCase { id: string; path: string; host?: string; method?: string; headers?: Record<string, string> }

function corsCases(): CorsCase[] {
  const out: CorsCase[] = [];
  const pre = (origin: string, method = 'POST', more: Record<string, string> = {}) => ({ origin, 'access-control-request-method': method, ...more });
  for (const path of ['/cors/full', '/cors/star', '/cors/regex', '/cors/noforward', '/cors/off', '/cors/pna', '/cors/none']) {
    out.push({ id: `${path} simple GET, allowed origin`, path, headers: { origin: 'https://a.example' } });
    out.push({ id: `${path} simple GET, other origin`, path, headers: { origin: 'https://evil.example' } });
    out.push({ id: `${path} GET without origin`, path });
    out.push({ id: `${path} preflight, allowed origin`, path, method: 'OPTIONS', headers: pre('https://a.example', 'PUT', { 'access-control-request-headers': 'x-custom' }) });
    out.push({ id: `${path} preflight, other origin`, path, method: 'OPTIONS', headers: pre('https://evil.example') });
    out.push({ id: `${path} OPTIONS without request method`, path, method: 'OPTIONS', headers: { origin: 'https://a.example' } });
  }
  out.push({ id: 'full: prefix-matched origin', path: '/cors/full', headers: { origin: 'https://b.example.org' } });
  out.push({ id: 'full: POST allowed origin', path: '/cors/full', method: 'POST', headers: { origin: 'https://a.example', 'content-type': 'text/plain' } });
  out.push({ id: 'regex: matching origin', path: '/cors/regex', headers: { origin: 'https://x.regex.test' } });
  out.push({ id: 'regex: preflight matching origin', path: '/cors/regex', method: 'OPTIONS', headers: pre('https://x.regex.test') });
  out.push({ id: 'pna: private network preflight', path: '/cors/pna', method: 'OPTIONS', headers: pre('https://a.example', 'GET', { 'access-control-request-private-network': 'true' }) });
  out.push({ id: 'vhost policy: allowed', path: '/x', host: 'vh.test', headers: { origin: 'https://vh.example' } });
  out.push({ id: 'vhost policy: preflight', path: '/x', host: 'vh.test', method: 'OPTIONS', headers: pre('https://vh.example', 'GET') });
  out.push({ id: 'route overrides vhost: vhost origin', path: '/override', host: 'vh.test', headers: { origin: 'https://vh.example' } });
  out.push({ id: 'route overrides vhost: route origin preflight', path: '/override', host: 'vh.test', method: 'OPTIONS', headers: pre('https://route.example', 'DELETE') });
  return out;
}

interface CorsView { status: number; upstream: string; acHeaders: Record<string, unknown>; body: string; contentLength: unknown }

async function corsRun(kind: ProxyKind, c: CorsCase): Promise<CorsView> {
  const p = proxies.get(kind)!;
  const r = await send(p.port, { method: c.method, path: c.path, headers: { host: c.host ?? 'cors.test', ...c.headers } });
  const ac: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r.headers)) if (k.startsWith('access-control-')) ac[k] = v;
  const upstream = String(r.headers['x-upstream'] ?? '-');
  return { status: r.status, upstream, acHeaders: ac, body: upstream === '-' ? r.body : 'upstream echo', contentLength: upstream === '-' ? r.headers['content-length'] : 'upstream' };
}

test('CORS: spar proxy and Envoy 1.40 answer every preflight and simple request alike', async () => {
  const all = corsCases();
  const diffs: string[] = [];
  for (const c of all) {
    const [e, s] = await Promise.all([corsRun('envoy', c), corsRun('spar', c)]);
    try {
      assert.deepEqual(s, e);
    } catch {
      diffs.push(`case ${c.id}:\n  envoy ${JSON.stringify(e)}\n  spar  ${JSON.stringify(s)}`);
    }
  }
  process.stderr.write(`cors: ${all.length} cases, ${all.length - diffs.length} agree\n`);
  assert.equal(diffs.length, 0, diffs.join('\n'));
});

/** The Set-Cookie a proxy sends, with the generated value masked (its hash function is its own). */
function cookieShape(v: unknown): string {
  if (v === undefined) return 'none';
  const s = Array.isArray(v) ? v.join(' | ') : String(v);
  return s.replace(/="[0-9a-f]{16}"/, '="<16 hex>"');
}

test('session affinity: generated cookies have Envoy\'s shape and pin a client to one upstream', async () => {
  const diffs: string[] = [];
  const view = async (kind: ProxyKind) => {
    const port = proxies.get(kind)!.port;
    const out: Record<string, unknown> = {};
    // A request without the cookie gets one (ttl > 0: Max-Age, Path, HttpOnly; ttl 0: a session cookie).
    const first = await send(port, { path: '/hash/cookie-ttl', headers: { host: 'h.test' } });
    out.ttlCookie = cookieShape(first.headers['set-cookie']);
    out.sessionCookie = cookieShape((await send(port, { path: '/hash/cookie-session', headers: { host: 'h.test' } })).headers['set-cookie']);
    out.noTtlNoCookie = cookieShape((await send(port, { path: '/hash/cookie-only', headers: { host: 'h.test' } })).headers['set-cookie']);
    // Sending the generated cookie back: no new cookie, and the same upstream every time.
    const value = /session=("[0-9a-f]+")/.exec(String(first.headers['set-cookie']))?.[1] ?? '';
    const seen = new Set<string>();
    let again = 0;
    for (let i = 0; i < 12; i++) {
      const r = await send(port, { path: '/hash/cookie-ttl', headers: { host: 'h.test', cookie: `other=1; session=${value}` } });
      seen.add(String(r.headers['x-upstream']));
      if (r.headers['set-cookie'] !== undefined) again++;
    }
    out.withCookie = { upstreams: seen.size, newCookies: again };
    // Keys spread over upstreams, each key pinned to one.
    for (const [path, hdr] of [['/hash/header', 'x-user'], ['/hash/cookie-only', 'cookie']] as const) {
      const hosts = new Set<string>();
      let pinned = true;
      for (let k = 0; k < 16; k++) {
        const v = hdr === 'cookie' ? `user=u${k}` : `u${k}`;
        const a = await send(port, { path, headers: { host: 'h.test', [hdr]: v } });
        const b = await send(port, { path, headers: { host: 'h.test', [hdr]: v } });
        if (a.headers['x-upstream'] !== b.headers['x-upstream']) pinned = false;
        hosts.add(String(a.headers['x-upstream']));
      }
      out[path] = { pinned, spread: hosts.size > 1 };
    }
    const src = new Set<string>();
    for (let i = 0; i < 8; i++) src.add(String((await send(port, { path: '/hash/source', headers: { host: 'h.test' } })).headers['x-upstream']));
    out.sourceIp = { upstreams: src.size };
    return out;
  };
  const [e, s] = await Promise.all([view('envoy'), view('spar')]);
  try {
    assert.deepEqual(s, e);
  } catch {
    diffs.push(`envoy ${JSON.stringify(e)}\nspar  ${JSON.stringify(s)}`);
  }
  assert.equal(diffs.length, 0, diffs.join('\n'));
  assert.match(String(s.ttlCookie), /^session="<16 hex>"; Max-Age=3600; Path=\/; HttpOnly$/);
});
