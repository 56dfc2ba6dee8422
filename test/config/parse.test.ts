/** Reading YAML as Kubernetes reads it: positions, lists, and go-yaml's reading of flow scalars. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseText } from '../../src/config/parse.js';
import { positionOf } from '../../src/config/resource.js';

test('`001:db8::` in a flow sequence is the string go-yaml reads, not a map', () => {
  const r = parseText('se.yaml', 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: x}\nspec:\n  hosts: [a.com]\n  addresses: [1.2.3.4, 001:db8::, "x:", {c: d}]\n');
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(r.resources[0].spec.addresses, ['1.2.3.4', '001:db8::', 'x:', { c: 'd' }]);
});

test('positions point at the key of a nested field, and at the nearest parent when absent', () => {
  const text = 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: reviews\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n      weight: -1\n';
  const [r] = parseText('vs.yaml', text).resources;
  assert.deepEqual(positionOf(r, ['spec', 'http', 0, 'route', 0, 'weight']), { file: 'vs.yaml', line: 10, col: 7 });
  assert.deepEqual(positionOf(r, ['spec', 'http', 0, 'timeout']), { file: 'vs.yaml', line: 8, col: 5 });
  assert.equal(r.namespace, 'default');
});

test('kind: List items become resources with their own positions', () => {
  const text = 'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: b}\n';
  const r = parseText('list.yaml', text);
  assert.deepEqual(r.resources.map((x) => x.name), ['a', 'b']);
  assert.equal(positionOf(r.resources[1], ['metadata', 'name'])?.line, 9);
});
