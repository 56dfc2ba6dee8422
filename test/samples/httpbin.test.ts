/**
 * The httpbin sample in both flavours: go-httpbin's JSON (what samples/httpbin/httpbin.yaml runs)
 * and the Python httpbin's (the mirroring task's image), endpoint by endpoint.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { http, startSample, stopAll, type RunningSample } from './helpers.js';

type Json = Record<string, unknown>;
const json = (body: string): Json => JSON.parse(body) as Json;

describe('httpbin (go-httpbin flavour)', () => {
  let hb: RunningSample;
  before(async () => {
    hb = await startSample('httpbin');
  });
  after(stopAll);

  test('/get: args, headers as Go-canonical arrays, method, origin ip:port, url', async () => {
    const res = await http(hb.port, '/get?a=1&a=2&b=x', { headers: { 'x-b3-traceid': 'abc', 'X-Request-Id': 'r1', 'user-agent': 'curl/8.16.0' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(res.headers['access-control-allow-origin'], '*');
    const b = json(res.body);
    assert.deepEqual(Object.keys(b), ['args', 'headers', 'method', 'origin', 'url']);
    assert.deepEqual(b.args, { a: ['1', '2'], b: ['x'] });
    const h = b.headers as Record<string, string[]>;
    assert.deepEqual(h['X-B3-Traceid'], ['abc']);
    assert.deepEqual(h['X-Request-Id'], ['r1']);
    assert.deepEqual(h['User-Agent'], ['curl/8.16.0']);
    assert.deepEqual(h['Host'], [`127.0.0.1:${hb.port}`]);
    assert.deepEqual(Object.keys(h), [...Object.keys(h)].sort(), 'keys sorted like Go maps');
    assert.equal(b.method, 'GET');
    assert.match(String(b.origin), /^127\.0\.0\.1:\d+$/);
    assert.equal(b.url, `http://127.0.0.1:${hb.port}/get?a=1&a=2&b=x`);
    assert.ok(res.body.endsWith('}\n') && res.body.includes('\n  "args"'), 'two-space indent and a final newline');
  });

  test('/headers, /ip (X-Forwarded-For first), /user-agent, /uuid', async () => {
    assert.deepEqual((json((await http(hb.port, '/headers', { headers: { foo: 'bar' } })).body).headers as Json)['Foo'], ['bar']);
    assert.deepEqual(json((await http(hb.port, '/ip', { headers: { 'x-forwarded-for': '10.1.2.3, 10.0.0.1' } })).body), { origin: '10.1.2.3' });
    assert.match(String(json((await http(hb.port, '/ip')).body).origin), /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(json((await http(hb.port, '/user-agent', { headers: { 'user-agent': 'spar' } })).body), { 'user-agent': 'spar' });
    assert.match(String(json((await http(hb.port, '/uuid')).body).uuid), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('/post with a form and with JSON; /anything/<sub> echoes any method', async () => {
    const form = json((await http(hb.port, '/post', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'x=1&y=2' })).body);
    assert.deepEqual(Object.keys(form), ['args', 'headers', 'method', 'origin', 'url', 'data', 'files', 'form', 'json']);
    assert.equal(form.data, 'x=1&y=2');
    assert.deepEqual(form.form, { x: ['1'], y: ['2'] });
    assert.equal(form.json, null);
    const body = json((await http(hb.port, '/post', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":[1,2]}' })).body);
    assert.deepEqual(body.json, { a: [1, 2] });
    const any = json((await http(hb.port, '/anything/foo/bar?q=1', { method: 'PUT', body: 'hi' })).body);
    assert.equal(any.method, 'PUT');
    assert.equal(any.data, 'hi');
    assert.equal(any.url, `http://127.0.0.1:${hb.port}/anything/foo/bar?q=1`);
    assert.equal((await http(hb.port, '/get', { method: 'POST' })).status, 405);
    assert.equal((await http(hb.port, '/post')).status, 405);
  });

  test('/status/<code>: the code, teapot body, 400 for a bad code, weighted choice', async () => {
    for (const code of [200, 201, 404, 500, 503]) assert.equal((await http(hb.port, `/status/${code}`)).status, code);
    const teapot = await http(hb.port, '/status/418');
    assert.equal(teapot.body, "I'm a teapot!");
    const bad = await http(hb.port, '/status/abc');
    assert.equal(bad.status, 400);
    assert.equal(json(bad.body).status_code, 400);
    assert.equal((await http(hb.port, '/status/200:0,503:1')).status, 503);
    assert.equal((await http(hb.port, '/status/999')).status, 400);
  });

  test('/delay/<s>: answers after the delay, refuses more than 10 s', async () => {
    const res = await http(hb.port, '/delay/0.5');
    assert.equal(res.status, 200);
    assert.ok(res.ms >= 480, `took ${res.ms.toFixed(0)} ms`);
    assert.match(String(res.headers['server-timing']), /^initial_delay;dur=500/);
    assert.equal(json(res.body).method, 'GET');
    const tooLong = await http(hb.port, '/delay/11');
    assert.equal(tooLong.status, 400);
    assert.equal(json(tooLong.body).error, 'Bad Request');
  });

  test('/response-headers sets the query as headers; unknown paths are 404', async () => {
    const res = await http(hb.port, '/response-headers?X-Spar=yes&X-Spar=again');
    assert.equal(res.headers['x-spar'], 'yes, again');
    assert.deepEqual(json(res.body), { 'X-Spar': ['yes', 'again'] });
    const missing = await http(hb.port, '/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.body, '404 page not found\n');
  });

  test('one slog access line per request on stdout', async () => {
    await http(hb.port, '/status/204');
    await new Promise((r) => setTimeout(r, 50));
    assert.match(hb.output(), /level=INFO msg="204 GET \/status\/204 [\d.]+ms" status=204 method=GET uri=\/status\/204/);
  });
});

describe('httpbin (kennethreitz flavour)', () => {
  let hb: RunningSample;
  before(async () => {
    hb = await startSample('httpbin', { raw: true, args: ['--flavor', 'kennethreitz', '-b', '127.0.0.1:0', '--access-logfile', '-'] });
  });
  after(stopAll);

  test('/headers: Title-Case names, one string each, proxy headers hidden unless show_env', async () => {
    const res = await http(hb.port, '/headers', { headers: { 'x-b3-traceid': 'abc', 'x-request-id': 'r1', 'x-envoy-attempt-count': '1' } });
    assert.equal(res.headers['content-type'], 'application/json');
    const h = json(res.body).headers as Json;
    assert.equal(h['X-B3-Traceid'], 'abc');
    assert.equal(h['X-Envoy-Attempt-Count'], '1');
    assert.equal(h['Host'], `127.0.0.1:${hb.port}`);
    assert.equal(h['X-Request-Id'], undefined);
    const env = json((await http(hb.port, '/headers?show_env=1', { headers: { 'x-request-id': 'r1' } })).body).headers as Json;
    assert.equal(env['X-Request-Id'], 'r1');
  });

  test('/get and /anything: sorted keys, scalar args, origin without port; gunicorn access log', async () => {
    const get = json((await http(hb.port, '/get?a=1')).body);
    assert.deepEqual(Object.keys(get), ['args', 'headers', 'origin', 'url']);
    assert.deepEqual(get.args, { a: '1' });
    assert.equal(get.origin, '127.0.0.1');
    const any = json((await http(hb.port, '/anything', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"k":1}' })).body);
    assert.deepEqual(Object.keys(any), ['args', 'data', 'files', 'form', 'headers', 'json', 'method', 'origin', 'url']);
    assert.deepEqual(any.json, { k: 1 });
    await new Promise((r) => setTimeout(r, 50));
    assert.match(hb.output(), /127\.0\.0\.1 - - \[\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET \/get\?a=1 HTTP\/1\.1" 200 \d+ "-" "-"/);
  });
});
