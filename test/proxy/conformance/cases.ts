/**
 * The HTTP request matrix sent to both proxies: hosts × paths for virtual host selection, every
 * route specifier and action, header and query matchers, methods, upstream statuses, failures
 * (each with its response flag), and the edge listener's header handling.
 */
export interface Case {
  id: string;
  listener: 'main' | 'edge' | 'small' | 'tcp';
  method?: string;
  path: string;
  host?: string;
  headers?: Record<string, string>;
  body?: string;
}

const HOSTS = ['exact.test', 'EXACT.TEST', 'Mixed.Case.test', 'mixed.case.test', 'withport.test:8080', 'withport.test', 'x.suffix.test', 'suffix.test',
  'x.b.suffix.test', 'b.suffix.test', 'deep.x.b.suffix.test', 'a-dash.test', '-dash.test', 'prefix.anything', 'prefix.', 'mut.test', 'nomatch.test', 'other.test', 'exact.test:80'];

const PATHS = ['/exact', '/exact/', '/exact?x=1', '/EXACT', '/Exact-CI', '/exact-ci', '/EXACT-CI?q', '/pre', '/prefix', '/pre/x/y', '/PRE', '/ci/x', '/CI/x', '/Ci/y', '/ci',
  '/re/123', '/re/12a', '/re/', '/re/1?x=y', '/sep', '/sep/', '/sep/x', '/sepx', '/sep?x', '/weighted', '/weighted/x',
  '/redirect/https', '/redirect/https/x?q=1', '/redirect/host/p?q', '/redirect/path?q=1', '/redirect/prefix/rest?a=b', '/redirect/strip/x?a=b', '/redirect/port/x', '/redirect/see',
  '/direct/200', '/direct/503', '/direct/204', '/direct/418', '/rewrite/prefix', '/rewrite/prefix/x?y=z', '/rewrite/root/a/b', '/rewrite/regex/abc/42', '/rewrite/regex/abc/4x', '/rewrite/part/foo?o=o', '/rewrite/host',
  '/nocluster', '/empty', '/refused', '/reset', '/timeout', '/notimeout', '/retry5xx', '/retrycodes', '/retryconnect', '/multi', '/multi', '/chunked',
  '/status/200', '/status/201', '/status/204', '/status/301', '/status/400', '/status/404', '/status/429', '/status/500', '/status/502', '/status/503', '/status/504',
  '/header/x-custom/v1', '/header/server/upstream-server', '/header/x-envoy-upstream-service-time/7', '/', '/any/thing', '/a%20b', '/%2e%2e/x', '/a/../b', '/a//b', '/a?', '/q', '/q?k=v', '/q?k=w', '/q?p', '/q?p=1&k=v', '/q?K=v', '/q?k=v&k=w'];

export function cases(): Case[] {
  const out: Case[] = [];
  let n = 0;
  const add = (c: Omit<Case, 'id'>, label: string) => out.push({ id: `${++n}:${label}`, ...c });
  for (const host of HOSTS) for (const path of ['/', '/only']) add({ listener: 'main', host, path }, `host ${host} ${path}`);
  for (const path of PATHS) add({ listener: 'main', host: 'any.test', path }, `path ${path}`);
  const hdr: [string, Record<string, string>][] = [
    ['exact yes', { 'x-match': 'yes' }], ['exact YES', { 'x-match': 'YES' }], ['present', { 'x-present': '' }], ['invert no', { 'x-inv': 'no' }], ['invert other', { 'x-inv': 'other' }],
    ['range 15', { 'x-num': '15' }], ['range 20', { 'x-num': '20' }], ['range 9', { 'x-num': '9' }], ['range abc', { 'x-num': 'abc' }], ['range -5', { 'x-num': '-5' }],
    ['regex aab', { 'x-re': 'aab' }], ['regex aabc', { 'x-re': 'aabc' }], ['prefix ci ABc', { 'x-ci': 'ABc' }], ['suffix', { 'x-suf': 'a.json' }], ['contains', { 'x-con': 'amidb' }],
    ['two both', { 'x-one': '1', 'x-two': '2' }], ['two one', { 'x-one': '1' }], ['absent', { 'x-want-absent': '1' }], ['absent violated', { 'x-want-absent': '1', 'x-absent': '1' }], ['none', {}],
    ['dup match', { 'x-match': 'yes, yes' }],
  ];
  for (const [label, headers] of hdr) add({ listener: 'main', host: 'any.test', path: '/hdr', headers }, `hdr ${label}`);
  add({ listener: 'main', host: 'any.test', path: '/hdr', method: 'PUT' }, 'hdr :method PUT');
  add({ listener: 'main', host: 'any.test', path: '/grpc/x', headers: { 'content-type': 'application/grpc' } }, 'grpc content-type');
  for (const p of ['/fault/abort', '/fault/never', '/fault/delay', '/fault/both', '/fault/header', '/fault/cluster']) add({ listener: 'main', host: 'any.test', path: p }, `fault ${p}`);
  add({ listener: 'main', host: 'any.test', path: '/fault/header', headers: { 'x-fault': 'yes' } }, 'fault header matched');
  add({ listener: 'main', host: 'any.test', path: '/fault/grpc', headers: { 'content-type': 'application/grpc' } }, 'fault grpc abort');
  add({ listener: 'main', host: 'any.test', path: '/fault/grpc' }, 'fault grpc abort on plain HTTP');
  add({ listener: 'main', host: 'any.test', path: '/grpc/x', headers: { 'content-type': 'application/grpc+proto' } }, 'grpc+proto content-type');
  add({ listener: 'main', host: 'any.test', path: '/grpc/x', headers: { 'content-type': 'application/json' } }, 'grpc json');
  for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']) {
    add({ listener: 'main', host: 'any.test', path: '/post', method, body: method === 'GET' || method === 'HEAD' ? undefined : `body-${method}` }, `method ${method}`);
  }
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) add({ listener: 'main', host: 'any.test', path: '/post', method }, `method ${method} without body`);
  add({ listener: 'main', host: 'any.test', path: '/post', method: 'POST', headers: { 'transfer-encoding': 'chunked' }, body: 'chunked-body' }, 'POST chunked');
  add({ listener: 'main', host: 'any.test', path: '/post', method: 'POST', body: 'x'.repeat(200_000) }, 'POST 200 KB');
  add({ listener: 'main', host: 'any.test', path: '/headers', headers: { 'x-remove-me': '1', 'x-overwrite': 'old', 'x-ifabsent': 'mine', 'x-append': 'one' } }, 'mutations with existing');
  add({ listener: 'main', host: 'any.test', path: '/headers', headers: { 'x-ifexists': 'there' } }, 'mutations overwrite-if-exists');
  add({ listener: 'main', host: 'any.test', path: '/headers' }, 'mutations plain');
  add({ listener: 'main', host: 'mut.test', path: '/x' }, 'vhost+global mutations');
  add({ listener: 'main', host: 'any.test', path: '/', headers: { 'x-forwarded-proto': 'https' } }, 'internal keeps xfp');
  add({ listener: 'main', host: 'any.test', path: '/', headers: { 'x-forwarded-for': '1.2.3.4' } }, 'internal keeps xff');
  add({ listener: 'main', host: 'any.test', path: '/', headers: { 'x-request-id': 'given-id' } }, 'keeps x-request-id');
  add({ listener: 'main', host: 'any.test', path: '/', headers: { connection: 'keep-alive, x-hop', 'x-hop': '1', 'keep-alive': 'timeout=5', 'proxy-connection': 'x' } }, 'hop-by-hop stripped');
  add({ listener: 'main', host: 'any.test', path: '/', headers: { te: 'trailers' } }, 'te trailers kept');
  add({ listener: 'main', host: 'any.test', path: '/', headers: { te: 'gzip' } }, 'te gzip dropped');
  add({ listener: 'main', host: 'any.test', path: '/', headers: { expect: '100-continue' }, method: 'POST', body: 'x' }, 'expect 100-continue');
  add({ listener: 'main', host: 'any.test', path: '/', headers: { 'x-envoy-expected-rq-timeout-ms': '5' } }, 'client expected-rq-timeout');
  add({ listener: 'edge', host: 'edge.test', path: '/' }, 'edge plain');
  add({ listener: 'edge', host: 'edge.test', path: '/', headers: { 'x-forwarded-for': '1.2.3.4' } }, 'edge xff append');
  add({ listener: 'edge', host: 'edge.test', path: '/', headers: { 'x-forwarded-proto': 'https' } }, 'edge xfp overwritten');
  add({ listener: 'edge', host: 'edge.test', path: '/', headers: { 'x-request-id': 'given-id' } }, 'edge x-request-id internal client');
  add({ listener: 'edge', host: 'edge.test', path: '/', headers: { 'x-envoy-internal': 'false' } }, 'edge x-envoy-internal');
  add({ listener: 'edge', host: 'edge.test', path: '/direct' }, 'edge direct server_name');
  add({ listener: 'edge', host: 'edge.test', path: '/header/server/up' }, 'edge server overwritten');
  add({ listener: 'small', host: 'small.test', path: '/', headers: { 'x-big': 'x'.repeat(4000) } }, 'small 4 KB header');
  add({ listener: 'small', host: 'small.test', path: '/', headers: { 'x-big': 'x'.repeat(9000) } }, 'small 9 KB header');
  add({ listener: 'small', host: 'small.test', path: '/slow' }, 'stream idle timeout');
  add({ listener: 'main', host: 'any.test', path: '/', headers: { 'x-big': 'x'.repeat(50_000) } }, 'main 50 KB header');
  add({ listener: 'main', host: 'any.test', path: '/', headers: { 'x-big': 'x'.repeat(70_000) } }, 'main 70 KB header');
  add({ listener: 'tcp', path: '/tcp-path', host: 'tcp.test' }, 'tcp_proxy HTTP');
  return out;
}
