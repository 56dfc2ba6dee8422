#!/usr/bin/env node
// The data-plane benchmark: fortio load through each topology (direct, Envoy, spar proxy; one hop
// and both sidecars) for each protocol and load cell, topologies alternated within each cell and
// repeated; writes JSON, a markdown table and an SVG chart.
//
// Usage: node bench/dataplane/run.mjs [--profile quick|full|smoke] [--out DIR]
//          [--protocols http1,tcp] [--topologies direct,envoy-1] [--duration S] [--repeats N]
//          [--spar-from auto|dist|src] [--config-from pilot|static] [--pilot-from auto|dist|src]
// Needs fortio (PATH, $FORTIO or ~/go/bin/fortio) and envoy (PATH or $ENVOY). Never run from CI
// except as the smoke profile (test/bench/smoke.test.ts); timings are never asserted.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus as osCpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { HEADLINE, PAYLOAD_BYTES, PROFILES, PROTOCOLS, TOPOLOGIES } from './config.mjs';
import { fortioLoad, startFortioServer } from './fortio.mjs';
import { cpuSeconds, envoyPath, machineBusySeconds, fortioPath, freePorts, lastLines, pinningPlan, rssBytes, rssPeakSampler, stop } from './procs.mjs';
import { chainConfigYaml, PILOT_DIRS, startPilot } from './pilot.mjs';
import { sparMode, startChain, startPilotChain } from './proxies.mjs';
import { markdown, summarise, svgChart } from './report.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function version(cmd, args, pick) {
  try {
    return pick(execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim());
  } catch {
    return 'unknown';
  }
}

function distBuiltAt(root) {
  try {
    return statSync(join(root, 'dist', 'src', 'cli', 'main.js')).mtime.toISOString();
  } catch {
    return 'never';
  }
}

/** Runs the benchmark; returns the result object and the paths written. */
export async function runDataplane(opts) {
  const profile = PROFILES[opts.profile];
  if (!profile) throw new Error(`unknown profile ${opts.profile} (quick, full, smoke)`);
  const protocols = PROTOCOLS.filter((p) => (opts.protocols ?? profile.protocols).includes(p.id));
  const topologies = TOPOLOGIES.filter((t) => (opts.topologies ? opts.topologies.includes(t.id) : !t.optional));
  if (!topologies.some((t) => t.id === 'direct')) topologies.unshift(TOPOLOGIES[0]);
  const durationSec = opts.duration ?? profile.durationSec;
  const repeats = opts.repeats ?? profile.repeats;
  const tools = { fortio: fortioPath(), envoy: envoyPath() };
  if (!tools.fortio) throw new Error('fortio not found (PATH, $FORTIO or ~/go/bin/fortio); .ci/run installs it with go install fortio.org/fortio@v1.66.5');
  const pin = pinningPlan();
  const configFrom = opts.configFrom ?? profile.configFrom ?? 'pilot';
  if (!['pilot', 'static'].includes(configFrom)) throw new Error(`--config-from ${configFrom}: pilot or static`);
  const spar = sparMode(repoRoot, opts.sparFrom);
  const pilotSpar = sparMode(repoRoot, opts.pilotFrom, PILOT_DIRS);
  const workDir = mkdtempSync(join(tmpdir(), 'spar-bench-'));
  const result = {
    kind: 'spar-dataplane-bench',
    version: 1,
    profile: opts.profile,
    startedAt: new Date().toISOString(),
    machine: {
      cpus: osCpus().length,
      cpuModel: osCpus()[0]?.model ?? 'unknown',
      kernel: release(),
      node: process.version,
      envoyVersion: tools.envoy ? version(tools.envoy, ['--version'], (s) => s.split('\n').find((l) => l.includes('version')) ?? s).replace(/^.*?version: /, 'envoy ') : 'envoy not found',
      fortioVersion: version(tools.fortio, ['version'], (s) => s.split('\n')[0]),
      loadavgBefore: loadavg(),
    },
    settings: {
      payloadBytes: PAYLOAD_BYTES,
      durationSec,
      repeats,
      warmupSec: profile.warmupSec,
      cells: profile.cells,
      envoyConcurrency: 1,
      configFrom,
      ...(configFrom === 'pilot' ? { pilotFrom: pilotSpar.from === 'dist' ? `dist (built ${distBuiltAt(repoRoot)})` : pilotSpar.from } : {}),
      sparFrom: spar.from === 'dist' ? `dist (built ${distBuiltAt(repoRoot)})` : spar.from,
      gitCommit: version('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], (x) => x),
      pinning: pin.client ? `load generator on CPU ${pin.client}; fortio server and proxies on CPU ${pin.proxies}` : 'none (fewer than 2 CPUs or no taskset)',
    },
    topologies: topologies.map(({ id, label, impl, hops }) => ({ id, label, impl, hops })),
    availability: {},
    idleRss: {},
    runs: [],
  };
  const serverPorts = await freePorts(3).then(([http, grpc, tcp]) => ({ http, grpc, tcp }));
  let server;
  let pilot;
  const plan = new Map();
  try {
    server = await startFortioServer(tools.fortio, serverPorts, pin.server);
    if (configFrom === 'pilot') {
      // One pilot, one config for every chain of the run (pilot.mjs says what it holds).
      const proxied = topologies.filter((t) => t.hops > 0 && !t.resilience);
      const ports = await freePorts(proxied.length * protocols.length * 4);
      let k = 0;
      for (const protocol of protocols) {
        for (const t of proxied) {
          const [svcPort, ingressPort, admin1, admin2] = ports.splice(0, 4);
          k++;
          plan.set(`${t.id}|${protocol.id}`, { id: `${t.id}-${protocol.id}`, k, protocol, hops: t.hops, svcPort, ingressPort, adminPorts: [admin1, admin2], fortioPort: serverPorts[protocol.server] });
        }
      }
      const configDir = join(workDir, 'istio');
      mkdirSync(configDir);
      result.istioConfig = chainConfigYaml([...plan.values()]);
      writeFileSync(join(configDir, 'bench.yaml'), result.istioConfig);
      log(`starting spar pilot (${plan.size} chains)`);
      pilot = await startPilot({ repoRoot, configDir, workDir, cpus: pin.proxies, env: pilotSpar.env });
    }
    for (const protocol of protocols) {
      log(`${protocol.label}: starting proxies`);
      const chains = new Map();
      // Every topology's proxies start at once (start-up is most of a short run); probes run one by one.
      const starting = new Map();
      for (const topo of topologies) {
        result.availability[topo.id] ??= {};
        if (topo.impl === 'envoy' && !tools.envoy) {
          result.availability[topo.id][protocol.id] = { available: false, reason: 'envoy not found on PATH' };
          continue;
        }
        if (pilot && topo.resilience) {
          result.availability[topo.id][protocol.id] = { available: false, reason: 'resilience topologies use static bootstraps (--config-from static)' };
          continue;
        }
        const chainStart = pilot
          ? startPilotChain({ topology: topo, protocol, chain: plan.get(`${topo.id}|${protocol.id}`) ?? { fortioPort: serverPorts[protocol.server] }, pilot, tools, cpus: pin.proxies, workDir, repoRoot, spar })
          : startChain({ topology: topo, protocol, upstreamPort: serverPorts[protocol.server], tools, cpus: pin.proxies, workDir, repoRoot, spar });
        chainStart.catch(() => {}); // awaited below
        starting.set(topo.id, chainStart);
      }
      for (const topo of topologies.filter((t) => starting.has(t.id))) {
        try {
          const chain = await starting.get(topo.id);
          chains.set(topo.id, chain);
          // One probe run: proves the chain forwards this protocol (and warms it up).
          const probe = await fortioLoad(tools.fortio, { protocol, host: chain.entryHost, port: chain.entryPort, rate: 0, conns: 1, durationSec: 0.3, cpus: pin.client, tmpDir: workDir, tag: `probe-${topo.id}-${protocol.id}` });
          if (!probe.ok || probe.errors > 0) throw new Error(`probe through ${topo.label} failed: ${probe.error ?? `${probe.errors} errors`}`);
          result.availability[topo.id][protocol.id] = { available: true };
        } catch (e) {
          const chain = chains.get(topo.id);
          const why = e.message + (chain ? ` ${chain.proxies.map((p) => lastLines(p.log(), 2)).filter(Boolean).join(' | ')}` : '');
          result.availability[topo.id][protocol.id] = { available: false, reason: why.slice(0, 500) };
          log(`${topo.id}/${protocol.id}: not available: ${why.slice(0, 200)}`);
          if (chain) await Promise.all(chain.proxies.map(stop));
          chains.delete(topo.id);
        }
      }
      const active = topologies.filter((t) => chains.has(t.id));
      if (profile.warmupSec > 0) {
        for (const t of active) {
          await fortioLoad(tools.fortio, { protocol, host: chains.get(t.id).entryHost, port: chains.get(t.id).entryPort, rate: 1000, conns: 4, durationSec: profile.warmupSec, cpus: pin.client, tmpDir: workDir, tag: `warm-${t.id}` });
        }
      }
      await sleep(500);
      for (const t of active) {
        result.idleRss[t.id] ??= {};
        result.idleRss[t.id][protocol.id] = chains.get(t.id).proxies.map((p) => rssBytes(p.pid) ?? 0);
      }
      let turn = 0;
      for (let repeat = 1; repeat <= repeats; repeat++) {
        for (const cell of profile.cells) {
          // Rotate the order every cell and repeat so no topology always runs first or last.
          const order = active.map((_, i) => active[(i + turn) % active.length]);
          turn++;
          for (const t of order) {
            const chain = chains.get(t.id);
            const dead = chain.proxies.find((p) => p.child.exitCode !== null || p.child.signalCode !== null);
            if (dead) {
              const error = `${dead.name} exited (${dead.child.exitCode ?? dead.child.signalCode}): ${lastLines(dead.log(), 2)}`;
              result.runs.push({ protocol: protocol.id, rate: cell.rate, conns: cell.conns, topology: t.id, repeat, ok: false, error });
              log(`${protocol.id} ${cell.rate || 'max'}rps c${cell.conns} #${repeat} ${t.id}: ${error}`);
              continue;
            }
            const pids = chain.proxies.map((p) => p.pid);
            const cpu0 = pids.map(cpuSeconds);
            const rss = rssPeakSampler(pids);
            const busy0 = machineBusySeconds();
            const t0 = performance.now();
            const r = await fortioLoad(tools.fortio, { protocol, host: chain.entryHost, port: chain.entryPort, rate: cell.rate, conns: cell.conns, durationSec, cpus: pin.client, tmpDir: workDir, tag: `${t.id}-${protocol.id}-${repeat}` });
            const rssPeak = rss.stop();
            const cpuSec = pids.map((p, i) => cpuSeconds(p) - cpu0[i]);
            const machineBusyCpus = (machineBusySeconds() - busy0) / ((performance.now() - t0) / 1000);
            result.runs.push({ protocol: protocol.id, rate: cell.rate, conns: cell.conns, topology: t.id, repeat, ...r, cpuSec, rssPeak, machineBusyCpus });
            const lat = r.ok ? `p50 ${r.latencyMs.p50?.toFixed(3)} p99 ${r.latencyMs.p99?.toFixed(3)} ms, ${r.achievedRps.toFixed(0)} rps${r.errors ? `, ${r.errors} errors` : ''}` : r.error;
            log(`${protocol.id} ${cell.rate || 'max'}rps c${cell.conns} #${repeat} ${t.id}: ${lat}`);
          }
        }
      }
      for (const chain of chains.values()) await Promise.all(chain.proxies.map(stop));
    }
  } finally {
    if (pilot) await stop(pilot.proc);
    if (server) await stop(server);
    rmSync(workDir, { recursive: true, force: true });
  }
  result.finishedAt = new Date().toISOString();
  result.machine.loadavgAfter = loadavg();
  result.summary = summarise(result);

  const outDir = resolve(opts.out ?? join(repoRoot, 'bench', 'results', 'tmp'));
  mkdirSync(outDir, { recursive: true });
  const base = join(outDir, `dataplane-${opts.profile}-${result.startedAt.slice(0, 19).replace(/[:T]/g, '-')}`);
  const headline = profile.cells.some((c) => c.rate === HEADLINE.rate && c.conns === HEADLINE.conns) ? HEADLINE : profile.cells[0];
  writeFileSync(`${base}.json`, JSON.stringify(result, null, 1) + '\n');
  writeFileSync(`${base}.md`, markdown(result, PROTOCOLS, headline));
  writeFileSync(`${base}.svg`, svgChart(result, PROTOCOLS, headline));
  log(`wrote ${base}.{json,md,svg}`);
  const md = markdown(result, PROTOCOLS, headline);
  const headlineMd = md.slice(md.indexOf('\n## ') + 1, md.indexOf('## Every cell')).trim();
  return { result, headlineMd, files: [`${base}.json`, `${base}.md`, `${base}.svg`] };
}

/** Command-line options shared with bench/run.mjs. */
export function parseDataplaneArgs(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: false,
    options: {
      profile: { type: 'string' },
      quick: { type: 'boolean' },
      full: { type: 'boolean' },
      smoke: { type: 'boolean' },
      out: { type: 'string' },
      protocols: { type: 'string' },
      topologies: { type: 'string' },
      duration: { type: 'string' },
      repeats: { type: 'string' },
      'spar-from': { type: 'string' },
      'config-from': { type: 'string' },
      'pilot-from': { type: 'string' },
    },
  });
  const profile = values.profile ?? (values.full ? 'full' : values.smoke ? 'smoke' : 'quick');
  return {
    profile,
    out: values.out,
    protocols: values.protocols?.split(','),
    topologies: values.topologies?.split(','),
    duration: values.duration ? Number(values.duration) : undefined,
    repeats: values.repeats ? Number(values.repeats) : undefined,
    sparFrom: values['spar-from'] ?? 'auto',
    configFrom: values['config-from'],
    pilotFrom: values['pilot-from'] ?? 'auto',
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runDataplane(parseDataplaneArgs(process.argv.slice(2))).then(
    ({ files }) => {
      process.stdout.write(files.join('\n') + '\n');
      process.exit(0);
    },
    (e) => {
      process.stderr.write(`bench: ${e.stack ?? e}\n`);
      process.exit(1);
    },
  );
}
