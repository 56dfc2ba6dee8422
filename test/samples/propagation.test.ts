/**
 * The samples' pure pieces as tables: OpenTelemetry-B3 re-encoding, header picking, the signed
 * session cookie, simplejson output, and the MongoDB wire encoding.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { b3Forward, BACKEND_FORWARDED, pickHeaders } from '../../samples/common/propagation.js';
import { decodeDocument, decodeOpMsg, encodeDocument, encodeOpMsg, MessageReader, ObjectId } from '../../samples/mongodb/wire.js';
import { pyJsonDumps } from '../../samples/productpage/pyjson.js';
import { decodeSession, encodeSession, parseCookies } from '../../samples/productpage/session.js';

const T32 = '463ac35c9f6413ad48485a3953bb6124';
const S16 = 'a2fb4a1d1a96d312';

describe('b3Forward (OpenTelemetry B3MultiFormat extract → inject)', () => {
  const cases: [string, Record<string, string>, Record<string, string>][] = [
    ['multi, sampled', { 'x-b3-traceid': T32, 'x-b3-spanid': S16, 'x-b3-sampled': '1', 'x-b3-parentspanid': S16 }, { 'x-b3-traceid': T32, 'x-b3-spanid': S16, 'x-b3-sampled': '1' }],
    ['multi, no sampled header', { 'x-b3-traceid': T32, 'x-b3-spanid': S16 }, { 'x-b3-traceid': T32, 'x-b3-spanid': S16, 'x-b3-sampled': '0' }],
    ['multi, debug flag', { 'x-b3-traceid': T32, 'x-b3-spanid': S16, 'x-b3-flags': '1' }, { 'x-b3-traceid': T32, 'x-b3-spanid': S16, 'x-b3-sampled': '1' }],
    ['multi, upper-case hex', { 'x-b3-traceid': T32.toUpperCase(), 'x-b3-spanid': S16.toUpperCase(), 'x-b3-sampled': 'true' }, { 'x-b3-traceid': T32, 'x-b3-spanid': S16, 'x-b3-sampled': '1' }],
    ['single, 4 fields', { b3: `${T32}-${S16}-1-${S16}` }, { 'x-b3-traceid': T32, 'x-b3-spanid': S16, 'x-b3-sampled': '1' }],
    ['single, deferred', { b3: `${T32}-${S16}` }, { 'x-b3-traceid': T32, 'x-b3-spanid': S16, 'x-b3-sampled': '1' }],
    ['single, 64-bit trace, deny', { b3: `48485a3953bb6124-${S16}-0` }, { 'x-b3-traceid': '000000000000000048485a3953bb6124', 'x-b3-spanid': S16, 'x-b3-sampled': '0' }],
    ['single wins over multi', { b3: `${T32}-${S16}-d`, 'x-b3-traceid': '1111111111111111', 'x-b3-spanid': '2222222222222222' }, { 'x-b3-traceid': T32, 'x-b3-spanid': S16, 'x-b3-sampled': '1' }],
    ['single, sampling only', { b3: '1' }, {}],
    ['bad span id', { 'x-b3-traceid': T32, 'x-b3-spanid': 'xyz' }, {}],
    ['all-zero trace id', { 'x-b3-traceid': '0'.repeat(32), 'x-b3-spanid': S16 }, {}],
    ['nothing', {}, {}],
  ];
  for (const [name, incoming, want] of cases) {
    test(name, () => assert.deepEqual(b3Forward(incoming), want));
  }
});

test('pickHeaders keeps the listed headers in list order and joins repeats', () => {
  assert.deepEqual(pickHeaders({ 'end-user': 'jason', 'x-request-id': 'r', 'x-other': 'no', cookie: 'a=1; b=2' }, BACKEND_FORWARDED), { 'x-request-id': 'r', 'end-user': 'jason', cookie: 'a=1; b=2' });
  assert.deepEqual(Object.keys(pickHeaders({ jwt: 'j', 'x-request-id': 'r' }, BACKEND_FORWARDED)), ['x-request-id', 'jwt']);
});

describe('session cookie', () => {
  test('round-trips the user', () => assert.deepEqual(decodeSession(encodeSession({ user: 'jason' })), { user: 'jason' }));
  test('a changed payload or signature is no session', () => {
    const v = encodeSession({ user: 'jason' });
    const [payload, sig] = v.split('.') as [string, string];
    const other = Buffer.from('{"user":"admin"}').toString('base64url');
    assert.deepEqual(decodeSession(`${other}.${sig}`), {});
    assert.deepEqual(decodeSession(`${payload}.${sig.slice(0, -1)}A`), {});
    assert.deepEqual(decodeSession('garbage'), {});
    assert.deepEqual(decodeSession(undefined), {});
  });
  test('parseCookies takes the first of repeated names and unquotes', () => {
    const c = parseCookies({ cookie: 'session=abc; other="x y"; session=zzz' });
    assert.equal(c.get('session'), 'abc');
    assert.equal(c.get('other'), 'x y');
  });
});

test('pyJsonDumps writes simplejson\'s default layout', () => {
  assert.equal(pyJsonDumps({ id: 0, error: 'x', list: [1, 'a', null, true], nested: { 'ISBN-10': 'é' } }), '{"id": 0, "error": "x", "list": [1, "a", null, true], "nested": {"ISBN-10": "\\u00e9"}}');
});

describe('MongoDB wire protocol (mongodb stand-in and ratings v2)', () => {
  test('BSON round-trips the types Bookinfo uses', () => {
    const id = new ObjectId();
    const doc = { s: 'é', i: 5, d: 4.5, big: 2n ** 40n, t: true, n: null, a: [1, 'x', { k: false }], o: { _id: id }, when: new Date(1700000000000) };
    const back = decodeDocument(encodeDocument(doc)).doc;
    assert.deepEqual({ ...back, o: undefined }, { ...doc, o: undefined });
    assert.equal(((back.o as Record<string, unknown>)._id as ObjectId).toHexString(), id.toHexString());
  });
  test('OP_MSG frames split across chunks are reassembled', () => {
    const msg = encodeOpMsg(7, 0, { find: 'ratings', filter: {}, $db: 'test' });
    const reader = new MessageReader();
    assert.deepEqual(reader.push(msg.subarray(0, 10)), []);
    const [m] = reader.push(msg.subarray(10));
    assert.equal(m!.requestId, 7);
    assert.deepEqual(decodeOpMsg(m!.body), { find: 'ratings', filter: {}, $db: 'test' });
  });
  test('a length field out of range is an error, not a hang', () => {
    const bad = Buffer.alloc(16);
    bad.writeInt32LE(3, 0);
    assert.throws(() => new MessageReader().push(bad), /out of range/);
  });
});
