#!/usr/bin/env node
// CPU profile of `spar proxy` at fortio's maximum rate: one hop (client → spar proxy → fortio server),
// the data-plane bench's bootstrap (bench/dataplane/bootstrap.mjs), `node --cpu-prof` on the proxy.
// Writes the .cpuprofile and a summary of the hottest functions by self time (and the time spent
// below each of Spar's own functions), so bench/README.md can name them.
//
// Usage: node bench/profile/proxy.mjs [--protocol http1|h2c|grpc|tcp] [--seconds 10] [--conns 16]
//          [--resilience] [--out DIR]
// Needs fortio and a built dist/ (the profile is of what users run).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { benchBootstrap } from '../dataplane/bootstrap.mjs';
import { PROTOCOLS } from '../dataplane/config.mjs';
import { startFortioServer, fortioLoad } from '../dataplane/fortio.mjs';
import { fortioPath, freePorts, pinningPlan, start, stop, waitForPort } from '../dataplane/procs.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const log = (m) => process.stderr.write(`[profile] ${m}\n`);

/** Self time per function (µs) and the summary of a .cpuprofile. */
export function summarise(profile, top = 15) {
  const { nodes, samples, timeDeltas } = profile;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < samples.length; i++) self.set(samples[i], (self.get(samples[i]) ?? 0) + (timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const key = (n) => {
    const f = n.callFrame;
    const file = f.url ? f.url.replace(/^file:\/\//, '').replace(`${repoRoot}/`, '') : '';
    return `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : `(${f.url || 'native'})`}`;
  };
  const bySelf = new Map();
  for (const [id, us] of self) {
    const n = byId.get(id);
    const k = key(n);
    bySelf.set(k, (bySelf.get(k) ?? 0) + us);
  }
  const rows = [...bySelf].sort((a, b) => b[1] - a[1]).slice(0, top).map(([fn, us]) => ({ fn, selfMs: +(us / 1000).toFixed(1), selfPct: +((100 * us) / total).toFixed(1) }));
  // Inclusive time of Spar's own functions (dist/src/**): where Spar's code, and what it calls, spends.
  const parent = new Map();
  for (const n of nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const incl = new Map();
  for (const [id, us] of self) {
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (!n.callFrame.url.includes('/dist/src/')) continue;
      const k = key(n);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + us);
    }
  }
  const sparRows = [...incl].sort((a, b) => b[1] - a[1]).slice(0, top).map(([fn, us]) => ({ fn, inclusiveMs: +(us / 1000).toFixed(1), inclusivePct: +((100 * us) / total).toFixed(1) }));
  return { totalMs: +(total / 1000).toFixed(1), self: rows, sparInclusive: sparRows };
}

async function main() {
  const { values } = parseArgs({ options: {
    protocol: { type: 'string', default: 'http1' }, seconds: { type: 'string', default: '10' }, conns: { type: 'string', default: '16' },
    resilience: { type: 'boolean', default: false }, out: { type: 'string' },
  } });
  const protocol = PROTOCOLS.find((p) => p.id === values.protocol);
  if (!protocol) throw new Error(`--protocol: one of ${PROTOCOLS.map((p) => p.id).join(', ')}`);
  const fortio = fortioPath();
  if (!fortio) throw new Error('fortio not found (PATH, $FORTIO or ~/go/bin/fortio)');
  const pin = pinningPlan();
  const dir = mkdtempSync(join(tmpdir(), 'spar-profile-'));
  const [http, grpc, tcp, listenPort, adminPort] = await freePorts(5);
  const server = await startFortioServer(fortio, { http, grpc, tcp }, pin.server);
  const upstreamPort = protocol.server === 'grpc' ? grpc : protocol.server === 'tcp' ? tcp : http;
  const file = join(dir, 'bootstrap.yaml');
  writeFileSync(file, stringify(benchBootstrap({ protocol, listenPort, upstreamPort, adminPort, resilience: values.resilience })));
  const profDir = join(dir, 'prof');
  const proxy = start('spar proxy (profiled)', process.execPath, ['--cpu-prof', '--cpu-prof-dir', profDir, join(repoRoot, 'bin', 'spar.js'), 'proxy', '-c', file], { cpus: pin.proxies, cwd: repoRoot });
  try {
    await waitForPort(listenPort, proxy, 20000);
    const seconds = Number(values.seconds);
    log(`${protocol.label}, max rate, ${values.conns} connections, ${seconds} s${values.resilience ? ', resilience filters idle' : ''}`);
    const r = await fortioLoad(fortio, { protocol, port: listenPort, rate: 0, conns: Number(values.conns), durationSec: seconds, cpus: pin.client, tmpDir: dir, tag: 'profile' });
    log(`fortio: ${r.ok ? `${Math.round(r.achievedRps ?? 0)} rps` : `failed: ${r.error ?? ''}`}`);
    await stop(proxy);
    await new Promise((res) => setTimeout(res, 500));
    const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length === 0) throw new Error(`no profile written; proxy log:\n${proxy.log().slice(-1000)}`);
    const profile = JSON.parse(readFileSync(join(profDir, files[0]), 'utf8'));
    const summary = { protocol: protocol.id, conns: Number(values.conns), seconds, resilience: values.resilience, rps: Math.round(r.achievedRps ?? 0), loadavg: loadavg().map((x) => +x.toFixed(2)), ...summarise(profile) };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    if (values.out) {
      mkdirSync(values.out, { recursive: true });
      const stamp = new Date().toISOString().replace(/[:T]/g, '-').slice(0, 19);
      const base = join(values.out, `proxy-profile-${protocol.id}${values.resilience ? '-resilience' : ''}-${stamp}`);
      writeFileSync(`${base}.cpuprofile`, JSON.stringify(profile));
      writeFileSync(`${base}.json`, `${JSON.stringify(summary, null, 2)}\n`);
      log(`wrote ${base}.{cpuprofile,json}`);
    }
  } finally {
    await stop(proxy);
    await stop(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    process.stderr.write(`profile: ${e.message}\n`);
    process.exit(1);
  });
}
