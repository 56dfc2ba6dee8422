/**
 * `spar pilot --config DIR [--mesh FILE] [--port 15010] [--debug-port 15014]`: serves the YAML in
 * DIR to proxies over ADS (Envoy xDS v3), applies changes to DIR live, and exposes Istio's debug
 * endpoints and metrics. Logs are pino JSON lines on stderr. Runs until SIGINT/SIGTERM.
 */
import { existsSync, statSync } from 'node:fs';
import pino from 'pino';
import { UserError } from '../common/errors.js';
import { defaultMeshConfig, loadMeshConfig } from '../xds/gen/index.js';
import { Pilot } from '../pilot/pilot.js';

export interface PilotCliOptions {
  config: string;
  mesh?: string;
  port: string;
  debugPort: string;
  host: string;
  xdsUds?: string;
  debounce: string;
  logLevel: string;
  syntheticAddresses: boolean;
  watch: boolean;
}

/** `100ms`, `1s`, `250` (ms) → ms. */
export function parseMs(v: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v.trim());
  if (!m) throw new UserError(`${what}: "${v}" is not a duration (e.g. 100ms or 1s)`, 2);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

function parsePort(v: string, what: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < -1 || n > 65535) throw new UserError(`${what}: "${v}" is not a port (0-65535; 0 picks a free one)`, 2);
  return n;
}

export async function run(opts: PilotCliOptions): Promise<void> {
  if (!existsSync(opts.config) || !statSync(opts.config).isDirectory()) throw new UserError(`--config ${opts.config}: no such folder`, 2);
  if (opts.mesh && !existsSync(opts.mesh)) throw new UserError(`--mesh ${opts.mesh}: no such file`, 2);
  const log = pino({ level: opts.logLevel, base: { component: 'pilot' } }, pino.destination(2));
  const pilot = new Pilot({
    configDir: opts.config,
    mesh: opts.mesh ? loadMeshConfig(opts.mesh) : defaultMeshConfig(),
    port: parsePort(opts.port, '--port'),
    debugPort: parsePort(opts.debugPort, '--debug-port'),
    host: opts.host,
    xdsUds: opts.xdsUds,
    debounceMs: parseMs(opts.debounce, '--debounce'),
    syntheticAddresses: opts.syntheticAddresses,
    watch: opts.watch,
    log,
  });
  await pilot.start();
  await new Promise<void>((resolve) => {
    const stop = () => {
      log.info('pilot stopping');
      void pilot.stop().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
