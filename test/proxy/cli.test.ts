/**
 * `spar proxy` as a command: Envoy's flags, --mode validate, --config-yaml merged over -c, and a
 * startup error that names the unsupported field and exits non-zero.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSpar } from '../helpers/cli.js';

const GOOD = `
static_resources:
  clusters:
  - name: a
    connect_timeout: 1s
    load_assignment: { cluster_name: a, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } }] }] }
`;

test('spar proxy --mode validate: OK for a good bootstrap, the field named for a bad one (also via --config-yaml)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spar-cli-'));
  try {
    const file = join(dir, 'b.yaml');
    writeFileSync(file, GOOD);
    const ok = await runSpar(['proxy', '-c', file, '--mode', 'validate', '--base-id', '7', '--concurrency', '2', '-l', 'warning', '--service-node', 'n1']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /OK/);
    const bad = await runSpar(['proxy', '-c', file, '--mode', 'validate', '--config-yaml', 'static_resources: { clusters: [{ name: b, connect_timeout: 1s, health_checks: [{ timeout: 1s }] }] }']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Cluster "b"\.health_checks: active health checking is not supported by spar proxy/);
    const unknown = await runSpar(['proxy', '--config-yaml', 'static_resources: { nope: 1 }', '--mode', 'validate']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /invalid bootstrap: .*"nope"/);
    const level = await runSpar(['proxy', '--config-yaml', '{}', '-l', 'loud']);
    assert.equal(level.code, 1);
    assert.match(level.stderr, /--log-level: unknown level "loud"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
