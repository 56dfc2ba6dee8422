#!/usr/bin/env node
// The `spar` command: runs the compiled CLI (built by `npm install` / `npm run build`).
// SPAR_TSX=1 runs the TypeScript sources directly through tsx instead (development, tests from src).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

if (process.env.SPAR_TSX === '1') {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
} else {
  const main = new URL('../dist/src/cli/main.js', import.meta.url);
  if (!existsSync(fileURLToPath(main))) {
    process.stderr.write('spar: not built yet. Run `npm install` (or `npm run build`) in the Spar checkout first.\n');
    process.exit(2);
  }
  await import(main.href);
}
