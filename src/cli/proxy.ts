/**
 * `spar proxy -c BOOTSTRAP`: the data plane, started like Envoy (the same flags for the parts that
 * matter to a sidecar: -c/--config-path, --config-yaml, --service-node, --service-cluster,
 * --base-id, -l/--log-level, --concurrency, --drain-time-s, --mode validate).
 *
 * One event loop serves every connection (--concurrency is accepted and reported, but one worker
 * runs: Node's single thread; run more `spar proxy` processes for more cores).
 */
import { writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { UserError } from '../common/errors.js';
import { loadBootstrapJson } from '../proxy/bootstrap.js';
import { ConfigError } from '../proxy/config/fields.js';
import { log, setLevel } from '../proxy/log.js';
import { ProxyServer } from '../proxy/server.js';

export interface ProxyCliOptions {
  configPath?: string;
  configYaml?: string;
  serviceNode?: string;
  serviceCluster?: string;
  baseId?: string;
  logLevel: string;
  concurrency: string;
  drainTimeS: string;
  mode: string;
  adminAddressPath?: string;
}

/**
 * V8's allocation-site pretenuring misjudges the proxy: a site that allocates per request (seen while
 * the bootstrap's long-lived objects are made, or with requests in flight at a scavenge) gets
 * pretenured, so every request's objects are allocated in or promoted to the old generation and die
 * there. Measured (static bootstrap, HTTP/1.1, 1,000 rps x 16): about 3 MB promoted per scavenge and
 * 10-20 ms scavenge pauses with it, 0 MB and 1-2 ms without (bench/README.md). The flag is read when
 * the collector decides, so setting it before any request is served is enough. A node command line
 * that names the flag itself (`node --allocation-site-pretenuring bin/spar.js proxy ...`) wins: the
 * benchmark uses that to measure the difference.
 */
export const PROXY_V8_FLAGS = '--no-allocation-site-pretenuring';

export async function run(opts: ProxyCliOptions): Promise<void> {
  if (!process.execArgv.some((a) => a.includes('allocation-site-pretenuring'))) setFlagsFromString(PROXY_V8_FLAGS);
  if (!setLevel(opts.logLevel)) throw new UserError(`--log-level: unknown level ${JSON.stringify(opts.logLevel)} (trace, debug, info, warning, error, critical, off)`);
  if (!opts.configPath && !opts.configYaml) throw new UserError('spar proxy: a bootstrap is required (-c FILE or --config-yaml TEXT)');
  if (opts.mode !== 'serve' && opts.mode !== 'validate') throw new UserError(`--mode: ${JSON.stringify(opts.mode)} is not supported (serve, validate)`);
  const drainTimeS = Number(opts.drainTimeS);
  const concurrency = Number(opts.concurrency);
  if (!Number.isFinite(drainTimeS) || drainTimeS < 0) throw new UserError('--drain-time-s: expected a number of seconds');
  let proxy: ProxyServer;
  try {
    const bootstrap = loadBootstrapJson(opts.configPath, opts.configYaml);
    proxy = new ProxyServer({
      bootstrap, serviceNode: opts.serviceNode, serviceCluster: opts.serviceCluster, drainTimeS, concurrency,
      commandLine: {
        config_path: opts.configPath ?? '', config_yaml: opts.configYaml ?? '', service_node: opts.serviceNode ?? '', service_cluster: opts.serviceCluster ?? '',
        base_id: opts.baseId ?? '0', log_level: opts.logLevel, concurrency, drain_time: `${drainTimeS}s`, mode: opts.mode === 'validate' ? 'Validate' : 'Serve',
      },
    });
    if (opts.mode === 'validate') {
      // Compile everything without binding.
      const { ConfigErrors } = await import('../proxy/config/fields.js');
      const errs = new ConfigErrors();
      const clusters = proxy.clusters.compile(proxy.bootstrap.staticClusters, errs);
      if (errs.ok) proxy.clusters.apply(clusters, true); // inline routes are validated against them
      proxy.listeners.compile(proxy.bootstrap.staticListeners, errs);
      proxy.clusters.close();
      if (!errs.ok) throw new ConfigError(errs.list);
      process.stdout.write(`configuration '${opts.configPath ?? '--config-yaml'}' OK\n`);
      return;
    }
    await proxy.start();
  } catch (e) {
    if (e instanceof ConfigError) throw new UserError(`spar proxy: invalid config:\n  ${e.errors.join('\n  ')}`);
    throw new UserError(`spar proxy: ${(e as Error).message}`);
  }
  if (opts.adminAddressPath && proxy.admin) writeFileSync(opts.adminAddressPath, `${proxy.bootstrap.admin!.ip}:${proxy.admin.port}`);
  log('info', 'main', `spar proxy started (node ${proxy.bootstrap.node.id || '-'}, admin port ${proxy.admin?.port ?? 'none'})`);
  const stop = () => {
    void proxy.shutdown().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // Keep the process alive until told to stop.
  await new Promise<void>(() => {});
}
