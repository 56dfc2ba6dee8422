/**
 * `spar validate -f` on Istio's samples, as a user runs it: every resource valid, exit 0.
 *
 * Problems that come from reading files (src/config) rather than from validation are listed in
 * READER_ISSUES; the exit-code check is `todo` while they are the only errors left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSpar } from '../helpers/cli.js';
import { samplesDir } from '../helpers/shared.js';

/** Files whose reading (not validation) currently fails: path suffix -> what src/config should do. */
const READER_ISSUES: Record<string, string> = {
  'jwt/jwks.json': 'src/config: a JSON file that is not a Kubernetes object (a JWKS key set) should be skipped, not an error',
};

interface JsonDiag {
  level: string;
  message: string;
  file?: string;
  origin?: string;
  field?: string;
}

test('spar validate -f samples: no resource has an error, exit 0', async (t) => {
  const r = await runSpar(['validate', '-o', 'json', '-f', samplesDir], { timeoutMs: 60_000 });
  const diags = JSON.parse(r.stdout) as JsonDiag[];
  const errors = diags.filter((d) => d.level === 'Error');
  const fromReader = errors.filter((d) => Object.keys(READER_ISSUES).some((f) => d.file?.endsWith(f)));
  const others = errors.filter((d) => !fromReader.includes(d));
  assert.deepEqual(others.map((d) => `${d.origin}: ${d.field ? d.field + ': ' : ''}${d.message}`), [], 'no validation errors in Istio\'s samples');
  const todo = fromReader.length > 0 && r.code !== 0 ? fromReader.map((d) => READER_ISSUES[Object.keys(READER_ISSUES).find((f) => d.file?.endsWith(f)) ?? '']).join('; ') : undefined;
  await t.test('exit code 0', { todo }, () => {
    assert.equal(r.code, 0, r.stderr);
  });
});
