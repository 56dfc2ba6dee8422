/**
 * `spar up [-f FILE...] [--proxy spar|envoy] [--port 8080]`: the whole mesh on this machine. Cleans
 * up what a crashed run left, starts the local runtime in the background (pods as network
 * namespaces on the `spar0` bridge, `spar pilot` beside them, the ingress gateway on
 * 127.0.0.1:<port>), applies the YAML (Istio's Bookinfo with its gateway by default), shows pods
 * as they start, and ends with the product page URL. `--daemon` is the runtime itself (internal).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, chmodSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../common/errors.js';
import { istioDir, repoRoot } from '../common/paths.js';
import { callApi, serveApi } from '../local/api.js';
import { readDocs, requireRoot, runtimeStatus, type StatusReply } from '../local/client.js';
import { LocalRuntime } from '../local/runtime.js';
import { cleanupState, DEFAULT_STATE_DIR, processAlive, readState, socketPath, stateDirFrom } from '../local/state.js';
import type { NetworkConfig } from '../local/network.js';

export interface UpOptions {
  filename?: string[];
  proxy: string;
  port: string;
  stateDir?: string;
  bridge: string;
  podCidr: string;
  serviceCidr: string;
  pilotDebugPort: string;
  injectDefault: boolean;
  wait: string;
  daemon?: boolean;
}

const fromSource = import.meta.url.endsWith('.ts');

export function defaultFiles(): string[] {
  const bookinfo = join(istioDir, 'samples', 'bookinfo', 'platform', 'kube', 'bookinfo.yaml');
  const gateway = join(istioDir, 'samples', 'bookinfo', 'networking', 'bookinfo-gateway.yaml');
  if (!existsSync(bookinfo)) throw new UserError(`no Bookinfo YAML at ${bookinfo} (set SPAR_SHARED to Istio's reference folder, or pass -f FILE)`, 2);
  return existsSync(gateway) ? [bookinfo, gateway] : [bookinfo];
}

function networkFrom(o: UpOptions): NetworkConfig {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(o.podCidr);
  if (!m || !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(o.serviceCidr)) throw new UserError('--pod-cidr / --service-cidr: expected a.b.c.d/n', 2);
  if (!/^spar[\w-]{0,11}$/.test(o.bridge)) throw new UserError(`--bridge ${o.bridge}: expected spar… (15 characters at most)`, 2);
  return { bridge: o.bridge, podCidr: o.podCidr, gateway: `${m[1]}.${m[2]}.${m[3]}.${Number(m[4]) + 1}`, serviceCidr: o.serviceCidr, dnsDomain: 'cluster.local' };
}

/** The runtime process: runs until `spar down` (or SIGTERM), then removes everything. */
async function daemon(o: UpOptions, stateDir: string): Promise<void> {
  const log = (m: string) => process.stderr.write(`${new Date().toISOString()} ${m}\n`);
  const runtime = new LocalRuntime({
    stateDir, network: networkFrom(o), proxy: o.proxy as 'spar' | 'envoy', ingressPort: Number(o.port), pilotDebugPort: Number(o.pilotDebugPort),
    injectDefault: o.injectDefault, fromSource, log,
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      log('shutting down');
      await runtime.stop().catch((e: Error) => log(`stop: ${e.message}`));
      await cleanupState(stateDir);
      process.exit(0);
    })();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    await runtime.start();
  } catch (e) {
    log(`start failed: ${(e as Error).message}`);
    stop();
    return;
  }
  await serveApi(runtime, socketPath(stateDir), stop);
  log(`runtime ready (state ${stateDir}, ingress 127.0.0.1:${runtime.state.ingress?.port})`);
  await new Promise<void>(() => {});
}

function startDaemon(o: UpOptions, stateDir: string): number {
  mkdirSync(stateDir, { recursive: true });
  chmodSync(stateDir, 0o755);
  const fd = openSync(join(stateDir, 'runtime.log'), 'a');
  const args = [join(repoRoot, 'bin', 'spar.js'), 'up', '--daemon', '--state-dir', stateDir, '--proxy', o.proxy, '--port', o.port, '--bridge', o.bridge,
    '--pod-cidr', o.podCidr, '--service-cidr', o.serviceCidr, '--pilot-debug-port', o.pilotDebugPort, ...(o.injectDefault ? [] : ['--no-inject-default'])];
  const child = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, ...(fromSource ? { SPAR_TSX: '1' } : {}) }, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  child.unref();
  return child.pid!;
}

const logTail = (stateDir: string) => {
  try {
    return readFileSync(join(stateDir, 'runtime.log'), 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
};

/** Prints pods as they start until all are ready (or `waitS` passes). Returns the last status. */
export async function showProgress(stateDir: string, waitS: number, out: (s: string) => void): Promise<StatusReply | undefined> {
  const seen = new Map<string, string>();
  const deadline = Date.now() + waitS * 1000;
  let last: StatusReply | undefined;
  for (;;) {
    last = await runtimeStatus(stateDir);
    if (!last) throw new UserError(`the runtime stopped; its log (${join(stateDir, 'runtime.log')}):\n${logTail(stateDir)}`, 1);
    if (seen.get('pilot') !== last.pilot) {
      seen.set('pilot', last.pilot);
      if (last.pilot.startsWith('failed')) throw new UserError(`spar pilot ${last.pilot} (log: ${join(stateDir, 'pilot.log')})`, 1);
      if (last.pilot === 'ready') out(`  ✔ pilot ready\n`);
    }
    for (const p of last.pods) {
      const what = p.phase === 'Failed' ? `failed: ${p.message ?? ''}` : p.ready ? `ready (${(((p.readyAt ?? Date.now()) - p.createdAt) / 1000).toFixed(1)} s)` : p.phase === 'Running' ? 'starting' : p.phase.toLowerCase();
      if (seen.get(p.key) !== what) {
        seen.set(p.key, what);
        const mark = p.ready ? '✔' : p.phase === 'Failed' ? '✘' : '…';
        out(`  ${mark} ${p.namespace}/${p.name}${p.sidecar ? ' (+sidecar)' : p.gateway ? ' (gateway)' : ''} ${p.ip}: ${what}\n`);
      }
    }
    const pending = last.pods.filter((p) => !p.ready && p.phase !== 'Failed');
    if ((pending.length === 0 && last.pilot === 'ready') || Date.now() > deadline) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function run(o: UpOptions): Promise<void> {
  if (o.proxy !== 'spar' && o.proxy !== 'envoy') throw new UserError(`--proxy: ${JSON.stringify(o.proxy)} is not spar or envoy`, 2);
  requireRoot('up');
  const stateDir = stateDirFrom(o.stateDir);
  if (o.daemon) return daemon(o, stateDir);
  networkFrom(o);
  // Sidecars run as UID 1337 and read the checkout (spar proxy, the samples).
  for (let d = repoRoot; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) throw new UserError(`${d} is closed to other users, so the sidecars (UID 1337) cannot run Spar from ${repoRoot}; chmod o+x ${d} or move the checkout`, 1);
    if (dirname(d) === d) break;
  }
  // ... and their bootstraps and logs below the state directory.
  for (let d = dirname(stateDir); ; d = dirname(d)) {
    if (existsSync(d) && (statSync(d).mode & 0o001) === 0) throw new UserError(`${d} is closed to other users, so the sidecars (UID 1337) cannot read their config under --state-dir ${stateDir}; chmod o+x ${d} or choose another --state-dir`, 1);
    if (dirname(d) === d) break;
  }
  const out = (s: string) => process.stdout.write(s);
  const t0 = Date.now();
  const files = o.filename?.length ? o.filename : defaultFiles();
  const docs = readDocs(files);

  let status = await runtimeStatus(stateDir);
  if (status) {
    out(`Spar is already up (state ${stateDir}); applying ${files.join(', ')}\n`);
  } else {
    const old = readState(stateDir);
    if (old) {
      if (processAlive(old.daemonPid)) throw new UserError(`a runtime (pid ${old.daemonPid}) owns ${stateDir} but does not answer; run \`spar down\` first`, 1);
      const r = await cleanupState(stateDir);
      out(`Removed what a previous run left: ${r.netns.length} namespaces, ${r.links.length} links, ${r.processes} processes\n`);
    }
    out(`Starting the local runtime (state ${stateDir}, proxy: ${o.proxy})\n`);
    const pid = startDaemon(o, stateDir);
    const deadline = Date.now() + 90_000;
    while (!(status = await runtimeStatus(stateDir))) {
      if (!processAlive(pid) || Date.now() > deadline) throw new UserError(`the runtime did not start; its log (${join(stateDir, 'runtime.log')}):\n${logTail(stateDir)}`, 1);
      await new Promise((r) => setTimeout(r, 200));
    }
    out(`  ✔ bridge ${o.bridge}, ingress gateway on 127.0.0.1:${status.ingress?.port}; pilot starting (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  }
  const applied = await callApi<{ lines: string[] }>(socketPath(stateDir), 'POST', '/apply', { docs });
  for (const l of applied.lines) out(`  ${l}\n`);
  out('Pods:\n');
  const last = await showProgress(stateDir, Number(o.wait), out);
  const notReady = last?.pods.filter((p) => !p.ready) ?? [];
  const ingress = last?.ingress ?? status.ingress;
  out(`\n${notReady.length === 0 ? 'All' : `${(last?.pods.length ?? 0) - notReady.length} of ${last?.pods.length}`} pods ready in ${((Date.now() - t0) / 1000).toFixed(1)} s.\n`);
  const hasBookinfo = last?.pods.some((p) => p.name.startsWith('productpage-'));
  const sd = stateDir === DEFAULT_STATE_DIR ? '' : ` --state-dir ${stateDir}`;
  const net = join(istioDir, 'samples', 'bookinfo', 'networking');
  const tries: string[] = [];
  if (hasBookinfo) {
    out(`\nThe product page:  http://127.0.0.1:${ingress?.port}/productpage\n`);
    tries.push(
      `curl -s http://127.0.0.1:${ingress?.port}/productpage | grep -o '<title>.*</title>'`,
      `spar get pods${sd}`,
      `spar exec ratings-v1${sd} -- curl -s http://productpage:9080/productpage`,
      `spar apply${sd} -f ${join(net, 'destination-rule-all.yaml')}`,
      `spar apply${sd} -f ${join(net, 'virtual-service-reviews-v3.yaml')}   # every page from reviews v3`,
      `spar logs productpage-v1 -c istio-proxy${sd}`,
    );
  } else {
    out(`\nThe ingress gateway:  http://127.0.0.1:${ingress?.port}/\n`);
    const pods = last?.pods.filter((p) => !p.gateway) ?? [];
    const pod = pods.find((p) => p.labels.app === 'sleep' || p.labels.app === 'curl') ?? pods[0];
    const svc = last?.services.find((v) => v.namespace !== 'istio-system');
    tries.push(`spar get pods -A${sd}`);
    if (pod && svc) tries.push(`spar exec ${pod.name} -n ${pod.namespace}${sd} -- curl -s http://${svc.name}.${svc.namespace}:${svc.ports[0]?.port ?? 80}/`);
    if (pod) tries.push(`spar logs ${pod.name} -n ${pod.namespace}${sd}`);
  }
  tries.push(`spar proxy-status${last?.pilotDebugPort && last.pilotDebugPort !== 15014 ? ` --pilot http://127.0.0.1:${last.pilotDebugPort}` : ''}`, `spar down${sd}`);
  out(`\nTry next:\n${tries.map((t) => `  ${t}\n`).join('')}`);
  if (notReady.length > 0) throw new UserError(`${notReady.length} pods not ready after ${o.wait} s: ${notReady.map((p) => p.name).join(', ')} (see \`spar logs POD\`)`, 1);
}
