// Starting a topology's proxy chain: client → hop 1 → ... → hop N → server, each hop a real process
// (Envoy, or `spar proxy`) reading a static bootstrap written here.
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { benchBootstrap } from './bootstrap.mjs';
import { freePorts, start, stop, waitForPort } from './procs.mjs';

/**
 * How `spar proxy` runs: `dist` (what users run), `src` (the TypeScript sources through tsx,
 * SPAR_TSX=1), or `auto`: dist when it is at least as new as every source file under src/proxy and
 * src/cli, else src.
 */
export function sparMode(repoRoot, choice = 'auto') {
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
  for (const sub of ['proxy', 'cli']) if (existsSync(join(srcDir, sub))) walk(join(srcDir, sub));
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
