/**
 * `spar down`: stops the local runtime (pods drain, the pilot stops) and removes everything it
 * made — network namespaces, veths, the bridge, /etc/netns entries, rules, processes — also when
 * the runtime crashed (state.json names all of it).
 */
import { callApi } from '../local/api.js';
import { requireRoot } from '../local/client.js';
import { cleanupState, processAlive, readState, socketPath, stateDirFrom } from '../local/state.js';

export async function run(o: { stateDir?: string }): Promise<void> {
  requireRoot('down');
  const stateDir = stateDirFrom(o.stateDir);
  const s = readState(stateDir);
  if (!s) {
    process.stdout.write(`Nothing to tear down (no state in ${stateDir}).\n`);
    return;
  }
  const pods = Object.keys(s.pods).length;
  if (processAlive(s.daemonPid)) {
    process.stdout.write(`Stopping ${pods} pods and the pilot…\n`);
    try {
      await callApi(socketPath(stateDir), 'POST', '/shutdown', {}, 5000);
      const deadline = Date.now() + 30_000;
      while (processAlive(s.daemonPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    } catch {
      // not answering: the cleanup below takes it down
    }
  }
  const r = await cleanupState(stateDir);
  const left = [r.processes && `${r.processes} processes`, r.netns.length && `${r.netns.length} namespaces`, r.links.length && `${r.links.length} links`].filter(Boolean);
  process.stdout.write(`Spar is down${left.length ? ` (also removed what was left: ${left.join(', ')})` : ''}.\n`);
}
