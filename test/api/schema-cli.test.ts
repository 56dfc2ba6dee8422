/**
 * `spar validate -f` on Istio's samples, as a user runs it: every resource valid, exit 0.
 * (samples/jwt/jwks.json, a JWKS key set met while walking the folder, is skipped with a note.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSpar } from '../helpers/cli.js';
import { samplesDir, validationDir } from '../helpers/shared.js';

interface JsonDiag {
  level: string;
  message: string;
  file?: string;
  origin?: string;
  field?: string;
}

test('spar validate -f samples: no resource has an error, exit 0', async () => {
  const r = await runSpar(['validate', '-o', 'json', '-f', samplesDir], { timeoutMs: 60_000 });
  const diags = JSON.parse(r.stdout) as JsonDiag[];
  const errors = diags.filter((d) => d.level === 'Error');
  assert.deepEqual(errors.map((d) => `${d.origin}: ${d.field ? d.field + ': ' : ''}${d.message}`), [], 'no validation errors in Istio\'s samples');
  assert.ok(diags.some((d) => d.level === 'Info' && d.file?.endsWith('jwt/jwks.json') && /not a Kubernetes object/.test(d.message)), 'jwks.json skipped with a note');
  assert.equal(r.code, 0, r.stderr);
});

test('a JSON file named explicitly must be a Kubernetes object', async () => {
  const r = await runSpar(['validate', '-f', `${samplesDir}/jwt/jwks.json`]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /jwks\.json:1:1: object has no apiVersion and kind/);
});

test('the schema cache (parsed schemas, Ajv standalone code) changes nothing but speed', async () => {
  const args = ['validate', '-o', 'json', '-f', validationDir];
  const warm = await runSpar(args, { timeoutMs: 60_000 });
  const cold = await runSpar(args, { timeoutMs: 60_000, env: { SPAR_NO_CACHE: '1' } });
  assert.ok((JSON.parse(cold.stdout) as JsonDiag[]).filter((d) => d.level === 'Error').length >= 70, 'the invalid corpus gives errors');
  assert.equal(warm.stdout, cold.stdout);
  assert.equal(warm.code, cold.code);
});
