#!/usr/bin/env node
// Proxy memory against config size: for N extra services in the mesh (bench/controlplane/mesh-gen.ts
// through write-mesh.ts: Service + EndpointSlice each, DestinationRules with subsets on every 2nd,
// VirtualServices on every 4th, a gRPC port on every 10th), `spar pilot` serves the mesh and one
// sidecar at a time — real Envoy, then `spar proxy` — connects with Istio's bootstrap (pilot.mjs) and
// no Sidecar resource, so it holds every service (Istio's default without namespace isolation): the
// clusters, their endpoints and the route table of port 8080 with one virtual host per service.
// Once the pilot reports every type ACKed (/debug/syncz) and a settling pause has passed, VmRSS of
// the idle proxy is read from /proc. One proxy at a time: in REDIRECT mode a sidecar binds 15001
// and 15006 (virtualOutbound / virtualInbound), as in a pod; every other listener is virtual.
//
// Usage: node bench/dataplane/memory.mjs [--profile quick|full|smoke] [--out DIR] [--sizes 0,100,1000,5000]
//          [--endpoints 2] [--spar-from auto|dist|src] [--pilot-from auto|dist|src]
/* global fetch, AbortSignal */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus as osCpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PILOT_DIRS, sidecarBootstrap, startPilot, waitSynced } from './pilot.mjs';
import { envoyPath, freePorts, lastLines, rssBytes, start, stop } from './procs.mjs';
import { sparMode } from './proxies.mjs';
import { stringify } from 'yaml';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const log = (msg) => process.stderr.write(`[bench memory] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Mesh sizes (extra services) per profile; 0 is the empty mesh, the floor. */
export const MEMORY_PROFILES = {
  smoke: { sizes: [0, 20], settleMs: 1000, syncTimeoutMs: 60_000 },
  quick: { sizes: [0, 100, 1000, 5000], settleMs: 3000, syncTimeoutMs: 600_000 },
  full: { sizes: [0, 100, 1000, 5000], settleMs: 5000, syncTimeoutMs: 600_000 },
};

const MB = 2 ** 20;
const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

/** Samples VmRSS `n` times `everyMs` apart; the median, min, max in bytes. */
async function idleRss(pid, n = 5, everyMs = 400) {
  const xs = [];
  for (let i = 0; i < n; i++) {
    xs.push(rssBytes(pid) ?? NaN);
    if (i < n - 1) await sleep(everyMs);
  }
  const v = xs.filter(Number.isFinite);
  return { median: median(v), min: Math.min(...v), max: Math.max(...v) };
}

/** Clusters and listeners the proxy reports on its admin API (/clusters and /listeners, JSON); undefined when it does not answer. */
async function adminCounts(adminPort) {
  const get = async (path, pick) => {
    try {
      const r = await fetch(`http://127.0.0.1:${adminPort}${path}`, { signal: AbortSignal.timeout(30_000) });
      return r.ok ? pick(await r.json()) : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    adminClusters: await get('/clusters?format=json', (j) => j.cluster_statuses?.length),
    adminListeners: await get('/listeners?format=json', (j) => j.listener_statuses?.length),
  };
}

/** One proxy against the running pilot: start, wait for every type ACKed, settle, read RSS, stop. */
async function measureProxy({ impl, pilot, workDir, tools, spar, n, profile }) {
  const [adminPort] = await freePorts(1);
  // A pod of svc-0 in ns-0 (mesh-gen's first service), as a sidecar of that mesh would be.
  const b = sidecarBootstrap({ podName: 'svc-0-mem', ip: '10.64.0.0', labels: { app: 'svc-0', version: 'v1' }, namespace: 'ns-0', xdsPort: pilot.xdsPort, adminPort, interception: 'REDIRECT', flavor: impl });
  const file = join(workDir, `mem-${impl}-${n}.yaml`);
  writeFileSync(file, stringify(b));
  const name = `${impl} (N=${n})`;
  const proc = impl === 'envoy'
    ? start(name, tools.envoy, ['-c', file, '--concurrency', '1', '--disable-hot-restart', '-l', 'warning'])
    : start(name, process.execPath, [join(repoRoot, 'bin', 'spar.js'), 'proxy', '-c', file], { cwd: repoRoot, env: { ...process.env, ...spar.env } });
  const t0 = Date.now();
  try {
    await waitSynced(pilot, b.node.id, { proc, timeoutMs: profile.syncTimeoutMs, stableMs: 1000, need: n > 0 ? ['CDS', 'LDS', 'EDS', 'RDS'] : ['CDS', 'LDS'] });
    const syncedSec = (Date.now() - t0) / 1000;
    const st = (await pilot.syncz()).find((s) => s.proxy_id === b.node.id);
    await sleep(profile.settleMs);
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw new Error(`${name} exited: ${lastLines(proc.log())}`);
    const rss = await idleRss(proc.pid);
    // What the proxy itself says it holds (its admin API), read after the RSS samples.
    const held = await adminCounts(adminPort);
    return { ok: true, syncedSec, ...held, rssMB: rss.median / MB, rssMinMB: rss.min / MB, rssMaxMB: rss.max / MB, edsClusters: st?.types?.EDS?.subscribed, routeConfigs: st?.types?.RDS?.subscribed };
  } catch (e) {
    return { ok: false, error: `${e.message} ${lastLines(proc.log(), 2)}`.slice(0, 500), rssAtFailureMB: (rssBytes(proc.pid) ?? NaN) / MB };
  } finally {
    await stop(proc);
  }
}

/** Runs the memory step; returns the result, its markdown and the files written. */
export async function runMemory(opts) {
  const profile = { ...MEMORY_PROFILES[opts.profile ?? 'quick'] };
  if (!profile.sizes) throw new Error(`unknown profile ${opts.profile}`);
  if (opts.sizes) profile.sizes = opts.sizes;
  const endpoints = opts.endpoints ?? 2;
  const tools = { envoy: envoyPath() };
  const spar = sparMode(repoRoot, opts.sparFrom ?? 'auto');
  const pilotSpar = sparMode(repoRoot, opts.pilotFrom ?? 'auto', PILOT_DIRS);
  const impls = ['envoy', 'spar'].filter((i) => i !== 'envoy' || tools.envoy);
  const workDir = mkdtempSync(join(tmpdir(), 'spar-bench-mem-'));
  const result = {
    kind: 'spar-proxy-memory-bench',
    version: 1,
    profile: opts.profile ?? 'quick',
    startedAt: new Date().toISOString(),
    machine: { cpus: osCpus().length, cpuModel: osCpus()[0]?.model ?? 'unknown', kernel: release(), node: process.version, loadavgBefore: loadavg() },
    settings: { endpointsPerService: endpoints, settleMs: profile.settleMs, sparFrom: spar.from, pilotFrom: pilotSpar.from, envoy: tools.envoy ? 'envoy --concurrency 1' : 'envoy not found', interception: 'REDIRECT (Istio default; no iptables needed: nothing is sent through the proxies)', sidecarScope: 'none (every service visible)' },
    sizes: [],
  };
  try {
    for (const n of profile.sizes) {
      const configDir = join(workDir, `mesh-${n}`);
      mkdirSync(configDir, { recursive: true });
      let counts = { services: 0 };
      if (n > 0) {
        const g = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'dataplane', 'write-mesh.ts'), configDir, String(n), String(endpoints)], { cwd: repoRoot, encoding: 'utf8' });
        if (g.status !== 0) throw new Error(`write-mesh.ts failed: ${g.stderr.slice(-1000)}`);
        counts = JSON.parse(g.stdout);
      }
      log(`N=${n}: starting spar pilot`);
      const row = { services: n, counts, proxies: {} };
      result.sizes.push(row);
      let pilot;
      try {
        pilot = await startPilot({ repoRoot, configDir, workDir, env: pilotSpar.env, syntheticAddresses: true, timeoutMs: 600_000 });
        for (const impl of impls) {
          log(`N=${n}: ${impl}`);
          row.proxies[impl] = await measureProxy({ impl, pilot, workDir, tools, spar, n, profile });
          const r = row.proxies[impl];
          log(`N=${n}: ${impl}: ${r.ok ? `${r.rssMB.toFixed(1)} MB idle, ACKed after ${r.syncedSec.toFixed(1)} s (${r.edsClusters} EDS clusters)` : r.error}`);
        }
        row.pilotRssMB = (rssBytes(pilot.proc.pid) ?? NaN) / MB;
      } catch (e) {
        row.error = e.message.slice(0, 500);
        log(`N=${n}: ${row.error}`);
      } finally {
        if (pilot) await stop(pilot.proc);
      }
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  result.finishedAt = new Date().toISOString();
  result.machine.loadavgAfter = loadavg();
  const md = memoryMarkdown(result, impls);
  const outDir = resolve(opts.out ?? join(repoRoot, 'bench', 'results', 'tmp'));
  mkdirSync(outDir, { recursive: true });
  const base = join(outDir, `memory-${result.profile}-${result.startedAt.slice(0, 19).replace(/[:T]/g, '-')}`);
  writeFileSync(`${base}.json`, JSON.stringify(result, null, 1) + '\n');
  writeFileSync(`${base}.md`, md);
  log(`wrote ${base}.{json,md}`);
  return { result, markdown: md, files: [`${base}.json`, `${base}.md`] };
}

const LABEL = { envoy: 'Envoy', spar: 'spar proxy' };
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');

/** The N → RSS table. */
export function memoryMarkdown(result, impls) {
  const m = result.machine;
  const head = `| services in the mesh | ${impls.map((i) => `${LABEL[i]} RSS MB (idle)`).join(' | ')} | ${impls.map((i) => `${LABEL[i]} ACKed after s`).join(' | ')} | EDS clusters | clusters held (admin /clusters: ${impls.map((i) => LABEL[i]).join(' / ')}) | pilot RSS MB |`;
  const lines = [head, `| ---: | ${impls.map(() => '---:').join(' | ')} | ${impls.map(() => '---:').join(' | ')} | ---: | ---: | ---: |`];
  const notes = [];
  for (const row of result.sizes) {
    const cells = impls.map((i) => {
      const r = row.proxies[i];
      if (!r) return row.error ? 'not run' : '–';
      if (!r.ok) {
        notes.push(`- N=${row.services}, ${LABEL[i]}: ${r.error}`);
        return `failed${Number.isFinite(r.rssAtFailureMB) ? ` (${f1(r.rssAtFailureMB)} at failure)` : ''}`;
      }
      return f1(r.rssMB);
    });
    const times = impls.map((i) => (row.proxies[i]?.ok ? row.proxies[i].syncedSec.toFixed(1) : '–'));
    const eds = impls.map((i) => row.proxies[i]?.edsClusters).find((x) => x !== undefined) ?? '–';
    const held = impls.map((i) => row.proxies[i]?.adminClusters ?? '–').join(' / ');
    if (row.error) notes.push(`- N=${row.services}: ${row.error}`);
    lines.push(`| ${row.services.toLocaleString('en-US')} | ${cells.join(' | ')} | ${times.join(' | ')} | ${eds} | ${held} | ${f1(row.pilotRssMB)} |`);
  }
  return [
    `# Sidecar memory against mesh size (${result.profile}, ${result.startedAt.slice(0, 10)})`,
    '',
    `Machine: ${m.cpuModel}, ${m.cpus} CPUs, Linux ${m.kernel}, Node ${m.node}. Load average before: ${m.loadavgBefore.map((x) => x.toFixed(2)).join(' ')}, after: ${(m.loadavgAfter ?? []).map((x) => x.toFixed(2)).join(' ')}.`,
    `Mesh: bench/controlplane/mesh-gen.ts, ${result.settings.endpointsPerService} endpoints per service, DestinationRule (2 subsets) on every 2nd service, VirtualService on every 4th, gRPC port on every 10th; served by \`spar pilot\` (from ${result.settings.pilotFrom}); spar proxy from ${result.settings.sparFrom}.`,
    'One sidecar at a time (a pod of svc-0, REDIRECT mode, no Sidecar resource: it holds every service), delta ADS; RSS is VmRSS from /proc, median of 5 samples taken after the pilot reported CDS, LDS, EDS and RDS ACKed and a settling pause. Envoy runs with --concurrency 1 and Istio\'s stats inclusion list in its bootstrap (as Istio\'s agent writes it; without it Envoy allocates every per-cluster stat); spar proxy\'s bootstrap leaves stats_config out (not supported).',
    '',
    ...lines,
    '',
    notes.length ? `Failures:\n\n${notes.join('\n')}\n` : '',
  ].join('\n');
}

export function parseMemoryArgs(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: false,
    options: {
      profile: { type: 'string' },
      quick: { type: 'boolean' },
      full: { type: 'boolean' },
      smoke: { type: 'boolean' },
      out: { type: 'string' },
      sizes: { type: 'string' },
      endpoints: { type: 'string' },
      'spar-from': { type: 'string' },
      'pilot-from': { type: 'string' },
    },
  });
  return {
    profile: values.profile ?? (values.full ? 'full' : values.smoke ? 'smoke' : 'quick'),
    out: values.out,
    sizes: values.sizes?.split(',').map(Number),
    endpoints: values.endpoints ? Number(values.endpoints) : undefined,
    sparFrom: values['spar-from'] ?? 'auto',
    pilotFrom: values['pilot-from'] ?? 'auto',
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runMemory(parseMemoryArgs(process.argv.slice(2))).then(
    ({ markdown, files }) => {
      process.stdout.write(`${markdown}\n${files.join('\n')}\n`);
      process.exit(0);
    },
    (e) => {
      process.stderr.write(`bench memory: ${e.stack ?? e}\n`);
      process.exit(1);
    },
  );
}
