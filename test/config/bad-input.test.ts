/**
 * Hostile and broken input to `spar validate`: a clear error naming the file, a non-zero exit,
 * never a stack trace or a hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { runSpar } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'spar-bad-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

function assertClean(r: { code: number | null; stderr: string; stdout: string }) {
  assert.notEqual(r.code, 0, 'must exit non-zero');
  assert.notEqual(r.code, null, 'must not hang');
  assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at .+\(.*:\d+:\d+\)/, 'no stack trace');
}

test('binary junk is refused as not YAML', async () => {
  const p = file('junk.yaml', randomBytes(4096));
  const r = await runSpar(['validate', '-f', p]);
  assertClean(r);
  assert.match(r.stdout, /junk\.yaml:1:1: not a YAML file/);
});

test('a 50 MB file is refused with its size, quickly', async () => {
  const p = file('huge.yaml', Buffer.alloc(50 * 1024 * 1024, 'a: b\n'));
  const r = await runSpar(['validate', '-f', p], { timeoutMs: 20_000 });
  assertClean(r);
  assert.match(r.stdout, /huge\.yaml:1:1: file is 50\.0 MiB, over the 16 MiB limit/);
});

test('deep nesting is refused', async () => {
  const p = file('deep.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: ' + '['.repeat(5000) + ']'.repeat(5000) + '\n');
  const r = await runSpar(['validate', '-f', p]);
  assertClean(r);
  assert.match(r.stdout, /deep\.yaml:\d+:\d+: .*nested (deeper than|too deeply to read \(over) 100 levels/);
});

test('a YAML alias bomb is refused', async () => {
  const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 10; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill('*' + String.fromCharCode(96 + i)).join(',')}]`);
  const p = file('bomb.yaml', lines.join('\n') + '\n');
  const r = await runSpar(['validate', '-f', p], { timeoutMs: 20_000 });
  assertClean(r);
  assert.match(r.stdout, /bomb\.yaml:\d+:\d+: .*(alias|Alias)/);
});

test('invalid YAML syntax names the line', async () => {
  const p = file('syntax.yaml', 'apiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n');
  const r = await runSpar(['validate', '-f', p]);
  assertClean(r);
  assert.match(r.stdout, /syntax\.yaml:\d+:\d+: invalid YAML/);
});

test('a document without apiVersion/kind is refused', async () => {
  const p = file('nokind.yaml', 'metadata:\n  name: x\nspec: {}\n');
  const r = await runSpar(['validate', '-f', p]);
  assertClean(r);
  assert.match(r.stdout, /nokind\.yaml:1:1: object has no apiVersion and kind/);
});

test('a missing file is named', async () => {
  const r = await runSpar(['validate', '-f', join(dir, 'nope.yaml')]);
  assertClean(r);
  assert.match(r.stdout, /nope\.yaml:1:1: no such file or directory/);
});

test('stdin is read with -f -', async () => {
  const r = await runSpar(['validate', '-f', '-'], { input: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n' });
  assert.equal(r.code, 0, r.stdout + r.stderr);
});
