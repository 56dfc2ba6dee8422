/**
 * Starting proxies for tests: real Envoy (test/helpers/envoy.ts) and `spar proxy`, behind one
 * interface. Spar accepts Envoy's command line (-c, --admin-address-path, --concurrency,
 * --disable-hot-restart, -l), so the same launcher runs both: for Spar, a tiny wrapper script stands
 * in for the `envoy` binary and execs `node bin/spar.js proxy "$@"` (from TypeScript sources).
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEnvoy, type Envoy, type Json } from '../../helpers/envoy.js';
import { repoRoot } from '../../../src/common/paths.js';

export type ProxyKind = 'envoy' | 'spar';

let sparBin: string | undefined;

/** A script that runs `spar proxy` with Envoy's argument list. */
export function sparAsEnvoy(): string {
  if (sparBin) return sparBin;
  const dir = mkdtempSync(join(tmpdir(), 'spar-bin-'));
  const file = join(dir, 'spar-proxy');
  writeFileSync(file, `#!/bin/sh\nSPAR_TSX=1 exec "${process.execPath}" "${join(repoRoot, 'bin', 'spar.js')}" proxy "$@"\n`);
  chmodSync(file, 0o755);
  sparBin = file;
  return file;
}

export function startProxy(kind: ProxyKind, bootstrap: Json, opts: { logLevel?: string; args?: string[] } = {}): Promise<Envoy> {
  return startEnvoy({ bootstrap, bin: kind === 'spar' ? sparAsEnvoy() : undefined, logLevel: opts.logLevel, args: opts.args });
}

export type { Envoy, Json };
