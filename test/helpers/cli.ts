/**
 * Runs the real `spar` command in a child process, as a user would. When the test itself runs from
 * TypeScript sources (tsx), the CLI does too (SPAR_TSX=1); from dist/, the compiled CLI runs.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../src/common/paths.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const sparBin = join(repoRoot, 'bin', 'spar.js');
const fromSource = import.meta.url.endsWith('.ts');

/** `spar ...args`; resolves when it exits (or is killed after timeoutMs). */
export function runSpar(args: string[], opts: { input?: string | Buffer; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [sparBin, ...args], {
      env: { ...process.env, ...(fromSource ? { SPAR_TSX: '1' } : {}), ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}
