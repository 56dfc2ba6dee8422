/**
 * Istio's own CRD validation corpus (pkg/config/validation/testdata/crds): every document of a
 * `*-invalid.yaml` must be refused with an error containing its `_err` text, every document of a
 * `*-valid.yaml` accepted. Istio's openapi_test.go runs the same files against the CRD schema (with
 * its CEL rules) and the webhook; here they go through `validateResource`, schema then webhook.
 *
 * A case is matched against what a user sees: `<field path>: <message>` (the API server's form).
 * Cases whose `_err` only istiod's webhook produces are listed in WEBHOOK_LEVEL; they are `todo`
 * while `semanticValidate` does not produce them yet, and ordinary tests once it does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseText } from '../../src/config/parse.js';
import { validateResource } from '../../src/api/validate.js';
import type { Diagnostic } from '../../src/api/diagnostics.js';
import type { ConfigResource } from '../../src/config/resource.js';
import { validationDir } from '../helpers/shared.js';

/** `file#index name` of cases whose expected error is worded by istiod's webhook, not the schema. */
export const WEBHOOK_LEVEL: readonly string[] = [];

/**
 * Cases where Spar's YAML reader (the `yaml` package, YAML 1.2) reads a document differently from
 * the Go YAML library the API server uses; `todo` while src/config reads them as Go does.
 */
export const YAML_READER_DIVERGENCE: Readonly<Record<string, string>> = {
  // (empty: `[1.2.3.4, 001:db8::]`, read as go-yaml reads it since src/config/parse.ts readFlowColonsAsGo)
};

interface Case {
  id: string;
  file: string;
  expectErr?: string;
  resource?: ConfigResource;
  parseProblems: Diagnostic[];
}

function rendered(d: Diagnostic): string {
  return d.path ? `${d.path}: ${d.message}` : d.message;
}

function loadCases(): Case[] {
  const cases: Case[] = [];
  for (const file of readdirSync(validationDir).filter((f) => /-(in)?valid\.yaml$/.test(f)).sort()) {
    const parsed = parseText(join(validationDir, file), readFileSync(join(validationDir, file)));
    const problems = parsed.diagnostics;
    parsed.resources.forEach((res, i) => {
      const { _err, ...raw } = res.raw;
      const resource: ConfigResource = { ...res, raw };
      cases.push({
        id: `${file}#${i} ${res.name}`,
        file,
        expectErr: typeof _err === 'string' ? _err : undefined,
        resource,
        parseProblems: [],
      });
    });
    if (problems.length > 0) cases.push({ id: `${file} (reading)`, file, parseProblems: problems });
  }
  return cases;
}

const cases = loadCases();

test('the corpus is there', () => {
  assert.ok(cases.filter((c) => c.file.endsWith('-invalid.yaml')).length >= 70, 'expected Istio\'s ~80 invalid documents');
  assert.ok(cases.filter((c) => c.file.endsWith('-valid.yaml')).length >= 30);
});

for (const c of cases) {
  if (!c.resource) {
    test(c.id, () => assert.fail(c.parseProblems.map(rendered).join('\n')));
    continue;
  }
  const diags = validateResource(c.resource);
  const errors = diags.filter((d) => d.level === 'Error');
  if (c.file.endsWith('-invalid.yaml')) {
    const want = c.expectErr;
    const ok = want !== undefined && errors.some((d) => rendered(d).includes(want));
    const todo = WEBHOOK_LEVEL.includes(c.id) && !ok ? 'webhook rule: src/api/validation' : undefined;
    test(c.id, { todo }, () => {
      assert.ok(want !== undefined, 'an invalid document must carry _err');
      assert.ok(ok, `expected an error containing ${JSON.stringify(want)}, got:\n${errors.map(rendered).join('\n') || '(no errors)'}`);
    });
  } else {
    const todo = errors.length > 0 ? YAML_READER_DIVERGENCE[c.id] : undefined;
    test(c.id, { todo }, () => {
      assert.deepEqual(errors.map(rendered), [], 'a valid document must give no error');
    });
  }
}
