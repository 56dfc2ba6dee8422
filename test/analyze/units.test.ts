/**
 * The small rules analyzers share, as tables: Go-style message rendering, host matching and
 * completion, label selectors (with matchExpressions), port-name protocols, and istioctl's
 * ordering and deduplication of messages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { render } from '../../src/analyze/messages.js';
import { hostMatches, labelSelectorMatches, namesForNamespace, selectorString, serviceNameOfHost, toFqdn } from '../../src/analyze/hosts.js';
import { portProtocolKnown } from '../../src/analyze/analyzers/workloads.js';
import { unreachableRules } from '../../src/analyze/analyzers/vsrules.js';
import { analyze, sortDedupe } from '../../src/analyze/index.js';
import { register } from '../../src/analyze/analyzer.js';
import { parseText } from '../../src/config/parse.js';
import type { Diagnostic } from '../../src/api/diagnostics.js';

test('render fills Go verbs as fmt does', () => {
  const rows: [string, (string | number | string[] | number[])[], string][] = [
    ['Referenced %s not found: %q', ['host', 'reviews2'], 'Referenced host not found: "reviews2"'],
    ['ports %v', [[9080, 9090]], 'ports [9080 9090]'],
    ['%v in %q', [['a', 'b'], 'ns'], '[a b] in "ns"'],
    ['port %d of %s', [80], 'port 80 of %!s(MISSING)'],
    ['100%% %s', ['sure'], '100% sure'],
  ];
  for (const [tpl, args, want] of rows) assert.equal(render(tpl, args), want, tpl);
});

test('hosts: completion, wildcards, gateway host namespaces', () => {
  assert.equal(toFqdn('default', 'reviews'), 'reviews.default.svc.cluster.local');
  assert.equal(toFqdn('default', 'reviews.prod'), 'reviews.prod');
  assert.equal(toFqdn('default', '*.example.com'), '*.example.com');
  assert.deepEqual(serviceNameOfHost('default', 'ratings.prod.svc.cluster.local'), { namespace: 'prod', name: 'ratings' });
  assert.deepEqual(serviceNameOfHost('default', 'ratings'), { namespace: 'default', name: 'ratings' });
  const rows: [string, string, boolean][] = [
    ['*.example.com', 'a.example.com', true], ['a.example.com', '*.example.com', true], ['*', 'anything', true],
    ['*.com', '*.example.com', true], ['a.example.com', 'b.example.com', false], ['*.example.com', 'example.com', false],
  ];
  for (const [a, b, want] of rows) assert.equal(hostMatches(a, b), want, `${a} ~ ${b}`);
  assert.deepEqual(namesForNamespace(['*/a.com', 'ns1/b.com', 'ns2/c.com', 'd.com'], 'ns1'), ['a.com', 'b.com', 'd.com']);
});

test('label selectors: matchLabels, every operator, invalid ones match nothing', () => {
  const l = { app: 'reviews', version: 'v1' };
  const rows: [unknown, boolean][] = [
    [undefined, true], [{}, true], [{ matchLabels: { app: 'reviews' } }, true], [{ matchLabels: { app: 'x' } }, false],
    [{ matchExpressions: [{ key: 'version', operator: 'In', values: ['v1', 'v2'] }] }, true],
    [{ matchExpressions: [{ key: 'version', operator: 'NotIn', values: ['v1'] }] }, false],
    [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'Exists' }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, false],
    [{ matchExpressions: [{ key: 'app', operator: 'In', values: [] }] }, false],
    [{ matchExpressions: [{ key: 'app', operator: 'Bogus' }] }, false],
    ['not a selector', false],
  ];
  rows.forEach(([sel, want], i) => assert.equal(labelSelectorMatches(sel, l), want, `row ${i}`));
  assert.equal(selectorString({ version: 'v1', app: 'reviews' }), 'app=reviews,version=v1');
});

test('port names: the protocols Istio recognises', () => {
  const rows: [number, string, string, string | undefined, boolean][] = [
    [9080, 'http', 'TCP', undefined, true], [9080, 'http-web', 'TCP', undefined, true], [9080, 'grpc-web', 'TCP', undefined, true],
    [9080, 'web', 'TCP', undefined, false], [9080, '', 'TCP', undefined, false], [3306, '', 'TCP', undefined, true],
    [9080, 'web', 'UDP', undefined, true], [9080, 'web', 'TCP', 'http', true], [9080, 'web', 'TCP', 'kubernetes.io/h2c', true],
    [9080, 'HTTP2-x', 'TCP', undefined, true],
  ];
  for (const [port, name, proto, app, want] of rows) assert.equal(portProtocolKnown(port, name, proto, app), want, `${port} ${name} ${proto} ${app}`);
});

test('messages sort by level, code, resource in Go byte order, and identical lines collapse', () => {
  const d = (level: Diagnostic['level'], code: string, name: string, line = 1): Diagnostic => ({
    level, code, message: 'm', resource: { kind: 'Service', namespace: 'default', name }, pos: { file: 'f.yaml', line, col: 1 },
  });
  const out = sortDedupe([d('Info', 'IST0118', 'details'), d('Error', 'IST0101', 'b'), d('Info', 'IST0118', 'details-admin'), d('Error', 'IST0101', 'b'), d('Warning', 'IST0132', 'a')]);
  assert.deepEqual(out.map((m) => `${m.level} ${m.code} ${m.resource?.name}`), [
    'Error IST0101 b', 'Warning IST0132 a', 'Info IST0118 details-admin', 'Info IST0118 details',
  ]);
});

test('an analyzer that throws becomes IST0001, and the others still report', () => {
  register({ name: 'test.Throws', description: 'always fails', inputs: [], emits: [], analyze() { throw new Error('boom'); } });
  const svc = parseText('a.yaml', 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{name: web, port: 80}]}\n').resources;
  const r = analyze(svc, { analyzers: ['test.Throws', 'service.PortNameAnalyzer'] });
  assert.deepEqual(r.messages.map((m) => `${m.code} ${m.message}`), [
    'IST0001 Internal error: analyzer test.Throws: boom',
    "IST0118 Port name web (port: 80, targetPort: 0) doesn't follow the naming convention of Istio port.",
  ]);
});

test('IST0130/IST0131 are the webhook analysis: Go-style match equality, each message on its own rule', () => {
  const vs = (http: unknown[]) => parseText('vs.yaml', stringify({
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'vs', namespace: 'default' }, spec: { hosts: ['a'], http },
  })).resources[0];
  const route = [{ destination: { host: 'a' } }];
  const rows: [string, unknown[], string[]][] = [
    // an empty header match means "header present": not the same match as no headers
    ['header present', [{ match: [{ uri: { prefix: '/a' }, headers: { 'x-canary': {} } }], route }, { match: [{ uri: { prefix: '/a' } }], route }], []],
    // an empty list is left out of Go's JSON: the same match as no gateways
    ['empty gateways', [{ match: [{ uri: { exact: '/a' }, gateways: [] }], route }, { match: [{ uri: { exact: '/a' } }], route }], [
      'spec.http[1] IST0131 VirtualService rule #1 match #0 is not used (duplicate/overlapping match in rule #0).',
      'spec.http[1] IST0130 VirtualService rule #1 not used (all matches used by prior rules).',
    ]],
    // rules may share a name: the overlap is reported on the rule it is in
    ['same names', [
      { name: 'r', match: [{ uri: { exact: '/x' } }], route }, { name: 'r', match: [{ uri: { prefix: '/a' } }], route }, { name: 'r', match: [{ uri: { prefix: '/ab' } }], route },
    ], ['spec.http[2] IST0131 VirtualService rule "r" match #0 of prefix /ab is not used (duplicate/overlapping match in rule #0 of prefix /a on "r").']],
  ];
  for (const [what, http, want] of rows) {
    assert.deepEqual(unreachableRules(vs(http)).map((d) => `${d.path} ${d.code} ${d.message}`), want, what);
  }
});
