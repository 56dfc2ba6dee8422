/**
 * The pilot's config folder re-read (config-source.ts) reuses the parse of every unchanged file:
 * at 2,000 services re-reading the folder for one edited file took seconds and dominated every
 * change's push latency. The reuse must never hide a change: an edited, added, removed or invalid
 * file is seen on the next read, as a full read would see it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ConfigReadCache, diffConfig, readConfigDir } from '../../src/pilot/config-source.js';

const vs = (name: string, host: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: default}
spec:
  hosts: [${host}]
  http: [{route: [{destination: {host: ${host}}}]}]
`;

test('a re-read reuses unchanged files and sees every edit, addition, removal and invalid file as a full read does', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spar-read-cache-'));
  try {
    for (let i = 0; i < 20; i++) writeFileSync(join(dir, `vs-${i}.yaml`), vs(`vs-${i}`, `svc-${i}`));
    const cache = new ConfigReadCache();
    const first = readConfigDir(dir, cache);
    assert.equal(first.resources.length, 20);

    // Nothing changed: the same objects, no change reported.
    const again = readConfigDir(dir, cache);
    assert.ok(again.resources.every((r, i) => r === first.resources[i]));
    assert.deepEqual(diffConfig(first.resources, again.resources).keys, []);

    // One file edited (same length: only the content and mtime differ), one added, one removed.
    writeFileSync(join(dir, 'vs-3.yaml'), vs('vs-3', 'svc-X'));
    writeFileSync(join(dir, 'vs-new.yaml'), vs('vs-new', 'svc-new'));
    unlinkSync(join(dir, 'vs-7.yaml'));
    const next = readConfigDir(dir, cache);
    const full = readConfigDir(dir);
    assert.deepEqual(next.resources.map((r) => r.raw), full.resources.map((r) => r.raw));
    assert.deepEqual(diffConfig(again.resources, next.resources).keys.sort(), ['VirtualService/default/vs-3', 'VirtualService/default/vs-7', 'VirtualService/default/vs-new']);
    assert.equal(next.resources.find((r) => r.name === 'vs-0'), first.resources.find((r) => r.name === 'vs-0'), 'an unchanged file gives the same object');

    // An invalid resource is rejected on re-read too, and a YAML error is reported.
    writeFileSync(join(dir, 'vs-4.yaml'), vs('vs-4', 'svc-4').replace('{destination: {host: svc-4}}', '{destination: {host: svc-4}, weight: -5}'));
    writeFileSync(join(dir, 'broken.yaml'), 'kind: [unclosed\n');
    const bad = readConfigDir(dir, cache);
    assert.ok(bad.rejected.some((r) => r.name === 'vs-4'), 'invalid VirtualService rejected');
    assert.ok(bad.fileErrors.length > 0, 'YAML error reported');
    assert.deepEqual(bad.rejected.map((r) => r.name), readConfigDir(dir).rejected.map((r) => r.name));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
