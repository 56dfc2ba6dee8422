/**
 * Every webhook case of ../shared/istio/VALIDATION-RULES.md section A, as a table run through the
 * full `validateResource` (schema, then webhook rules). A row is (id, resource, expectation,
 * reason substrings): REJECT needs an error containing one of the reasons, WARN a warning and no
 * error, ACCEPT no error, CLEAN neither error nor warning. Where Istio's CRD schema rejects a case
 * before the webhook sees it, the row lists the schema's wording as an alternative reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { parseText } from '../../src/config/parse.js';
import { validateResource } from '../../src/api/validate.js';
import { formatDiagnostic } from '../../src/api/diagnostics.js';
import { semanticValidate } from '../../src/api/validation/index.js';
import { rowYaml, type Row } from './webhook-rules-table.js';
import { NETWORKING_ROWS } from './webhook-rules-networking.js';
import { SECURITY_ROWS } from './webhook-rules-security.js';

/** Cases the table cannot express as a single static resource, and why. */
export const NOT_EXPRESSIBLE: Record<string, string> = {
  'S18 (autoallocation)': 'the "addresses are required" warning also depends on PILOT_ENABLE_IP_AUTOALLOCATE (on by default); rows use resolution NONE, which never auto-allocates',
  'A9-corpus': 'section A.9 (the _err corpus) runs in test/api/validation-corpus.test.ts',
};

function privateJwks(): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  return JSON.stringify({ keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'k1' }] });
}

const EXTRA: Row[] = [
  { id: 'R10', kind: 'RequestAuthentication', spec: { jwtRules: [{ issuer: 'foo.com', jwks: privateJwks() }] }, expect: 'WARN', reason: 'jwks key at index 0 contains private key material' },
];

const ROWS: Row[] = [...NETWORKING_ROWS, ...SECURITY_ROWS, ...EXTRA];

function check(row: Row): void {
  const parsed = parseText(`${row.id}.yaml`, rowYaml(row));
  assert.equal(parsed.diagnostics.length, 0, `${row.id}: YAML did not parse`);
  assert.equal(parsed.resources.length, 1);
  const diags = validateResource(parsed.resources[0]);
  const errors = diags.filter((d) => d.level === 'Error');
  const warnings = diags.filter((d) => d.level === 'Warning');
  const shown = diags.map(formatDiagnostic).join('\n  ');
  const reasons = row.reason === undefined ? [] : Array.isArray(row.reason) ? row.reason : [row.reason];
  const find = (pool: typeof diags) => pool.find((d) => reasons.some((r) => d.message.includes(r)));
  switch (row.expect) {
    case 'ACCEPT':
      assert.equal(errors.length, 0, `${row.id}: expected no error, got:\n  ${shown}`);
      break;
    case 'CLEAN':
      assert.equal(errors.length + warnings.length, 0, `${row.id}: expected no error or warning, got:\n  ${shown}`);
      break;
    case 'WARN': {
      assert.equal(errors.length, 0, `${row.id}: expected only warnings, got:\n  ${shown}`);
      const hit = find(warnings);
      assert.ok(hit, `${row.id}: expected a warning containing ${JSON.stringify(reasons)}, got:\n  ${shown}`);
      if (row.path) assert.equal(hit.path, row.path, `${row.id}: field path`);
      break;
    }
    case 'REJECT': {
      const hit = find(errors);
      assert.ok(hit, `${row.id}: expected an error containing ${JSON.stringify(reasons)}, got:\n  ${shown || '(nothing)'}`);
      if (row.path) assert.equal(hit.path, row.path, `${row.id}: field path`);
      assert.ok(hit.pos, `${row.id}: the error has a source position`);
      break;
    }
  }
}

test('VALIDATION-RULES.md section A: every case is a row of the table', () => {
  const ids = new Set(ROWS.map((r) => r.id.replace(/[a-z]$/, '')));
  const wanted = [
    ...range('G', 20), ...range('V', 46), ...range('D', 25), ...range('S', 19), ...range('A', 21), ...range('R', 10), ...range('P', 5), ...range('SC', 13),
    'X1', 'X2', 'X3', 'X4', 'X5', 'X6',
  ];
  const missing = wanted.filter((id) => !ids.has(id));
  assert.deepEqual(missing, [], `rows missing for ${missing.join(', ')}`);
});

for (const row of ROWS) {
  test(`${row.id} ${row.kind} → ${row.expect}${row.reason ? `: ${[row.reason].flat()[0]}` : ''}`, () => check(row));
}

/**
 * The webhook layer on its own: where the schema rejects a case first, the webhook rule must still
 * catch it with Istio's webhook wording (the first reason), as istiod does for objects that reach
 * it without a structural schema (e.g. `istioctl validate`, older CRDs).
 */
test('webhook rules alone give the webhook reason for every REJECT/WARN row', () => {
  const failures: string[] = [];
  for (const row of ROWS) {
    if (row.schemaOnly || row.expect === 'ACCEPT' || row.expect === 'CLEAN' || row.reason === undefined) continue;
    const r = parseText(`${row.id}.yaml`, rowYaml(row)).resources[0];
    const first = [row.reason].flat()[0];
    const level = row.expect === 'REJECT' ? 'Error' : 'Warning';
    const diags = semanticValidate(r);
    if (!diags.some((d) => d.level === level && d.message.includes(first))) {
      failures.push(`${row.id}: no ${level} containing ${JSON.stringify(first)}; got ${JSON.stringify(diags.map((d) => d.message))}`);
    }
  }
  assert.deepEqual(failures, []);
});

function range(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
}
