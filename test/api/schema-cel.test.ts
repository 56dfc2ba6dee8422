/**
 * The CEL side of schema validation: every rule in Istio's CRD bundle compiles with every function
 * it calls bound; rules behave as the API server's (messages, messageExpression, reason,
 * fieldPath, transition rules skipped, JSON numbers typed by the schema); and the Kubernetes URL
 * library follows Go's net/url, which Istio's rules were written against.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isCelError } from '@bufbuild/cel';
import { celErrors, compileCel } from '../../src/api/schema/cel.js';
import { allCrds, findCrd, type JsonSchema } from '../../src/api/schema/crds.js';
import { errorBody } from '../../src/api/schema/field-error.js';
import { crdBundlePath } from '../../src/common/paths.js';

function rulesIn(x: unknown, out: { rule: string; messageExpression?: string }[] = []): typeof out {
  if (Array.isArray(x)) for (const v of x) rulesIn(v, out);
  else if (x && typeof x === 'object') {
    const o = x as Record<string, unknown>;
    if (Array.isArray(o['x-kubernetes-validations'])) out.push(...(o['x-kubernetes-validations'] as { rule: string }[]));
    for (const v of Object.values(o)) rulesIn(v, out);
  }
  return out;
}

test('every CEL rule in Istio\'s CRDs compiles, with every function it calls bound', () => {
  const schemas = allCrds().flatMap((c) => findCrd(c.group, c.kind)?.versions.map((v) => v.schema()) ?? []);
  assert.ok(schemas.length >= 30 && schemas.every((s) => s !== undefined), 'every version of every CRD has a schema');
  const rules = rulesIn(schemas);
  assert.equal(rules.length, (readFileSync(crdBundlePath, 'utf8').match(/^\s*(- )?rule:/gm) ?? []).length, 'every rule in the bundle is found');
  assert.ok(rules.length >= 345, `expected Istio's 345+ rules, found ${rules.length}`);
  const failures: string[] = [];
  for (const r of rules) {
    for (const expr of [r.rule, r.messageExpression]) {
      if (!expr) continue;
      const p = compileCel(expr);
      if (typeof p === 'string') failures.push(`${expr}: ${p}`);
    }
  }
  assert.deepEqual(failures, []);
});

function check(schema: JsonSchema, value: unknown): string[] {
  return celErrors(value, schema, 'spec').map((e) => `${e.path}: ${errorBody(e)}`);
}

test('a failed rule: message, or "failed rule: <rule>"; the value\'s schema type', () => {
  const schema: JsonSchema = { type: 'integer', 'x-kubernetes-validations': [{ rule: 'self > 1' }, { rule: 'self > 2', message: 'must exceed 2' }] };
  assert.deepEqual(check(schema, 1), ['spec: Invalid value: "integer": failed rule: self > 1', 'spec: Invalid value: "integer": must exceed 2']);
  assert.deepEqual(check(schema, 3), []);
});

test('messageExpression, reason and fieldPath', () => {
  const schema: JsonSchema = {
    type: 'object',
    properties: { a: { type: 'string' } },
    'x-kubernetes-validations': [
      { rule: 'self.a != "x"', messageExpression: '"a is " + self.a', fieldPath: '.a' },
      { rule: 'self.a != "x"', message: 'no x', reason: 'FieldValueForbidden' },
      { rule: 'self.a != "x"', message: 'need', reason: 'FieldValueRequired', fieldPath: "['a']" },
    ],
  };
  assert.deepEqual(check(schema, { a: 'x' }), ['spec.a: Invalid value: "object": a is x', 'spec: Forbidden: no x', 'spec.a: Required value: need']);
});

test('transition rules (oldSelf) are skipped: validation is a create', () => {
  const schema: JsonSchema = { type: 'string', 'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'immutable' }] };
  assert.deepEqual(check(schema, 'a'), []);
});

test('rules run for every list item and map value; null values are skipped', () => {
  const item: JsonSchema = { type: 'integer', 'x-kubernetes-validations': [{ rule: 'self < 10', message: 'small' }] };
  assert.deepEqual(check({ type: 'array', items: item }, [1, 20, null, 30]), ['spec[1]: Invalid value: "integer": small', 'spec[3]: Invalid value: "integer": small']);
  assert.deepEqual(check({ type: 'object', additionalProperties: item }, { a: 1, b: 11 }), ['spec[b]: Invalid value: "integer": small']);
});

test('JSON numbers take the schema\'s CEL type: integer fields are ints, number fields doubles', () => {
  const rule = (t: string) => [{ rule: `type(self) == ${t}`, message: `not ${t}` }];
  assert.deepEqual(check({ type: 'integer', 'x-kubernetes-validations': rule('int') }, 5), []);
  assert.deepEqual(check({ type: 'number', 'x-kubernetes-validations': rule('double') }, 5), []);
});

test('a rule Spar cannot evaluate is a Warning naming it, never an Error', () => {
  const schema: JsonSchema = { type: 'string', 'x-kubernetes-validations': [{ rule: 'self.noSuchFunction()', message: 'm' }] };
  const [e] = celErrors('x', schema, 'spec');
  assert.equal(e?.type, 'Unchecked');
  assert.match(errorBody(e!), /^not checked: Spar cannot evaluate the CRD rule "self.noSuchFunction\(\)" \(unbound function: noSuchFunction\)$/);
});

test('evaluation errors: "<error> evaluating rule: <message>"', () => {
  const schema: JsonSchema = { type: 'object', 'x-kubernetes-validations': [{ rule: 'self.missing == 1', message: 'm' }] };
  assert.deepEqual(check(schema, {}), ['spec: Invalid value: "object": no such key: missing evaluating rule: m']);
});

function evalCel(expr: string): unknown {
  const p = compileCel(expr);
  if (typeof p === 'string') return `compile error: ${p}`;
  const r = p({});
  return isCelError(r) ? `error: ${r.message}` : r;
}

test('Kubernetes URL library with Go net/url acceptance', () => {
  const cases: [string, boolean][] = [
    ['https://example.com/path', true], ['/absolute/path', true], ['http://[::1]:80/', true], ['oci://ghcr.io/istio/x:1.0', true],
    ['example.com', false], ['http://host:port/', false], ['http://a b.com/', false], ['http://x/%zz', false],
    ['1http://x', false], ['', false], ['http://#%blah$#@', false], ['hTPp\\\blah', false],
  ];
  for (const [u, ok] of cases) assert.equal(evalCel(`isURL(${JSON.stringify(u)})`), ok, u);
  assert.equal(evalCel('url("https://a.com:8080/p?x=1&x=2").getHost()'), 'a.com:8080');
  assert.equal(evalCel('url("https://a.com:8080/p?x=1&x=2").getHostname()'), 'a.com');
  assert.equal(evalCel('url("https://a.com:8080/p?x=1&x=2").getPort()'), '8080');
  assert.equal(evalCel('url("https://a.com:8080/p?x=1&x=2").getEscapedPath()'), '/p');
  assert.equal(evalCel('url("https://a.com/p?x=1&x=2").getQuery()["x"] == ["1", "2"]'), true);
  assert.equal(evalCel('url("HTTPS://a.com").getScheme()'), 'https');
  assert.equal(evalCel('url("x")'), 'error: URL parse error during conversion from string: parse "x": invalid URI for request');
});

test('cel-go conversions and the strings extension', () => {
  assert.equal(evalCel('int("42") + 1'), 43n);
  assert.equal(evalCel('int("4x2")'), "error: type conversion error from 'string' to 'int'");
  assert.equal(evalCel('"unix:///a".substring(7, 8)'), '/');
  assert.equal(evalCel('"A-b".lowerAscii().split("-") == ["a", "b"]'), true);
  assert.equal(evalCel('duration("1h30m") > duration("90m")'), false);
  assert.equal(evalCel('duration(".5s") == duration("500ms") && duration("1μs") == duration("1000ns")'), true);
  assert.equal(evalCel('duration("")'), 'error: time: invalid duration ""');
  assert.equal(evalCel('duration("5")'), 'error: time: missing unit in duration "5"');
  assert.equal(evalCel('duration("1d")'), 'error: time: unknown unit "d" in duration "1d"');
  assert.equal(evalCel('"ab-1".matches("^[a-z]+-[0-9]$")'), true);
});

test('Kubernetes IP and CIDR libraries (netip rules: no zones, no IPv4-mapped IPv6, canonical forms)', () => {
  const yes = ['isIP("1.2.3.4")', 'isIP("2001:db8::1")', '!isIP("01.2.3.4")', '!isIP("::ffff:1.2.3.4")', '!isIP("fe80::1%eth0")',
    'ip("::1").isLoopback()', 'ip("10.0.0.1").isGlobalUnicast()', 'ip("fe80::1").isLinkLocalUnicast()', 'ip("224.0.0.1").isLinkLocalMulticast()',
    'ip("0.0.0.0").isUnspecified()', 'ip("1.2.3.4").family() == 4', 'ip.isCanonical("2001:db8::1")', '!ip.isCanonical("2001:DB8::1")',
    'string(ip("2001:DB8:0:0:0:0:0:1")) == "2001:db8::1"', 'string(ip("1:0:0:1:0:0:0:1")) == "1:0:0:1::1"',
    'cidr("10.0.0.0/8").containsIP("10.1.2.3")', '!cidr("10.0.0.0/8").containsIP(ip("11.1.2.3"))', 'cidr("10.0.0.0/8").containsCIDR("10.1.0.0/16")',
    '!cidr("10.0.0.0/16").containsCIDR(cidr("10.0.0.0/8"))', 'string(cidr("10.1.0.0/8").masked()) == "10.0.0.0/8"', 'cidr("::/0").prefixLength() == 0',
    'string(cidr("1.2.3.4/24").ip()) == "1.2.3.4"', '!isCIDR("1.2.3.4/33")', 'isCIDR("2001:db8::/32")'];
  for (const e of yes) assert.equal(evalCel(e), true, e);
  assert.equal(evalCel('ip("x")'), 'error: IP Address "x" parse error during conversion from string: ParseAddr("x"): unable to parse IP');
  assert.equal(evalCel('string(1) == "1" && int(2.0) == 2'), true, 'overloads added for maps leave the standard ones in place');
});
