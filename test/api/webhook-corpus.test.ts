/**
 * Spar's own webhook corpus (test/corpus): invalid resources written from Istio's documented rules,
 * each carrying `# expect: <field path>: <reason>`, must be rejected with exactly that path and a
 * message containing that reason; tricky valid resources must be accepted (a warning only where
 * the document says `# warn: <reason>`). Then the real CLI, once: `spar validate -f test/corpus/invalid`
 * exits 1 and prints, for every resource, a line naming file:line:col, the resource and the field path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePaths } from '../../src/config/parse.js';
import { positionOf, type ConfigResource } from '../../src/config/resource.js';
import { parsePath, validateResource } from '../../src/api/validate.js';
import { formatDiagnostic } from '../../src/api/diagnostics.js';
import { repoRoot } from '../../src/common/paths.js';
import { runSpar } from '../helpers/cli.js';
import { samplesDir } from '../helpers/shared.js';
import { semanticValidate } from '../../src/api/validation/index.js';

const corpusDir = join(repoRoot, 'test', 'corpus');
const invalidDir = join(corpusDir, 'invalid');
const validDir = join(corpusDir, 'valid');

interface Case {
  r: ConfigResource;
  /** `# expect:` (invalid) or `# warn:` (valid) lines of the resource's document. */
  expects: { path: string; reason: string }[];
  warns: string[];
}

/** Every resource of every file under `dir`, with the annotations of its YAML document. */
function load(dir: string): Case[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(dir, f));
  const parsed = parsePaths(files);
  assert.deepEqual(parsed.diagnostics.map(formatDiagnostic), [], 'corpus files parse');
  const docsByFile = new Map(files.map((f) => [f, readFileSync(f, 'utf8').split(/^---[ \t]*$/m)]));
  return parsed.resources.map((r) => {
    const text = docsByFile.get(r.source!.file)![r.source!.docIndex] ?? '';
    const expects = [...text.matchAll(/^# expect: (\S+): (.+)$/gm)].map((m) => ({ path: m[1], reason: m[2].trim() }));
    const warns = [...text.matchAll(/^# warn: (.+)$/gm)].map((m) => m[1].trim());
    return { r, expects, warns };
  });
}

const invalid = load(invalidDir);
const valid = load(validDir);
const label = (r: ConfigResource) => `${r.kind} ${r.namespace}/${r.name}`;

test('the corpus is big enough: at least 80 invalid and 30 valid resources, across the kinds', () => {
  assert.ok(invalid.length >= 80, `${invalid.length} invalid resources`);
  assert.ok(valid.length >= 30, `${valid.length} valid resources`);
  const kinds = new Set(invalid.map((c) => c.r.kind));
  for (const k of ['VirtualService', 'DestinationRule', 'Gateway', 'ServiceEntry', 'Sidecar', 'AuthorizationPolicy', 'PeerAuthentication',
    'RequestAuthentication', 'Telemetry', 'WorkloadEntry', 'EnvoyFilter', 'WasmPlugin']) {
    assert.ok(kinds.has(k), `an invalid ${k}`);
  }
  const names = invalid.concat(valid).map((c) => c.r.name);
  assert.equal(new Set(names).size, names.length, 'resource names are unique (the CLI check finds lines by name)');
  for (const c of invalid) assert.ok(c.expects.length > 0, `${label(c.r)} has an "# expect:" line`);
});

test('every invalid resource is rejected with the expected field path and reason', () => {
  const failures: string[] = [];
  for (const c of invalid) {
    const errors = validateResource(c.r).filter((d) => d.level === 'Error');
    for (const e of c.expects) {
      if (!errors.some((d) => d.path === e.path && d.message.includes(e.reason))) {
        failures.push(`${label(c.r)}: expected ${e.path}: ${e.reason}\n    got: ${errors.map(formatDiagnostic).join('\n         ') || '(no error)'}`);
      }
    }
  }
  assert.equal(failures.length, 0, failures.join('\n'));
});

test('every valid resource is accepted, with only the warnings it declares', () => {
  const failures: string[] = [];
  for (const c of valid) {
    const diags = validateResource(c.r);
    const errors = diags.filter((d) => d.level === 'Error');
    const unexpected = diags.filter((d) => d.level === 'Warning' && !c.warns.some((w) => d.message.includes(w)));
    if (errors.length || unexpected.length) failures.push(`${label(c.r)}:\n    ${[...errors, ...unexpected].map(formatDiagnostic).join('\n    ')}`);
  }
  assert.equal(failures.length, 0, failures.join('\n'));
});

test('spar validate -f test/corpus/invalid: exit 1, each error line names file:line:col, resource and field path', async () => {
  const res = await runSpar(['validate', '-f', invalidDir], { timeoutMs: 30_000 });
  assert.equal(res.code, 1, res.stderr);
  const lines = res.stdout.split('\n');
  const missing: string[] = [];
  for (const c of invalid) {
    for (const e of c.expects) {
      const pos = positionOf(c.r, parsePath(e.path))!;
      const want = `${pos.file}:${pos.line}:${pos.col}: ${label(c.r)}: ${e.path}: `;
      if (!lines.some((l) => l.startsWith(want) && l.includes(e.reason))) missing.push(want + e.reason);
    }
  }
  assert.deepEqual(missing, [], `lines missing from the CLI output (it printed:\n${res.stdout})`);
});

test("Istio's samples: no webhook error on any of them", () => {
  const parsed = parsePaths([samplesDir]);
  const errors = parsed.resources.flatMap((r) => semanticValidate(r)).filter((d) => d.level === 'Error');
  assert.ok(parsed.resources.length > 100, `${parsed.resources.length} sample resources`);
  assert.deepEqual(errors.map(formatDiagnostic), []);
});
