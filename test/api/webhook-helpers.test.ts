/**
 * The shared checks of the webhook rules, against the expectations of Istio's own unit tests
 * (pkg/config/host name_test.go, validation/agent validation_test.go, validation_test.go): host
 * matching, wildcard domains, FQDNs, IPs and CIDRs, durations, header names and values, RE2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  hostMatches, hostSubsetOf, validateFQDN, validateIPSubnet, validateNamespaceSlashWildcardHostname, validateWildcardDomain,
  validateWildcardDomainForGateway,
} from '../../src/api/validation/hosts.js';
import { parseDuration, validateDuration } from '../../src/api/validation/duration.js';
import { validateHeaderValue, validateMatchHeaderName, validateStrictHeaderName } from '../../src/api/validation/headers.js';
import { re2Error, validateRegex } from '../../src/api/validation/regex.js';
import { validateLabelKey, validateLabelValue } from '../../src/api/validation/labels.js';

test('host matching (host.Name.Matches / SubsetOf)', () => {
  const matches: [string, string, boolean][] = [
    ['', '', true], ['a.facebook.com', '*.facebook.COM', false], ['', 'foo.com', false], ['foo.com', '', false],
    ['*', 'foo.com', true], ['*', '*.com', true], ['*', 'com', true], ['*', '*', true], ['*', '', true],
    ['*.com', '*.foo.com', true], ['foo.com', '*.foo.com', false], ['*.foo.com', 'foo.com', false],
    ['*.foo.bar.baz', 'baz', false], ['baz', '*.foo.bar.baz', false], ['*.foo.bar.baz', '*.baz', true], ['foo.bar.baz', '*.baz', true],
  ];
  for (const [a, b, want] of matches) {
    assert.equal(hostMatches(a, b), want, `Matches(${a}, ${b})`);
    assert.equal(hostMatches(b, a), want, `Matches(${b}, ${a})`);
  }
  const subset: [string, string, boolean][] = [
    ['foo.com', '*', true], ['*.foo.com', '*.com', true], ['*.com', '*.foo.com', false], ['foo.com', '*.com', true],
    ['*.com', 'foo.com', false], ['foo.com', 'foo.com', true], ['bar.com', 'foo.com', false], ['*', '*.com', false],
  ];
  for (const [a, b, want] of subset) assert.equal(hostSubsetOf(a, b), want, `SubsetOf(${a}, ${b})`);
});

test('wildcard domains, FQDNs and the auto-generated SNI form', () => {
  const wildcard: [string, boolean][] = [
    ['', false], ['x'.repeat(256), false], ['x'.repeat(63), true], ['*', true], ['*.bar.com', true], ['*foo', true],
    ['*foo.bar.com', true], ['*-foo.bar.com', true], ['foo.*.com', false], ['foo*.bar.com', false], ['1.1.1.1', false],
    ['x'.repeat(64), false], ['foo.bar.', true], ['foo..bar', false],
  ];
  for (const [d, ok] of wildcard) assert.equal(validateWildcardDomain(d) === undefined, ok, `ValidateWildcardDomain(${d}): ${validateWildcardDomain(d)}`);
  const gatewaySni: [string, boolean][] = [
    ['outbound_.80_._.e2e.foobar.mesh', true], ['outbound.com', true], ['neverbound_.80_._.e2e.foobar.mesh', false],
    ['outbound_.thisIsNotAPort_._.e2e.foobar.mesh', false], ['outbound_.80_._', false],
  ];
  for (const [d, ok] of gatewaySni) assert.equal(validateWildcardDomainForGateway(true, d) === undefined, ok, d);
  const fqdn: [string, boolean][] = [
    ['x'.repeat(256), false], ['', false], ['istio.io', true], ['istio.io.', true], ['istio-pilot.istio-system.svc.cluster.local', true],
    ['istio-pilot.istio-system.svc.cluster.local.', true], ['*.istio.io', false], ['foo.123', false],
  ];
  for (const [d, ok] of fqdn) assert.equal(validateFQDN(d) === undefined, ok, `ValidateFQDN(${d})`);
  assert.equal(validateWildcardDomain(''), 'empty domain name not allowed');
  assert.equal(validateWildcardDomain('foo.ba!r'), 'domain name "foo.ba!r" invalid (label "ba!r" invalid)');
});

test('gateway and sidecar host forms (namespace/dnsName)', () => {
  const gateway: [string, boolean][] = [
    ['foo.bar.com', true], ['ns/foo.bar.com', true], ['*/foo.bar.com', true], ['./foo.bar.com', true], ['1.1.1.1', true], ['*', true],
    ['foo', false], ['*bar.com', false], ['~/foo.bar.com', false], ['ns_1/foo.bar.com', false], ['/foo.bar.com', false],
  ];
  for (const [h, ok] of gateway) assert.equal(validateNamespaceSlashWildcardHostname(h, true).length === 0, ok, `gateway host ${h}`);
  const sidecar: [string, boolean][] = [
    ['*/*', true], ['./*', true], ['~/*', true], ['~ns1/*', true], ['ns1/foo.com', true], ['*', false], ['/', false], ['foo.com', false], ['ns1/foo', false],
  ];
  for (const [h, ok] of sidecar) assert.equal(validateNamespaceSlashWildcardHostname(h, false).length === 0, ok, `sidecar host ${h}`);
});

test('IP addresses and CIDR blocks', () => {
  const cases: [string, boolean][] = [
    ['1.1.1.1', true], ['1.1.A.1', false], ['2001:1::1', true], ['2001:1:G::1', false],
    ['1.1.1.1/24', true], ['1.1.1.1/48', false], ['2001:1::1/64', true], ['2001:1::1/132', false], ['10.0.0.0/8/8', false],
  ];
  for (const [v, ok] of cases) assert.equal(validateIPSubnet(v) === undefined, ok, v);
});

test('durations: Go syntax, exact nanoseconds, 1ms minimum, ms precision', () => {
  assert.equal(parseDuration('1h30m'), 5_400_000_000_000n);
  assert.equal(parseDuration('3.000000042s'), 3_000_000_042n);
  assert.equal(parseDuration('1.5µs'), 1_500n);
  assert.equal(parseDuration('-2s'), -2_000_000_000n);
  assert.equal(parseDuration('0'), 0n);
  for (const bad of ['', '10', 's', '1.5', '1d', '1 s', '--1s']) assert.equal(parseDuration(bad), undefined, bad);
  const cases: [string, boolean][] = [['1s', true], ['1ms', true], ['0.999ms', false], ['1.000000001s', false], ['0s', false], ['-1s', false], ['15m', true]];
  for (const [d, ok] of cases) assert.equal(validateDuration(d) === undefined, ok, `${d}: ${validateDuration(d)}`);
});

test('header names and values', () => {
  const names: [string, boolean][] = [['header1', true], ['X-Requested-With', true], [':authority', true], ['funky!$#_', true], ['', false], ['::', false], ['illegal"char', false]];
  for (const [n, ok] of names) assert.equal(validateMatchHeaderName(n) === undefined, ok, n);
  const strict: [string, boolean][] = [['header1', true], ['X-Requested-With', true], [':authority', false], ['', false], ['foo_bar', true]];
  for (const [n, ok] of strict) assert.equal(validateStrictHeaderName(n) === undefined, ok, n);
  const values: [string, boolean][] = [
    ['foo', true], ['%HOSTNAME%', true], ['100%%', true], ['prefix %HOSTNAME% suffix', true], ['%DOWNSTREAM_PEER_CERT_V_END(%b %d %H:%M:%S %Y %Z)%', true],
    ['%DYNAMIC_METADATA(com.test.my_filter)%', true], ['%START_TIME%%', false], ['abc%123', false], ['line\nbreak', false],
  ];
  for (const [v, ok] of values) assert.equal(validateHeaderValue(v) === undefined, ok, `${v}: ${validateHeaderValue(v)}`);
});

test('regexes are RE2 (as Envoy runs them), not JavaScript', () => {
  for (const ok of ['^/api/.*', '(?i)abc', '(?P<v>v[0-9]+)', '[[:alpha:]]+', '\\pL', 'a{2,5}', '(?s).']) assert.equal(re2Error(ok), undefined, ok);
  for (const bad of ['(?=a)', '(?!a)', '(?<=a)b', '(?<!a)b', '(a)\\1', 'a**', '\\Z', 'a{1001}', '[b-a]', '(']) assert.ok(re2Error(bad), bad);
  assert.match(validateRegex('x'.repeat(1025), 'uri')!, /regex is too large, max length allowed is 1024/);
  assert.match(validateRegex('(?=a)', 'uri')!, /^"uri": error parsing regexp: invalid perl operator: \(\?=; Istio uses RE2/);
});

test('label keys and values', () => {
  for (const ok of ['app', 'app.kubernetes.io/name', 'example.com/a_b', 'a'.repeat(63)]) assert.equal(validateLabelKey(ok), undefined, ok);
  for (const bad of ['', 'app/', '/app', '-app', 'a'.repeat(64), 'ex ample/x', 'a/b/c']) assert.ok(validateLabelKey(bad), bad);
  for (const ok of ['', 'v1', 'v1.2_3-x']) assert.equal(validateLabelValue(ok), undefined, ok);
  for (const bad of ['v 1', '-v1', 'v1-', 'a*']) assert.ok(validateLabelValue(bad), bad);
});
