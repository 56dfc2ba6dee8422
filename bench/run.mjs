#!/usr/bin/env node
// `npm run bench` (--quick) and `npm run bench:full` (--full): the CLI start-up benchmark, then the
// data-plane benchmark; results (JSON, markdown, SVG) go to bench/results/tmp/ unless --out says
// otherwise. --smoke is the few-second version test/bench/smoke.test.ts runs to keep this working.
// Options after the profile go to the data-plane harness (see bench/dataplane/run.mjs), e.g.
//   node bench/run.mjs --quick --protocols http1 --topologies direct,envoy-2
// --only cli|dataplane|memory|controlplane runs one of them. The proxy memory step
// (bench/dataplane/memory.mjs: idle RSS of Envoy and spar proxy with 0 / 100 / 1,000 / 5,000 services
// from spar pilot) runs in --full, or alone with --only memory. The control-plane scale bench
// (bench/controlplane/scale.ts, through tsx) runs in --quick and --full; --smoke leaves it to
// its own smoke test (test/bench/controlplane-smoke.test.ts) unless --only controlplane.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runStartup } from './cli/startup.mjs';
import { parseDataplaneArgs, runDataplane } from './dataplane/run.mjs';
import { parseMemoryArgs, runMemory } from './dataplane/memory.mjs';

const argv = process.argv.slice(2);
const { values } = parseArgs({ args: argv, strict: false, options: { only: { type: 'string' } } });
const dp = parseDataplaneArgs(argv);
const started = Date.now();
try {
  if (!values.only || values.only === 'cli') {
    process.stderr.write('[bench] spar CLI start-up\n');
    const { markdown, files } = runStartup({ profile: dp.profile, out: dp.out });
    process.stdout.write(`${markdown}\n${files.join('\n')}\n\n`);
  }
  if (!values.only || values.only === 'dataplane') {
    const { files, headlineMd } = await runDataplane(dp);
    process.stdout.write(`${headlineMd}\n\n${files.join('\n')}\n`);
  }
  if (values.only === 'memory' || (!values.only && dp.profile === 'full')) {
    process.stderr.write('[bench] proxy memory against mesh size\n');
    const { markdown, files } = await runMemory(parseMemoryArgs(argv));
    process.stdout.write(`${markdown}\n${files.join('\n')}\n`);
  }
  if (values.only === 'controlplane' || (!values.only && dp.profile !== 'smoke')) {
    process.stderr.write('[bench] control plane scale\n');
    const scale = fileURLToPath(new URL('./controlplane/scale.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--import', 'tsx', scale, '--profile', dp.profile, ...(dp.out ? ['--out', dp.out] : [])], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error(`control-plane bench exited ${r.status ?? r.signal}`);
  }
  process.stderr.write(`[bench] done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  process.exit(0);
} catch (e) {
  process.stderr.write(`bench: ${e.stack ?? e}\n`);
  process.exit(1);
}
