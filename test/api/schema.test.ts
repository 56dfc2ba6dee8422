/**
 * schemaValidate: the API server's structural validation of Istio resources from Istio's CRDs —
 * Istio's samples pass, and unknown fields, wrong versions, type errors, enum, pattern and CEL
 * failures read as the API server words them, with field paths that resolve to file:line:col.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePaths, parseText } from '../../src/config/parse.js';
import { schemaValidate } from '../../src/api/schema/index.js';
import { validateResource } from '../../src/api/validate.js';
import type { Diagnostic } from '../../src/api/diagnostics.js';
import { samplesDir } from '../helpers/shared.js';
import { readFileSync } from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';
import { findCrd, parsedSchemas, stripDescriptions } from '../../src/api/schema/crds.js';
import { crdBundlePath } from '../../src/common/paths.js';

function rendered(d: Diagnostic): string {
  return d.path ? `${d.path}: ${d.message}` : d.message;
}

/** All diagnostics for the one resource in `yaml`. */
function diagnose(yaml: string): Diagnostic[] {
  const parsed = parseText('test.yaml', yaml);
  assert.deepEqual(parsed.diagnostics, [], 'the test YAML must parse');
  assert.equal(parsed.resources.length, 1);
  return schemaValidate(parsed.resources[0]!);
}

/** The Error lines (path: message) for the one resource in `yaml`. */
function errorsOf(yaml: string): string[] {
  return diagnose(yaml).filter((d) => d.level === 'Error').map(rendered);
}

const vs = (spec: string, apiVersion = 'networking.istio.io/v1') =>
  `apiVersion: ${apiVersion}\nkind: VirtualService\nmetadata:\n  name: reviews\n  namespace: default\nspec:\n${spec}`;

/** Samples Istio itself would reject (none so far): file suffix -> reason. */
const REJECTED_SAMPLES: Record<string, string> = {};

test('schemas load lazily: only the kinds and versions met are parsed', () => {
  errorsOf(vs('  hosts: [reviews]\n  http: [{route: [{destination: {host: reviews}}]}]\n', 'networking.istio.io/v1beta1'));
  assert.ok(parsedSchemas().includes('networking.istio.io/v1beta1 VirtualService'));
  assert.ok(!parsedSchemas().some((s) => /WorkloadGroup|ProxyConfig|WasmPlugin|TrafficExtension/.test(s)), parsedSchemas().join(', '));
});

test('every Istio sample passes the schema', (t) => {
  const parsed = parsePaths([samplesDir]);
  const start = performance.now();
  assert.ok(parsed.resources.length > 150, `expected Istio's samples, found ${parsed.resources.length} resources`);
  const bad: string[] = [];
  for (const r of parsed.resources) {
    if (Object.keys(REJECTED_SAMPLES).some((f) => r.source?.file.endsWith(f))) continue;
    for (const d of schemaValidate(r)) if (d.level === 'Error') bad.push(`${r.source?.file}: ${r.kind} ${r.name}: ${rendered(d)}`);
  }
  t.diagnostic(`${parsed.resources.length} resources validated in ${(performance.now() - start).toFixed(0)} ms (schemas loaded and compiled on first use)`);
  assert.deepEqual(bad, []);
});

test('a valid VirtualService gives nothing', () => {
  assert.deepEqual(diagnose(vs('  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 100\n')), []);
});

test('unknown fields are errors with their full path, as strict decoding says', () => {
  const errs = errorsOf(vs('  hosts: [reviews]\n  foo: 1\n  http:\n  - rout: []\n    route:\n    - destination: {host: reviews, colour: blue}\n'));
  assert.deepEqual(errs, [
    'spec.foo: unknown field "spec.foo"',
    'spec.http[0].rout: unknown field "spec.http[0].rout"',
    'spec.http[0].route[0].destination.colour: unknown field "spec.http[0].route[0].destination.colour"',
  ]);
});

test('unknown top-level and metadata fields are errors; status is dropped', () => {
  const errs = errorsOf(vs('  hosts: [reviews]\n  http: [{route: [{destination: {host: reviews}}]}]\nspecs: {}\nstatus: {anything: 1}\n').replace('  name: reviews', '  name: reviews\n  lables: {a: b}'));
  assert.deepEqual(errs, ['metadata.lables: unknown field "metadata.lables"', 'specs: unknown field "specs"']);
});

test('x-kubernetes-preserve-unknown-fields keeps free-form fields (EnvoyFilter patch value, WasmPlugin config)', () => {
  assert.deepEqual(errorsOf(`apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: ef}
spec:
  configPatches:
  - applyTo: HTTP_FILTER
    patch:
      operation: INSERT_BEFORE
      value:
        name: envoy.filters.http.lua
        typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua, inlineCode: "x"}
`), []);
  assert.deepEqual(errorsOf('apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: w}\nspec:\n  url: oci://x/y\n  pluginConfig: {any: {thing: [1, 2]}}\n'), []);
});

test('a version the CRD does not serve: kubectl\'s "no matches for kind", with the served versions', () => {
  const errs = errorsOf(vs('  hosts: [reviews]\n', 'networking.istio.io/v2'));
  assert.deepEqual(errs, [
    'apiVersion: no matches for kind "VirtualService" in version "networking.istio.io/v2": VirtualService is served as networking.istio.io/v1, networking.istio.io/v1alpha3, networking.istio.io/v1beta1',
  ]);
});

test('an unknown kind in an Istio group, and a mis-cased kind, say what exists', () => {
  const [bad] = errorsOf('apiVersion: networking.istio.io/v1\nkind: VirtualServce\nmetadata: {name: x}\nspec: {}\n');
  assert.match(bad!, /^kind: no matches for kind "VirtualServce" in version "networking.istio.io\/v1": networking.istio.io defines .*VirtualService/);
  const [cased] = errorsOf('apiVersion: networking.istio.io/v1\nkind: virtualservice\nmetadata: {name: x}\nspec: {}\n');
  assert.match(cased!, /did you mean kind: VirtualService \(apiVersion: networking.istio.io\/v1\)\?/);
  const [core] = errorsOf('apiVersion: v1\nkind: VirtualService\nmetadata: {name: x}\nspec: {}\n');
  assert.match(core!, /no matches for kind "VirtualService" in version "v1": did you mean apiVersion: networking.istio.io\/v1, kind: VirtualService\?/);
});

test('type errors: a string where an integer belongs', () => {
  const errs = errorsOf(vs('  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n      weight: "50"\n'));
  assert.deepEqual(errs, ['spec.http[0].route[0].weight: Invalid value: "string": spec.http[0].route[0].weight in body must be of type integer: "string"']);
});

test('enum, pattern, bounds and required read as the API server words them', () => {
  assert.deepEqual(errorsOf('apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\nspec:\n  mtls: {mode: STRICTER}\n'), [
    'spec.mtls.mode: Unsupported value: "STRICTER": supported values: "UNSET", "DISABLE", "PERMISSIVE", "STRICT"',
  ]);
  assert.deepEqual(errorsOf('apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: w}\nspec:\n  url: http://x\n  sha256: abc\n'), [
    "spec.sha256: Invalid value: \"abc\": spec.sha256 in body should match '(^$|^[a-f0-9]{64}$)'",
  ]);
  assert.deepEqual(errorsOf('apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se}\nspec: {}\n'), ['spec.hosts: Required value']);
  assert.deepEqual(errorsOf('apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se}\n'), ['spec: Required value']);
});

test('CEL rules: the rule\'s message at the rule\'s node, with the value\'s type', () => {
  assert.deepEqual(errorsOf(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: a}
spec:
  rules:
  - from:
    - source: {serviceAccounts: [ns/sa], namespaces: [ns]}
`), ['spec.rules[0].from[0].source: Invalid value: "object": Cannot set serviceAccounts with namespaces or principals']);
  assert.deepEqual(errorsOf('apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se}\nspec:\n  hosts: [a.com]\n  ports: [{name: http, number: 70000}]\n'), [
    'spec.ports[0].number: Invalid value: "integer": port must be between 1-65535',
  ]);
  assert.deepEqual(errorsOf(vs('  hosts: [reviews]\n  http:\n  - timeout: 0.1ms\n    route: [{destination: {host: reviews}}]\n')), [
    'spec.http[0].timeout: Invalid value: "string": must be a valid duration greater than 1ms',
  ]);
});

test('CEL evaluation errors name the error and the rule (Go url parsing, int conversion)', () => {
  const [url] = errorsOf('apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: r}\nspec:\n  jwtRules:\n  - issuer: x\n    jwksUri: "ht tp://x"\n');
  assert.equal(url, 'spec.jwtRules[0].jwksUri: Invalid value: "string": URL parse error during conversion from string: parse "ht tp://x": invalid URI for request evaluating rule: url must have scheme http:// or https://');
  const [port] = errorsOf('apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\nspec:\n  selector: {matchLabels: {a: b}}\n  portLevelMtls: {http: {mode: STRICT}}\n');
  assert.match(port!, /^spec\.portLevelMtls: Invalid value: "object": type conversion error from 'string' to 'int' evaluating rule: port must be between 1-65535$/);
  assert.deepEqual(errorsOf(vs('  hosts: [reviews]\n  http:\n  - timeout: "5"\n    route: [{destination: {host: reviews}}]\n')), [
    'spec.http[0].timeout: Invalid value: "string": time: missing unit in duration "5" evaluating rule: must be a valid duration greater than 1ms',
  ]);
  assert.deepEqual(errorsOf(vs('  hosts: [reviews]\n  http:\n  - timeout: 1d\n    route: [{destination: {host: reviews}}]\n')), [
    'spec.http[0].timeout: Invalid value: "string": time: unknown unit "d" in duration "1d" evaluating rule: must be a valid duration greater than 1ms',
  ]);
});

test('CEL rules are skipped after type/enum/required errors, as the API server does, with a note', () => {
  const d = diagnose('apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\nspec:\n  action: MAYBE\n  rules:\n  - from:\n    - source: {serviceAccounts: [ns/sa], namespaces: [ns]}\n');
  assert.deepEqual(d.filter((x) => x.level === 'Error').map(rendered), ['spec.action: Unsupported value: "MAYBE": supported values: "ALLOW", "DENY", "AUDIT", "CUSTOM"']);
  assert.ok(d.some((x) => x.level === 'Info' && /some validation rules were not checked/.test(x.message)));
});

test('metadata: a name is required, and must be a DNS-1123 subdomain', () => {
  assert.deepEqual(errorsOf('apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {namespace: x}\nspec: {}\n'), ['metadata.name: Required value: name or generateName is required']);
  const [bad] = errorsOf('apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: My_Gateway}\nspec: {}\n');
  assert.match(bad!, /^metadata\.name: Invalid value: "My_Gateway": a lowercase RFC 1123 subdomain must consist of/);
  assert.deepEqual(errorsOf('apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {generateName: gw-}\nspec: {}\n'), []);
  const [label] = errorsOf('apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g, labels: {version: 1}}\nspec: {}\n');
  assert.match(label!, /^metadata\.labels\[version\]: Invalid value: 1: json: cannot unmarshal number into Go struct field ObjectMeta\.metadata\.labels of type string/);
});

test('positions: a nested field\'s error points at its line and column', () => {
  const yaml = vs('  hosts: [reviews]\n  http:\n  - route:\n    - destination:\n        host: reviews\n      weight: "x"\n');
  const r = parseText('/tmp/pos.yaml', yaml).resources[0]!;
  const [d] = validateResource(r).filter((x) => x.level === 'Error');
  assert.equal(d!.path, 'spec.http[0].route[0].weight');
  assert.deepEqual(d!.pos, { file: '/tmp/pos.yaml', line: 12, col: 7 });
  const [cel] = validateResource(parseText('/tmp/pos.yaml', `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: a}
spec:
  rules:
  - from:
    - source:
        serviceAccounts: [ns/sa]
        principals: [p]
`).resources[0]!).filter((x) => x.level === 'Error');
  assert.deepEqual(cel!.pos, { file: '/tmp/pos.yaml', line: 7, col: 7 });
});

test('Kubernetes kinds: light checks (names, Service ports), never a schema error for a good one', () => {
  assert.deepEqual(errorsOf('apiVersion: v1\nkind: Service\nmetadata: {name: reviews}\nspec:\n  ports: [{name: http, port: 9080}]\n  selector: {app: reviews}\n'), []);
  assert.deepEqual(errorsOf('apiVersion: v1\nkind: Service\nmetadata: {name: reviews}\nspec:\n  ports: [{name: http, port: 70000}, {port: "80"}]\n'), [
    'spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive',
    'spec.ports[1].port: Invalid value: "80": json: cannot unmarshal string into Go struct field of type int32',
    'spec.ports[1].name: Required value',
  ]);
  assert.match(errorsOf('apiVersion: v1\nkind: Service\nmetadata: {name: 1reviews}\nspec: {}\n')[0]!, /a DNS-1035 label must consist of/);
  assert.match(errorsOf('apiVersion: apps/v2\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n')[0]!, /no matches for kind "Deployment" in version "apps\/v2": Deployment is served as apps\/v1/);
  assert.deepEqual(errorsOf('apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec: {anything: 1}\n'), []);
});

test('kinds of other groups (cert-manager ...) are not errors: metadata checked, one Info', () => {
  const d = diagnose('apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c}\nspec: {secretName: s}\n');
  assert.deepEqual(d.map((x) => x.level), ['Info']);
  assert.match(d[0]!.message, /no schema for cert-manager.io\/v1 Certificate: only its metadata was checked/);
});

test('never throws, whatever the shape', () => {
  const shapes = ['spec: []', 'spec: 7', 'spec: {http: 5}', 'spec: {http: [[[]]]}', 'spec: {hosts: {a: b}}', 'spec: {http: [{route: [{destination: [1]}]}]}'];
  const docs = shapes.map((s) => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\n${s}\n`);
  docs.push('apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: [1]\nspec: {}\n', 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [7, [], {port: {}}]}\n');
  for (const s of docs) {
    const r = parseText('t.yaml', s).resources[0]!;
    const d = schemaValidate(r);
    assert.ok(d.some((x) => x.level === 'Error'), `expected an error for ${s}`);
    assert.ok(!d.some((x) => /internal error/.test(x.message)), `internal error for ${s}: ${d.map(rendered).join('; ')}`);
  }
});

test('the CRD reader (descriptions stripped before parsing) gives the schema the full YAML gives', () => {
  const withoutDescriptions = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(withoutDescriptions);
    if (!x || typeof x !== 'object') return x;
    return Object.fromEntries(Object.entries(x).filter(([k, v]) => !(k === 'description' && typeof v === 'string')).map(([k, v]) => [k, withoutDescriptions(v)]));
  };
  const text = readFileSync(crdBundlePath, 'utf8');
  const doc = text.split(/^---$/m).find((d) => /^ {4}kind: VirtualService$/m.test(d))!;
  const full = (parseAllDocuments(doc)[0]!.toJS() as { spec: { versions: { name: string; schema: { openAPIV3Schema: unknown } }[] } }).spec.versions;
  const crd = findCrd('networking.istio.io', 'VirtualService')!;
  assert.deepEqual(crd.versions.map((v) => v.name), full.map((v) => v.name));
  for (const v of full) assert.deepEqual(crd.versions.find((x) => x.name === v.name)!.schema(), withoutDescriptions(v.schema.openAPIV3Schema), v.name);
  assert.deepEqual(parse(stripDescriptions('a:\n  description: |-\n    text\n    more\n  description2: x\n  properties:\n    description:\n      type: string\n')), {
    a: { description2: 'x', properties: { description: { type: 'string' } } },
  });
});
