/**
 * Control-plane scale bench: how `spar pilot` behaves as the mesh (N services × E endpoints) and
 * the number of connected proxies (P) grow.
 *
 * For each cell (N, E, P) it writes a simulated mesh (mesh-gen.ts) to a temporary config folder,
 * starts `spar pilot` on it as a child process (the real CLI, from the sources through tsx), and
 * connects P simulated sidecars: real gRPC ADS streams (SotW) from src/xds/server/client.ts that
 * subscribe like Envoy (CDS + LDS wildcard, then the EDS and RDS names those name) and ACK every
 * response as soon as it arrives. Then it makes three kinds of change, each `repeats` times:
 *
 *   vs-edit         a VirtualService's header match value changes   (affects RDS of every proxy)
 *   endpoint-churn  one endpoint of a service gets a new address     (EDS-only push)
 *   new-service     a new Service + EndpointSlice file appears       (full push: CDS, EDS, LDS, RDS)
 *
 * and for each records, per proxy, the time from the file write to that proxy receiving (and, at
 * once, ACKing) the response that carries the change: p50 / p99 / max across proxies. The path
 * timed is the whole pilot: file watch (50 ms quiet), 100 ms debounce, re-reading and validating
 * the folder, push context, generation, encoding, gRPC send. Beside it: pushes and bytes per change
 * (pilot_xds_pushes, pilot_xds_config_size_bytes), the pilot's CPU per change and memory
 * (process.cpuUsage / memoryUsage inside the pilot, asked over an IPC channel; peak RSS from
 * /proc VmHWM), the pilot's push context build and send time (/debug/push_status), and the config
 * generation time for one proxy measured in this process with the same generators.
 *
 *   node --import tsx bench/controlplane/scale.ts --quick | --full | --smoke [--out DIR]
 *   node --import tsx bench/controlplane/scale.ts --cells 1000x5x100,100x5x1000 --repeats 3
 *
 * Cells are NxExP. Results (JSON + markdown) go to --out (default bench/results/tmp). No number
 * is asserted anywhere: a benchmark, not a test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { repoRoot } from '../../src/common/paths.js';
import { parseText } from '../../src/config/parse.js';
import { withSyntheticAddresses } from '../../src/registry/kube/synthetic.js';
import { buildPushContext, defaultMeshConfig, generate, proxyFromNode } from '../../src/xds/gen/index.js';
import { decodeResource, type EnvoyJson } from '../../src/xds/codec.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { routeNames, SimulatedProxy, type ReceivedResponse } from '../../src/xds/server/client.js';
import { endpointIp, hasVirtualService, meshCounts, meshFiles, meshService, serviceFile, sidecarNode, type MeshSpec } from './mesh-gen.js';

export type Profile = 'smoke' | 'quick' | 'full';
export type ChangeKind = 'vs-edit' | 'endpoint-churn' | 'new-service';
export const CHANGES: ChangeKind[] = ['vs-edit', 'endpoint-churn', 'new-service'];

export interface Cell {
  services: number;
  endpoints: number;
  proxies: number;
}

export interface ScaleOptions {
  profile: Profile;
  out?: string;
  cells?: Cell[];
  repeats?: number;
  /** Per-change time limit (ms). */
  timeoutMs?: number;
  log?: (s: string) => void;
}

/** The cells each profile runs. */
export const PROFILES: Record<Profile, { cells: Cell[]; repeats: number }> = {
  smoke: { cells: [{ services: 20, endpoints: 2, proxies: 5 }], repeats: 1 },
  quick: { cells: [{ services: 100, endpoints: 5, proxies: 25 }], repeats: 3 },
  // Growth with N at P = 10 and with P at N = 100, in an order that gives the widest spread first
  // (the results files are rewritten after every cell, so a run cut short still reports what it did).
  full: {
    cells: [
      { services: 100, endpoints: 5, proxies: 10 },
      { services: 1000, endpoints: 5, proxies: 10 },
      { services: 100, endpoints: 5, proxies: 500 },
      { services: 2000, endpoints: 5, proxies: 10 },
      { services: 100, endpoints: 5, proxies: 1000 },
      { services: 5000, endpoints: 5, proxies: 10 },
      { services: 100, endpoints: 5, proxies: 2000 },
      { services: 500, endpoints: 5, proxies: 10 },
      { services: 100, endpoints: 5, proxies: 100 },
    ],
    repeats: 3,
  },
};

export interface ChangeRun {
  /** ms from the file write to each proxy receiving + ACKing the change: quantiles across proxies. */
  p50: number;
  p99: number;
  max: number;
  /** Proxies that got it (all of them unless timedOut). */
  proxies: number;
  timedOut: boolean;
  pushes: number;
  bytes: number;
  pilotCpuMs: number;
  pushContextMs?: number;
  sendMs?: number;
  pushTypes?: string[];
}

export interface ChangeSummary {
  kind: ChangeKind;
  runs: ChangeRun[];
  /** Medians over the repeats. */
  p50: number;
  p99: number;
  max: number;
  pushes: number;
  bytes: number;
  pilotCpuMs: number;
  pushContextMs?: number;
  sendMs?: number;
  /** sendMs / P: generate + encode + write per proxy, pilot side. */
  sendPerProxyMs?: number;
  timedOut: number;
}

export interface CellResult extends Cell {
  mesh: Record<string, number>;
  files: number;
  /** In this process: parse + push context + all four types for one sidecar. */
  gen: { parseMs: number; pushContextMs: number; perProxyColdMs: number; perProxyWarmMs: number; resources: Record<string, number>; jsonBytes: number };
  pilot: {
    startMs: number;
    /** From the first connect to every proxy holding CDS, EDS, LDS and RDS. */
    initialConvergeMs: number;
    initialPushes: number;
    initialBytes: number;
    rssIdleMb: number;
    heapIdleMb: number;
    rssEndMb: number;
    heapEndMb: number;
    rssPeakMb: number;
    cpuStartupMs: number;
    cpuInitialPushMs: number;
  };
  changes: ChangeSummary[];
  error?: string;
}

const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const quantile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
const round = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? x : Math.round(x * 10 ** d) / 10 ** d);
const MB = 1024 * 1024;

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** Loaded into the pilot process: answers 'sample' over IPC with its CPU and memory; exits with the bench. */
const PROBE = `data:text/javascript,${encodeURIComponent(
  "process.on('message', (m) => { if (m === 'sample' && process.send) process.send({ cpu: process.cpuUsage(), mem: process.memoryUsage() }); }); process.on('disconnect', () => process.exit(0));",
)}`;

interface Sample {
  cpuMs: number;
  rss: number;
  heapUsed: number;
}

class PilotChild {
  readonly child: ChildProcess;
  log = '';
  private exited = false;

  constructor(dir: string, readonly xdsPort: number, readonly debugPort: number) {
    this.child = spawn(
      process.execPath,
      ['--import', PROBE, join(repoRoot, 'bin', 'spar.js'), 'pilot', '--config', dir, '--port', String(xdsPort), '--debug-port', String(debugPort), '--host', '127.0.0.1', '--log-level', 'warn'],
      { env: { ...process.env, SPAR_TSX: '1' }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
    );
    this.child.stderr!.on('data', (b: Buffer) => {
      this.log += b.toString();
      if (this.log.length > 40_000) this.log = this.log.slice(-20_000);
    });
    this.child.once('exit', () => (this.exited = true));
  }

  get pid(): number {
    return this.child.pid!;
  }

  async ready(timeoutMs: number): Promise<void> {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      if (this.exited) throw new Error(`spar pilot exited: ${this.log.slice(-2000)}`);
      try {
        const r = await fetch(`http://127.0.0.1:${this.debugPort}/ready`);
        if (r.ok) return;
      } catch {
        /* not yet */
      }
      await sleep(50);
    }
    throw new Error(`spar pilot not ready in ${timeoutMs} ms: ${this.log.slice(-2000)}`);
  }

  sample(): Promise<Sample> {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error('pilot did not answer the sample request')), 10_000);
      this.child.once('message', (m: { cpu: { user: number; system: number }; mem: { rss: number; heapUsed: number } }) => {
        clearTimeout(timer);
        res({ cpuMs: (m.cpu.user + m.cpu.system) / 1000, rss: m.mem.rss, heapUsed: m.mem.heapUsed });
      });
      this.child.send('sample');
    });
  }

  /** Peak RSS of the process so far (VmHWM), bytes. */
  peakRss(): number {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : NaN;
    } catch {
      return NaN;
    }
  }

  async metrics(): Promise<{ pushes: number; bytes: number }> {
    const text = await (await fetch(`http://127.0.0.1:${this.debugPort}/metrics`)).text();
    let pushes = 0;
    let bytes = 0;
    for (const line of text.split('\n')) {
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (line.startsWith('pilot_xds_pushes{') || line.startsWith('pilot_xds_pushes ')) pushes += v;
      else if (line.startsWith('pilot_xds_config_size_bytes_sum')) bytes += v;
    }
    return { pushes, bytes };
  }

  async pushStatus(): Promise<{ totalPushes: number; pushes: { buildMs: number; sendMs?: number; types: string[]; reason: string }[] }> {
    return (await (await fetch(`http://127.0.0.1:${this.debugPort}/debug/push_status`)).json()) as never;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(t);
  }
}

/** What each simulated proxy waits for: the first response of `typeUrl` whose bytes hold `marker`. */
interface Expectation {
  typeUrl: string;
  marker: Buffer;
  start: number;
  got: Map<number, number>;
}

/**
 * Envoy's follow-up subscriptions (EDS for its EDS clusters, RDS for the routes its listeners
 * name), as SimulatedProxy's `follow` does, but decoding each distinct resource once for all the
 * simulated proxies: most proxies receive byte-identical clusters and listeners, and decoding
 * them P times would make the one client process, not the pilot, the bottleneck.
 */
class FollowCache {
  private readonly names = new Map<string, string[]>();

  wanted(r: ReceivedResponse): { type: string; names: string[] } | undefined {
    if (r.typeUrl !== TypeUrl.Cluster && r.typeUrl !== TypeUrl.Listener) return undefined;
    const out: string[] = [];
    for (const x of r.raw) {
      const key = `${r.typeUrl}\0${Buffer.from(x.value.buffer, x.value.byteOffset, x.value.byteLength).toString('latin1')}`;
      let got = this.names.get(key);
      if (!got) {
        const j = decodeResource(x);
        if (r.typeUrl === TypeUrl.Cluster) {
          const sn = (j.eds_cluster_config as EnvoyJson | undefined)?.service_name;
          got = j.type === 'EDS' ? [typeof sn === 'string' && sn ? sn : String(j.name)] : [];
        } else got = routeNames([j]);
        this.names.set(key, got);
      }
      out.push(...got);
    }
    return { type: r.typeUrl === TypeUrl.Cluster ? TypeUrl.ClusterLoadAssignment : TypeUrl.RouteConfiguration, names: out };
  }
}

const holds = (r: ReceivedResponse, marker: Buffer) => r.raw.some((x) => Buffer.from(x.value.buffer, x.value.byteOffset, x.value.byteLength).includes(marker));

/** Generation for one sidecar in this process (what the pilot does per proxy), cold and warm. */
function measureGeneration(spec: MeshSpec, files: Map<string, string>): CellResult['gen'] {
  let t = process.hrtime.bigint();
  const parsed = parseText('mesh.yaml', [...files.values()].join('---\n'));
  const resources = withSyntheticAddresses(parsed.resources);
  const parseMs = ms(t);
  const mesh = defaultMeshConfig();
  const types = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration] as const;
  const label = { [TypeUrl.Cluster]: 'CDS', [TypeUrl.ClusterLoadAssignment]: 'EDS', [TypeUrl.Listener]: 'LDS', [TypeUrl.RouteConfiguration]: 'RDS' } as const;
  t = process.hrtime.bigint();
  const push = buildPushContext(resources, mesh);
  const pushContextMs = ms(t);
  const counts: Record<string, number> = {};
  let jsonBytes = 0;
  const once = (p: number) => {
    const t0 = process.hrtime.bigint();
    const proxy = proxyFromNode(sidecarNode(p, spec));
    let bytes = 0;
    for (const type of types) {
      const out = generate(proxy, push, type);
      counts[label[type]] = out.length;
      if (p === 0) bytes += JSON.stringify(out).length;
    }
    const took = ms(t0);
    if (p === 0) jsonBytes = bytes;
    return took;
  };
  const cold = once(0);
  const warm: number[] = [];
  for (let i = 1; i <= 5; i++) warm.push(once(i));
  return { parseMs: round(parseMs)!, pushContextMs: round(pushContextMs)!, perProxyColdMs: round(cold, 2)!, perProxyWarmMs: round(median(warm), 2)!, resources: counts, jsonBytes };
}

export async function runCell(cell: Cell, repeats: number, opts: { timeoutMs?: number; log?: (s: string) => void } = {}): Promise<CellResult> {
  const log = opts.log ?? (() => {});
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const spec: MeshSpec = { services: cell.services, endpoints: cell.endpoints };
  const files = meshFiles(spec);
  const gen = measureGeneration(spec, files);
  log(`  generation in-process: push context ${gen.pushContextMs} ms, one proxy ${gen.perProxyColdMs} ms cold / ${gen.perProxyWarmMs} ms warm (${Object.entries(gen.resources).map(([k, v]) => `${k} ${v}`).join(', ')})`);
  const dir = mkdtempSync(join(tmpdir(), 'spar-bench-scale-'));
  for (const [f, text] of files) writeFileSync(join(dir, f), text);
  const result: CellResult = { ...cell, mesh: meshCounts(spec), files: files.size, gen, pilot: {} as CellResult['pilot'], changes: [] };
  const [xdsPort, debugPort] = [await freePort(), await freePort()];
  const t0 = Date.now();
  const pilot = new PilotChild(dir, xdsPort, debugPort);
  const proxies: SimulatedProxy[] = [];
  try {
    await pilot.ready(Math.max(60_000, cell.services * 30));
    result.pilot.startMs = Date.now() - t0;
    const s0 = await pilot.sample();
    const m0 = await pilot.metrics();

    // Connect P proxies; each holds its full config once it has CDS, EDS, LDS and RDS.
    const have: Set<string>[] = [];
    let complete = 0;
    let expect: Expectation | undefined;
    const follow = new FollowCache();
    // A stream error (e.g. RESOURCE_EXHAUSTED: a response over the client's receive limit) ends
    // that proxy's stream: it would never get its config, so the cell fails at once with the reason.
    let streamError: string | undefined;
    const tc = Date.now();
    for (let p = 0; p < cell.proxies; p++) {
      const sp = new SimulatedProxy(`127.0.0.1:${xdsPort}`, sidecarNode(p, spec), { follow: false });
      sp.on('error', (e: Error) => {
        streamError ??= `proxy ${p}: ${e.message}`;
        log(`  proxy ${p} stream error: ${e.message}`);
      });
      const seen = new Set<string>();
      have.push(seen);
      sp.on('response', (r: ReceivedResponse) => {
        sp.received.length = 0; // the bench keeps no history; SotW state lives in `held`
        const want = follow.wanted(r);
        if (want) {
          const have = sp.names.get(want.type);
          const added = [...new Set(want.names)].filter((n) => !have?.has(n));
          if (added.length) sp.subscribe(want.type, added);
        }
        if (seen.size < 4) {
          seen.add(r.typeUrl);
          if (seen.size === 4) complete++;
        }
        const e = expect;
        if (e && r.typeUrl === e.typeUrl && !e.got.has(p) && holds(r, e.marker)) e.got.set(p, r.receivedAt - e.start);
      });
      sp.subscribe(TypeUrl.Cluster);
      sp.subscribe(TypeUrl.Listener);
      proxies.push(sp);
    }
    while (complete < cell.proxies) {
      if (streamError) throw new Error(`${complete}/${cell.proxies} proxies got their full config; ${streamError}`);
      if (Date.now() - tc > timeoutMs) throw new Error(`only ${complete}/${cell.proxies} proxies got their full config in ${timeoutMs} ms`);
      await sleep(10);
    }
    result.pilot.initialConvergeMs = Date.now() - tc;
    await settle(pilot);
    const s1 = await pilot.sample();
    const m1 = await pilot.metrics();
    Object.assign(result.pilot, {
      initialPushes: m1.pushes - m0.pushes,
      initialBytes: m1.bytes - m0.bytes,
      rssIdleMb: round(s1.rss / MB),
      heapIdleMb: round(s1.heapUsed / MB),
      cpuStartupMs: round(s0.cpuMs, 0),
      cpuInitialPushMs: round(s1.cpuMs - s0.cpuMs, 0),
    });
    log(`  ${cell.proxies} proxies converged in ${result.pilot.initialConvergeMs} ms; pilot RSS ${result.pilot.rssIdleMb} MB, heap ${result.pilot.heapIdleMb} MB`);

    // The changes. State per service so a rewrite keeps the others' edits.
    const revs = new Map<number, number>();
    const churn = new Map<number, number>();
    const vsServices = [...Array(cell.services).keys()].filter(hasVirtualService);
    let added = 0;
    for (const kind of CHANGES) {
      const runs: ChangeRun[] = [];
      for (let k = 0; k < repeats; k++) {
        let file: { file: string; text: string };
        let typeUrl: string;
        let marker: string;
        if (kind === 'vs-edit') {
          const i = vsServices[k % vsServices.length];
          const rev = (revs.get(i) ?? 0) + 1;
          revs.set(i, rev);
          file = serviceFile(i, spec, { rev: `rev-${rev}`, churnGen: churn.get(i) });
          typeUrl = TypeUrl.RouteConfiguration;
          marker = `rev-${rev}`;
        } else if (kind === 'endpoint-churn') {
          const i = (k * 7 + 1) % cell.services;
          const g = (churn.get(i) ?? 0) + 1;
          churn.set(i, g);
          file = serviceFile(i, spec, { rev: revs.has(i) ? `rev-${revs.get(i)}` : undefined, churnGen: g });
          typeUrl = TypeUrl.ClusterLoadAssignment;
          marker = endpointIp(i, 0, g);
        } else {
          const i = cell.services + added++;
          file = serviceFile(i, spec);
          typeUrl = TypeUrl.RouteConfiguration;
          marker = `${meshService(i, spec).hostname}:8080`;
        }
        const sa = await pilot.sample();
        const ma = await pilot.metrics();
        const before = (await pilot.pushStatus()).totalPushes;
        const e: Expectation = { typeUrl, marker: Buffer.from(marker), start: Date.now(), got: new Map() };
        expect = e;
        writeFileSync(join(dir, file.file), file.text);
        let timedOut = false;
        while (e.got.size < cell.proxies) {
          if (Date.now() - e.start > timeoutMs) {
            timedOut = true;
            break;
          }
          await sleep(2);
        }
        expect = undefined;
        const ps = await settle(pilot, before);
        const sb = await pilot.sample();
        const mb = await pilot.metrics();
        const lat = [...e.got.values()].sort((a, b) => a - b);
        const rec = ps.pushes.at(-1);
        const run: ChangeRun = {
          p50: quantile(lat, 0.5) ?? NaN, p99: quantile(lat, 0.99) ?? NaN, max: lat.at(-1) ?? NaN, proxies: lat.length, timedOut,
          pushes: mb.pushes - ma.pushes, bytes: mb.bytes - ma.bytes, pilotCpuMs: round(sb.cpuMs - sa.cpuMs, 0)!,
          pushContextMs: rec?.buildMs, sendMs: rec?.sendMs, pushTypes: rec?.types,
        };
        runs.push(run);
        log(`  ${kind} #${k + 1}: p50 ${run.p50} ms, p99 ${run.p99} ms (${run.proxies}/${cell.proxies}${timedOut ? ', TIMED OUT' : ''}); ${run.pushes} pushes, ${(run.bytes / MB).toFixed(2)} MB, pilot CPU ${run.pilotCpuMs} ms, push context ${run.pushContextMs} ms, send ${run.sendMs} ms [${run.pushTypes?.join(',')}]`);
        await sleep(200);
      }
      const sendMs = median(runs.map((r) => r.sendMs ?? NaN));
      result.changes.push({
        kind, runs,
        p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)), max: median(runs.map((r) => r.max)),
        pushes: median(runs.map((r) => r.pushes)), bytes: median(runs.map((r) => r.bytes)), pilotCpuMs: median(runs.map((r) => r.pilotCpuMs)),
        pushContextMs: median(runs.map((r) => r.pushContextMs ?? NaN)), sendMs, sendPerProxyMs: round(sendMs / cell.proxies, 3),
        timedOut: runs.filter((r) => r.timedOut).length,
      });
    }
    const s2 = await pilot.sample();
    Object.assign(result.pilot, { rssEndMb: round(s2.rss / MB), heapEndMb: round(s2.heapUsed / MB), rssPeakMb: round(pilot.peakRss() / MB) });
  } catch (err) {
    result.error = (err as Error).message;
    log(`  FAILED: ${result.error}`);
  } finally {
    for (const p of proxies) p.close();
    await pilot.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

/** Waits until a push after `after` has been sent to everyone (sendMs set), then a short quiet. */
async function settle(pilot: PilotChild, after = -1): Promise<Awaited<ReturnType<PilotChild['pushStatus']>>> {
  const t0 = Date.now();
  for (;;) {
    const ps = await pilot.pushStatus();
    const last = ps.pushes.at(-1);
    if ((ps.totalPushes > after && last?.sendMs !== undefined) || Date.now() - t0 > 30_000) {
      await sleep(100);
      return ps;
    }
    await sleep(20);
  }
}

function machine(): Record<string, unknown> {
  const c = cpus();
  return { cpus: c.length, cpuModel: c[0]?.model, node: process.version, platform: `${process.platform} ${process.arch}`, loadavg: loadavg().map((x) => round(x, 2)) };
}

const fmt = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: 0 }));

export function markdown(res: { profile: string; startedAt: string; machine: Record<string, unknown>; loadBefore: number[]; loadAfter: number[]; cells: CellResult[]; durationS: number; repeats: number; note?: string }): string {
  const out: string[] = [];
  out.push(`# Control plane scale (${res.profile}), ${res.startedAt}`, '');
  out.push(`${res.machine.cpus} × ${res.machine.cpuModel}, Node ${res.machine.node}; load average ${res.loadBefore.join(' / ')} before, ${res.loadAfter.join(' / ')} after; ${res.durationS} s in all. ${res.note ?? ''}`.trim(), '');
  out.push(`\`spar pilot\` (child process, sources through tsx, log level warn) on a config folder of N services × E endpoints (Service + EndpointSlice each; a DestinationRule on every 2nd, a VirtualService on every 4th);`);
  out.push(`P simulated sidecars on real gRPC ADS streams (SotW, in one client process) that ACK every response. Each change made ${res.repeats}× ; "ACK p50 / p99": ms from the file write to each proxy ACKing the change, quantiles across proxies, median over repeats (includes the 50 ms file-watch quiet period and the 100 ms debounce).`, '');
  out.push('| N svc | E | P | change | ACK p50 ms | ACK p99 ms | pushes | MB sent | pilot CPU ms | push ctx ms | send ms (per proxy) |');
  out.push('| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  const cells = [...res.cells].sort((a, b) => a.proxies - b.proxies || a.services - b.services);
  for (const c of cells) {
    if (c.error && !c.changes.length) {
      out.push(`| ${c.services} | ${c.endpoints} | ${c.proxies} | failed: ${c.error.replace(/\|/g, '/').slice(0, 120)} | | | | | | | |`);
      continue;
    }
    for (const ch of c.changes) {
      out.push(`| ${fmt(c.services, 0)} | ${c.endpoints} | ${fmt(c.proxies, 0)} | ${ch.kind}${ch.timedOut ? ` (${ch.timedOut} timed out)` : ''} | ${fmt(ch.p50, 0)} | ${fmt(ch.p99, 0)} | ${fmt(ch.pushes, 0)} | ${fmt(ch.bytes / MB, 2)} | ${fmt(ch.pilotCpuMs, 0)} | ${fmt(ch.pushContextMs)} | ${fmt(ch.sendMs, 0)} (${fmt(ch.sendPerProxyMs, 2)}) |`);
    }
  }
  out.push('', 'Per cell: pilot memory and start-up, first full config to every proxy, generation for one proxy (in the bench process, same generators: CDS+EDS+LDS+RDS).', '');
  out.push('| N svc | E | P | pilot start s | all P converged s | initial MB sent (per proxy KB) | RSS idle / end / peak MB | heap idle / end MB | push ctx ms | gen per proxy cold / warm ms | clusters / listeners / routes |');
  out.push('| ---: | ---: | ---: | ---: | ---: | --- | --- | --- | ---: | --- | --- |');
  for (const c of cells) {
    const p = c.pilot;
    out.push(`| ${fmt(c.services, 0)} | ${c.endpoints} | ${fmt(c.proxies, 0)} | ${fmt(p.startMs / 1000)} | ${fmt(p.initialConvergeMs / 1000, 2)} | ${fmt(p.initialBytes / MB, 1)} (${fmt(p.initialBytes / 1024 / c.proxies, 0)}) | ${fmt(p.rssIdleMb, 0)} / ${fmt(p.rssEndMb, 0)} / ${fmt(p.rssPeakMb, 0)} | ${fmt(p.heapIdleMb, 0)} / ${fmt(p.heapEndMb, 0)} | ${fmt(c.gen.pushContextMs)} | ${fmt(c.gen.perProxyColdMs)} / ${fmt(c.gen.perProxyWarmMs)} | ${c.gen.resources.CDS ?? '–'} / ${c.gen.resources.LDS ?? '–'} / ${c.gen.resources.RDS ?? '–'} |`);
  }
  const failed = res.cells.filter((c) => c.error);
  if (failed.length) out.push('', ...failed.map((c) => `- ${c.services}×${c.endpoints}×${c.proxies} failed: ${c.error}`));
  return out.join('\n') + '\n';
}

export async function runScale(opts: ScaleOptions): Promise<{ files: string[]; markdown: string; json: unknown }> {
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const prof = PROFILES[opts.profile];
  const cells = opts.cells ?? prof.cells;
  const repeats = opts.repeats ?? prof.repeats;
  const started = new Date();
  const loadBefore = loadavg().map((x) => round(x, 2)!);
  const results: CellResult[] = [];
  const stamp = started.toISOString().slice(0, 19).replace(/[T:]/g, '-');
  const out = resolve(opts.out ?? join(repoRoot, 'bench', 'results', 'tmp'));
  mkdirSync(out, { recursive: true });
  const base = join(out, `controlplane-${opts.profile}-${stamp}`);
  const write = (done: boolean) => {
    const res = {
      profile: opts.profile, startedAt: started.toISOString(), machine: machine(), loadBefore, loadAfter: loadavg().map((x) => round(x, 2)!),
      durationS: Math.round((Date.now() - started.getTime()) / 1000), repeats, complete: done, cellsPlanned: cells.length, cells: results,
      note: `${done ? '' : `Partial: ${results.length} of ${cells.length} cells so far. `}Numbers from a shared machine unless the load averages say otherwise.`,
    };
    const md = markdown(res);
    writeFileSync(`${base}.json`, JSON.stringify(res, null, 2) + '\n');
    writeFileSync(`${base}.md`, md);
    return { md, res };
  };
  for (const cell of cells) {
    log(`[controlplane] N=${cell.services} services × E=${cell.endpoints} endpoints, P=${cell.proxies} proxies`);
    results.push(await runCell(cell, repeats, { timeoutMs: opts.timeoutMs ?? (opts.profile === 'full' ? 300_000 : 60_000), log }));
    write(false);
  }
  const { md, res } = write(true);
  return { files: [`${base}.json`, `${base}.md`], markdown: md, json: res };
}

export function parseCells(s: string): Cell[] {
  return s.split(',').map((c) => {
    const [services, endpoints, proxies] = c.split('x').map(Number);
    if (![services, endpoints, proxies].every((n) => Number.isInteger(n) && n > 0)) throw new Error(`--cells: ${c} is not NxExP`);
    return { services, endpoints, proxies };
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' }, full: { type: 'boolean' }, smoke: { type: 'boolean' }, profile: { type: 'string' },
      out: { type: 'string' }, cells: { type: 'string' }, repeats: { type: 'string' }, timeout: { type: 'string' },
    },
  });
  const profile = (values.profile ?? (values.full ? 'full' : values.smoke ? 'smoke' : 'quick')) as Profile;
  if (!PROFILES[profile]) throw new Error(`unknown profile ${profile}`);
  runScale({
    profile, out: values.out, cells: values.cells ? parseCells(values.cells) : undefined,
    repeats: values.repeats ? Number(values.repeats) : undefined, timeoutMs: values.timeout ? Number(values.timeout) * 1000 : undefined,
  }).then(
    ({ files, markdown: md }) => {
      process.stdout.write(`${md}\n${files.join('\n')}\n`);
      process.exit(0);
    },
    (e: Error) => {
      process.stderr.write(`scale: ${e.stack ?? e}\n`);
      process.exit(1);
    },
  );
}
