// fortio, Istio's own load generator: the upstream server for every protocol, and the client.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PAYLOAD_BYTES } from './config.mjs';
import { lastLines, start, waitForPort } from './procs.mjs';

/** Starts `fortio server` with its HTTP (HTTP/1.1 + h2c) echo, gRPC ping and TCP echo servers on loopback. */
export async function startFortioServer(fortio, ports, cpus) {
  const proc = start('fortio server', fortio, [
    'server',
    '-http-port', `127.0.0.1:${ports.http}`,
    '-grpc-port', `127.0.0.1:${ports.grpc}`,
    '-tcp-port', `127.0.0.1:${ports.tcp}`,
    '-udp-port', 'disabled',
    '-redirect-port', 'disabled',
    '-ui-path', '',
    '-loglevel', 'Warning',
  ], { cpus });
  for (const p of [ports.http, ports.grpc, ports.tcp]) await waitForPort(p, proc);
  return proc;
}

/** Latency percentiles fortio is asked for, and the names they get in results. */
export const PERCENTILES = [
  [50, 'p50'],
  [90, 'p90'],
  [99, 'p99'],
  [99.9, 'p999'],
];

/** What counts as a successful call for each fortio runner. */
const OK_CODES = new Set(['200', 'SERVING', 'OK']);

/**
 * One fortio load run. rate 0 = max. Returns latencies in ms, the achieved rate, the number of calls
 * (including fortio's one warm-up call per connection, which the proxies also carry) and the errors.
 */
export function fortioLoad(fortio, { protocol, host, port, rate, conns, durationSec, cpus, tmpDir, tag }) {
  const jsonPath = join(tmpDir, `fortio-${tag}.json`);
  const args = [
    'load', '-quiet', '-json', jsonPath,
    '-qps', String(rate), '-c', String(conns), '-t', `${durationSec}s`,
    '-payload-size', String(PAYLOAD_BYTES),
    '-r', '0.00001', '-p', PERCENTILES.map(([p]) => p).join(','),
    '-loglevel', 'Error',
    ...protocol.fortio,
    protocol.target(port, host),
  ];
  const argv = cpus ? ['taskset', ['-c', cpus, fortio, ...args]] : [fortio, args];
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv[1], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    const killer = setTimeout(() => child.kill('SIGKILL'), (durationSec + 30) * 1000);
    child.on('close', (code) => {
      clearTimeout(killer);
      let r;
      try {
        r = JSON.parse(readFileSync(jsonPath, 'utf8'));
        rmSync(jsonPath, { force: true });
      } catch {
        resolve({ ok: false, error: `fortio load exited ${code} without results: ${lastLines(out)}` });
        return;
      }
      const h = r.DurationHistogram ?? {};
      const lat = {};
      for (const [p, name] of PERCENTILES) {
        const e = (h.Percentiles ?? []).find((x) => x.Percentile === p);
        lat[name] = e ? e.Value * 1000 : null;
      }
      let okCalls = 0;
      let errors = 0;
      for (const [codeName, n] of Object.entries(r.RetCodes ?? {})) {
        if (OK_CODES.has(codeName)) okCalls += n;
        else errors += n;
      }
      const calls = (h.Count ?? 0) + conns;
      resolve({
        ok: okCalls > 0,
        error: okCalls > 0 ? undefined : `no successful calls (${JSON.stringify(r.RetCodes ?? {})}): ${lastLines(out)}`,
        latencyMs: lat,
        avgMs: (h.Avg ?? 0) * 1000,
        achievedRps: r.ActualQPS ?? 0,
        calls,
        errors,
      });
    });
  });
}
