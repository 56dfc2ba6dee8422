// Starting a topology's proxy chain: client → hop 1 → ... → hop N → server, each hop a real process
// (Envoy, or `spar proxy`) reading a static bootstrap written here, or configured by `spar pilot`
// over ADS (pilot.mjs).
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { benchBootstrap } from './bootstrap.mjs';
import { nodeIdOf, sidecarBootstrap, vip, waitSynced } from './pilot.mjs';
import { freePorts, start, stop, waitForPort } from './procs.mjs';

/**
 * How `spar proxy` runs: `dist` (what users run), `src` (the TypeScript sources through tsx,
 * SPAR_TSX=1), or `auto`: dist when it is at least as new as every source file under src/proxy and
 * src/cli (and `extraDirs`: the pilot's pilot, xds, model when it serves the config), else src.
 */
export function sparMode(repoRoot, choice = 'auto', extraDirs = []) {
  if (choice === 'dist') return { from: 'dist', env: {} };
  if (choice === 'src') return { from: 'src (tsx)', env: { SPAR_TSX: '1' } };
  const srcDir = join(repoRoot, 'src');
  const distDir = join(repoRoot, 'dist', 'src');
  const stale = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) {
        const js = join(distDir, relative(srcDir, p)).replace(/\.ts$/, '.js');
        if (!existsSync(js) || statSync(js).mtimeMs < statSync(p).mtimeMs) stale.push(relative(repoRoot, p));
      }
    }
  };
  for (const sub of ['proxy', 'cli', ...extraDirs]) if (existsSync(join(srcDir, sub))) walk(join(srcDir, sub));
  return stale.length === 0 ? { from: 'dist', env: {} } : { from: 'src (tsx)', env: { SPAR_TSX: '1' }, stale: stale.length };
}

/**
 * Starts the proxies of `topology` for `protocol` in front of `upstreamPort`.
 * Returns the port the client dials and the proxies, client side first.
 */
export async function startChain({ topology, protocol, upstreamPort, tools, cpus, workDir, repoRoot, spar }) {
  if (topology.hops === 0) return { entryPort: upstreamPort, proxies: [] };
  const ports = await freePorts(topology.hops * 2);
  const proxies = [];
  let next = upstreamPort;
  try {
    // Innermost (server-side) hop first, so each hop's upstream is listening when it starts.
    for (let hop = topology.hops; hop >= 1; hop--) {
      const listenPort = ports[(hop - 1) * 2];
      const adminPort = ports[(hop - 1) * 2 + 1];
      const file = join(workDir, `${topology.id}-${protocol.id}-hop${hop}.yaml`);
      writeFileSync(file, stringify(benchBootstrap({ protocol, listenPort, upstreamPort: next, adminPort, resilience: !!topology.resilience })));
      const name = `${topology.impl} hop ${hop}/${topology.hops} (${protocol.id})`;
      const proc =
        topology.impl === 'envoy'
          ? start(name, tools.envoy, ['-c', file, '--concurrency', '1', '--disable-hot-restart', '-l', 'warning'], { cpus })
          : start(name, process.execPath, [join(repoRoot, 'bin', 'spar.js'), 'proxy', '-c', file], {
              cpus,
              cwd: repoRoot,
              env: { ...process.env, ...spar.env },
            });
      proxies.unshift(proc);
      await waitForPort(listenPort, proc, 20000);
      next = listenPort;
    }
    return { entryPort: next, proxies };
  } catch (e) {
    await Promise.all(proxies.map(stop));
    throw e;
  }
}

/** Starts one proxy process (Envoy or spar proxy) on a bootstrap file. */
function startProxy(impl, name, file, { tools, cpus, repoRoot, spar }) {
  return impl === 'envoy'
    ? start(name, tools.envoy, ['-c', file, '--concurrency', '1', '--disable-hot-restart', '-l', 'warning'], { cpus })
    : start(name, process.execPath, [join(repoRoot, 'bin', 'spar.js'), 'proxy', '-c', file], { cpus, cwd: repoRoot, env: { ...process.env, ...spar.env } });
}

/**
 * The pilot-driven chain of `topology` for `protocol`, as planned in pilot.mjs's chainConfigYaml
 * (`chain`: { id, k, hops, svcPort, ingressPort, fortioPort, adminPorts }): the server-side sidecar
 * first (hops 2), then the client-side one; each must be ACKed by the pilot and listening.
 * Returns the address the client dials and the proxies, client side first.
 */
export async function startPilotChain({ topology, protocol, chain, pilot, tools, cpus, workDir, repoRoot, spar }) {
  if (topology.hops === 0) return { entryHost: '127.0.0.1', entryPort: chain.fortioPort, proxies: [] };
  const proxies = [];
  const one = async (role, hop, adminPort, waitHost, waitPort) => {
    const labels = { app: `${role}-${chain.id}` };
    const b = sidecarBootstrap({ podName: `${role}-${chain.id}-0`, ip: `10.250.${chain.k}.${hop}`, labels, xdsPort: pilot.xdsPort, adminPort, flavor: topology.impl });
    const file = join(workDir, `${chain.id}-${role}.yaml`);
    writeFileSync(file, stringify(b));
    const proc = startProxy(topology.impl, `${topology.impl} ${role} sidecar (${protocol.id})`, file, { tools, cpus, repoRoot, spar });
    proxies.unshift(proc);
    await waitSynced(pilot, nodeIdOf(b), { proc, timeoutMs: 60_000 });
    await waitForPort(waitPort, proc, 20000, waitHost);
  };
  try {
    if (topology.hops === 2) await one('server', 2, chain.adminPorts[1], '127.0.0.1', chain.ingressPort);
    await one('client', 1, chain.adminPorts[0], vip(chain), chain.svcPort);
    return { entryHost: vip(chain), entryPort: chain.svcPort, proxies };
  } catch (e) {
    await Promise.all(proxies.map(stop));
    throw e;
  }
}
