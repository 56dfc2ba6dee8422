#!/usr/bin/env node
// Garbage collection in `spar proxy` under steady load: one hop (client → spar proxy → fortio server,
// the data-plane bench's static bootstrap), fortio at a fixed rate, the proxy run with V8's
// --trace-gc-nvp. Two variants, alternated and repeated: as shipped (spar proxy turns V8's
// allocation-site pretenuring off, src/cli/proxy.ts) and with pretenuring forced back on
// (`node --allocation-site-pretenuring`). Per run: fortio's latency, the number of scavenges, their
// pause (median, max), the bytes promoted to the old generation per 1,000 requests in the steady state
// (second half of the run's scavenges, counted against the same share of the requests), and proxy CPU.
//
// Usage: node bench/profile/gc.mjs [--rate 1000] [--conns 16] [--seconds 5] [--repeats 2] [--out DIR]
// Needs fortio and a built dist/ (what users run).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { benchBootstrap } from '../dataplane/bootstrap.mjs';
import { PROTOCOLS } from '../dataplane/config.mjs';
import { startFortioServer, fortioLoad } from '../dataplane/fortio.mjs';
import { cpuSeconds, fortioPath, freePorts, pinningPlan, start, stop, waitForPort } from '../dataplane/procs.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const log = (m) => process.stderr.write(`[gc] ${m}\n`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : null;
};

export const VARIANTS = [
  { id: 'shipped', label: 'spar proxy as shipped (pretenuring off)', nodeFlags: [] },
  { id: 'pretenuring', label: 'V8 allocation-site pretenuring on', nodeFlags: ['--allocation-site-pretenuring'] },
];

/** Scavenges from --trace-gc-nvp lines: pause ms and promoted bytes of each. */
export function scavenges(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!/\bgc=s\b/.test(line)) continue;
    const pause = /\bpause=([\d.]+)/.exec(line);
    const promoted = /\bpromoted=(\d+)/.exec(line);
    if (pause) out.push({ pauseMs: Number(pause[1]), promoted: promoted ? Number(promoted[1]) : 0 });
  }
  return out;
}

async function oneRun(variant, o) {
  const protocol = PROTOCOLS.find((p) => p.id === 'http1');
  const dir = mkdtempSync(join(tmpdir(), 'spar-gc-'));
  const [http, grpc, tcp, listenPort, adminPort] = await freePorts(5);
  const server = await startFortioServer(o.fortio, { http, grpc, tcp }, o.pin.server);
  const file = join(dir, 'bootstrap.yaml');
  writeFileSync(file, stringify(benchBootstrap({ protocol, listenPort, upstreamPort: http, adminPort })));
  const proxy = start(`spar proxy (${variant.id})`, process.execPath, [...variant.nodeFlags, '--trace-gc-nvp', join(repoRoot, 'bin', 'spar.js'), 'proxy', '-c', file, '-l', 'warning'], { cpus: o.pin.proxies, cwd: repoRoot });
  try {
    await waitForPort(listenPort, proxy, 20000);
    // Start-up's collections are not the steady state: count only what happens under load.
    const skip = scavenges(proxy.log()).length;
    const cpu0 = cpuSeconds(proxy.pid);
    const r = await fortioLoad(o.fortio, { protocol, port: listenPort, rate: o.rate, conns: o.conns, durationSec: o.seconds, cpus: o.pin.client, tmpDir: dir, tag: variant.id });
    const cpu = cpuSeconds(proxy.pid) - cpu0;
    if (!r.ok) throw new Error(`fortio: ${r.error}`);
    const sc = scavenges(proxy.log()).slice(skip);
    // Promotion in the steady state: the second half of the run's scavenges (the first ones grow the
    // young generation from its start-up size, and everything alive then is promoted either way).
    const steady = sc.slice(Math.floor(sc.length / 2));
    const promoted = steady.reduce((a, s) => a + s.promoted, 0);
    const steadyCalls = r.calls * (steady.length / Math.max(1, sc.length));
    return {
      variant: variant.id, rps: Math.round(r.achievedRps), calls: r.calls, errors: r.errors,
      p50Ms: +r.latencyMs.p50.toFixed(3), p99Ms: +r.latencyMs.p99.toFixed(3), p999Ms: +r.latencyMs.p999.toFixed(3),
      scavenges: sc.length, scavengePauseMedianMs: median(sc.map((s) => s.pauseMs)), scavengePauseMaxMs: sc.length ? Math.max(...sc.map((s) => s.pauseMs)) : null,
      promotedMbPer1kRequests: +((promoted / 1e6) / Math.max(1e-9, steadyCalls / 1000)).toFixed(3),
      cpuSecondsPer1kRequests: +(cpu / (r.calls / 1000)).toFixed(4),
    };
  } finally {
    await stop(proxy);
    await stop(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runGc({ rate = 1000, conns = 16, seconds = 5, repeats = 2 } = {}) {
  const fortio = fortioPath();
  if (!fortio) throw new Error('fortio not found (PATH, $FORTIO or ~/go/bin/fortio)');
  const o = { fortio, pin: pinningPlan(), rate, conns, seconds };
  const runs = [];
  for (let i = 0; i < repeats; i++) {
    for (const v of VARIANTS) {
      log(`repeat ${i + 1}/${repeats}: ${v.label}, ${rate || 'max'} rps x ${conns}, ${seconds} s`);
      runs.push(await oneRun(v, o));
    }
  }
  const summary = VARIANTS.map((v) => {
    const rs = runs.filter((r) => r.variant === v.id);
    const m = (k) => median(rs.map((r) => r[k]));
    return { variant: v.id, label: v.label, rps: m('rps'), p50Ms: m('p50Ms'), p99Ms: m('p99Ms'), p999Ms: m('p999Ms'), scavenges: m('scavenges'),
      scavengePauseMedianMs: m('scavengePauseMedianMs'), scavengePauseMaxMs: m('scavengePauseMaxMs'), promotedMbPer1kRequests: m('promotedMbPer1kRequests'),
      cpuSecondsPer1kRequests: m('cpuSecondsPer1kRequests') };
  });
  return { rate, conns, seconds, repeats, loadavg: loadavg().map((x) => +x.toFixed(2)), node: process.version, summary, runs };
}

export function markdown(res) {
  const head = '| variant | rps | p50 ms | p99 ms | p99.9 ms | scavenges | scavenge pause median / max ms | promoted MB / 1k req | proxy CPU s / 1k req |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
  const rows = res.summary.map((s) => `| ${s.label} | ${s.rps} | ${s.p50Ms} | ${s.p99Ms} | ${s.p999Ms} | ${s.scavenges} | ${s.scavengePauseMedianMs} / ${s.scavengePauseMaxMs} | ${s.promotedMbPer1kRequests} | ${s.cpuSecondsPer1kRequests} |`);
  return `# spar proxy garbage collection under load\n\nHTTP/1.1, ${res.rate || 'max'} rps x ${res.conns} connections, 1 KiB each way, ${res.seconds} s per run, ${res.repeats} repeat(s) alternated, medians; Node ${res.node}; load average after: ${res.loadavg.join(' ')}.\n\n${head}\n${rows.join('\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: {
    rate: { type: 'string', default: '1000' }, conns: { type: 'string', default: '16' }, seconds: { type: 'string', default: '5' },
    repeats: { type: 'string', default: '2' }, out: { type: 'string' },
  } });
  runGc({ rate: Number(values.rate), conns: Number(values.conns), seconds: Number(values.seconds), repeats: Number(values.repeats) }).then((res) => {
    const md = markdown(res);
    process.stdout.write(md);
    if (values.out) {
      mkdirSync(values.out, { recursive: true });
      const stamp = new Date().toISOString().replace(/[:T]/g, '-').slice(0, 19);
      const base = join(values.out, `gc-${stamp}`);
      writeFileSync(`${base}.json`, `${JSON.stringify(res, null, 2)}\n`);
      writeFileSync(`${base}.md`, md);
      log(`wrote ${base}.{json,md}`);
    }
  }).catch((e) => {
    process.stderr.write(`gc: ${e.message}\n`);
    process.exit(1);
  });
}
