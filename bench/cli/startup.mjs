#!/usr/bin/env node
// `spar` start-up time and `spar validate` over every Istio sample, from the built dist/ (what
// `npm install` leaves), each run a fresh process timed from spawn to exit.
// Targets (issue "Foundation"): start-up under 300 ms; validating all samples under 1 s after start-up.
// The targets are reported, never asserted.
//
// Usage: node bench/cli/startup.mjs [--quick|--full|--smoke] [--out DIR]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sharedDir = process.env.SPAR_SHARED ? resolve(process.env.SPAR_SHARED) : resolve(repoRoot, '..', 'shared');
const samplesDir = join(sharedDir, 'istio', 'samples');
const sparBin = join(repoRoot, 'bin', 'spar.js');
const builtMain = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

const RUNS = { smoke: { startup: 3, validate: 1 }, quick: { startup: 15, validate: 5 }, full: { startup: 40, validate: 15 } };
const TARGETS = { startupMs: 300, validateAfterStartupMs: 1000 };

function median(xs) {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}
const stats = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });

/** Wall time of one process, spawn to exit, in ms. */
function timeRun(args) {
  const env = { ...process.env };
  delete env.SPAR_TSX;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 2 ** 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { ms, status: r.status, stderr: r.stderr.toString() };
}

function countYaml(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) n += countYaml(join(dir, e.name));
    else if (/\.ya?ml$/.test(e.name)) n++;
  }
  return n;
}

/** Runs the CLI benchmark; returns the result and the files written. */
export function runStartup({ profile = 'quick', out } = {}) {
  const runs = RUNS[profile] ?? RUNS.quick;
  const result = { kind: 'spar-cli-bench', version: 1, profile, startedAt: new Date().toISOString(), cpus: cpus().length, loadavgBefore: loadavg(), targets: TARGETS };
  if (!existsSync(builtMain)) {
    result.status = 'not built';
    result.reason = 'dist/ is missing: run `npm run build` (or `npm install`) first; the benchmark times the built CLI';
  } else {
    result.status = 'measured';
    result.distBuiltAt = statSync(builtMain).mtime.toISOString();
    // Node's own start-up, for scale: the floor under any CLI written for it.
    result.nodeBareMs = stats(Array.from({ length: runs.startup }, () => timeRun(['-e', '0']).ms));
    const first = timeRun([sparBin, '--version']);
    if (first.status !== 0) throw new Error(`spar --version failed: ${first.stderr}`);
    result.startupMs = stats(Array.from({ length: runs.startup }, () => timeRun([sparBin, '--version']).ms));
    result.samplesDir = samplesDir;
    if (existsSync(samplesDir)) {
      result.sampleFiles = countYaml(samplesDir);
      const v = Array.from({ length: runs.validate }, () => timeRun([sparBin, 'validate', '-f', samplesDir]));
      result.validateExitCode = v[0].status;
      result.validateMs = stats(v.map((x) => x.ms));
      result.validateAfterStartupMs = stats(v.map((x) => x.ms - result.startupMs.median));
    } else {
      result.validateMs = null;
      result.validateReason = `no samples at ${samplesDir} (set SPAR_SHARED)`;
    }
  }
  result.finishedAt = new Date().toISOString();
  const md = markdown(result);
  const outDir = resolve(out ?? join(repoRoot, 'bench', 'results', 'tmp'));
  mkdirSync(outDir, { recursive: true });
  const base = join(outDir, `cli-startup-${profile}-${result.startedAt.slice(0, 19).replace(/[:T]/g, '-')}`);
  writeFileSync(`${base}.json`, JSON.stringify(result, null, 1) + '\n');
  writeFileSync(`${base}.md`, md);
  return { result, markdown: md, files: [`${base}.json`, `${base}.md`] };
}

export function markdown(r) {
  if (r.status !== 'measured') return `# spar CLI start-up\n\nnot measured: ${r.reason}\n`;
  const f = (s) => `${s.median.toFixed(1)} ms (${s.min.toFixed(1)}…${s.max.toFixed(1)}, n=${s.n})`;
  const verdict = (v, target) => (v <= target ? `under the ${target} ms target` : `OVER the ${target} ms target`);
  const lines = [
    `# spar CLI start-up (${r.profile}, ${r.startedAt.slice(0, 10)})`,
    '',
    `Built CLI (dist/, built ${r.distBuiltAt}); every run a fresh \`node bin/spar.js\` process timed spawn to exit; median (min…max). ${r.cpus} CPUs, load average before ${r.loadavgBefore.map((x) => x.toFixed(2)).join(' ')}.`,
    '',
    '| what | time | target |',
    '| --- | --- | --- |',
    `| \`node -e 0\` (Node's own floor) | ${f(r.nodeBareMs)} | |`,
    `| \`spar --version\` (start-up) | ${f(r.startupMs)} | ${verdict(r.startupMs.median, r.targets.startupMs)} |`,
  ];
  if (r.validateMs) {
    lines.push(`| \`spar validate -f samples/\` (${r.sampleFiles} YAML files, exit ${r.validateExitCode}) | ${f(r.validateMs)} | |`);
    lines.push(`| … of which after start-up | ${f(r.validateAfterStartupMs)} | ${verdict(r.validateAfterStartupMs.median, r.targets.validateAfterStartupMs)} |`);
  } else {
    lines.push(`| \`spar validate\` on the samples | not measured: ${r.validateReason} | |`);
  }
  return lines.join('\n') + '\n';
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ strict: false, options: { quick: { type: 'boolean' }, full: { type: 'boolean' }, smoke: { type: 'boolean' }, out: { type: 'string' } } });
  const profile = values.full ? 'full' : values.smoke ? 'smoke' : 'quick';
  const { markdown: md, files } = runStartup({ profile, out: values.out });
  process.stdout.write(md + files.join('\n') + '\n');
}
