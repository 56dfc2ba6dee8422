/**
 * Test helpers for the agent: a `spar pilot` child process on a temp folder (ADS on a Unix socket,
 * any free TCP ports, plaintext mesh: no CA yet) and polling.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../src/common/paths.js';

export interface Pilot {
  uds: string;
  process: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

const fromSource = import.meta.url.endsWith('.ts');

/** Starts `spar pilot --config <dir>/config` and resolves once it says "pilot ready". */
export function startPilot(dir: string): Promise<Pilot> {
  const uds = join(dir, 'xds.sock');
  writeFileSync(join(dir, 'mesh.yaml'), 'enableAutoMtls: false\n');
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'spar.js'), 'pilot', '--config', join(dir, 'config'), '--mesh', join(dir, 'mesh.yaml'),
    '--port', '0', '--debug-port', '0', '--xds-uds', uds, '--no-synthetic-addresses', '--debounce', '50ms'], {
    env: { ...process.env, ...(fromSource ? { SPAR_TSX: '1' } : {}) }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pilot not ready after 30 s:\n${log}`)), 30_000);
    child.stderr!.on('data', (b: Buffer) => {
      log += b.toString();
      if (log.includes('pilot ready')) {
        clearTimeout(timer);
        resolve({
          uds,
          process: child,
          log: () => log,
          stop: () => new Promise<void>((r) => {
            if (child.exitCode !== null) return r();
            child.once('exit', () => r());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 3000).unref();
          }),
        });
      }
    });
    child.on('exit', (code) => reject(new Error(`pilot exited (${code}):\n${log}`)));
  });
}

/** Polls `cond` every 200 ms until true; throws `why()` after `timeoutMs`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, why: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await cond()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(why());
    await new Promise((r) => setTimeout(r, 200));
  }
}
