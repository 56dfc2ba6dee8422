/**
 * `spar logs POD [-c CONTAINER] [-n NS] [-f]`: a container's log from the pod's folder. The default
 * container is the first app container; `-c istio-proxy` (or `-c proxy`) is the agent and proxy.
 */
import { createReadStream, existsSync, readFileSync, statSync, watch } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../common/errors.js';
import { findPod } from '../local/client.js';
import { podDir, stateDirFrom } from '../local/state.js';

export async function run(pod: string, o: { container?: string; namespace?: string; follow?: boolean; stateDir?: string }): Promise<void> {
  const stateDir = stateDirFrom(o.stateDir);
  const p = findPod(stateDir, pod, o.namespace ?? 'default');
  const c = o.container === 'proxy' ? 'istio-proxy' : o.container ?? p.containers.find((x) => x !== 'istio-proxy') ?? 'istio-proxy';
  if (!p.containers.includes(c)) throw new UserError(`container ${c} is not valid for pod ${p.name}: choose one of [${p.containers.join(' ')}]`, 1);
  const file = join(podDir(stateDir, p.namespace, p.name), `${c}.log`);
  if (!existsSync(file)) throw new UserError(`no log yet for ${p.name}/${c}`, 1);
  process.stdout.write(readFileSync(file));
  if (!o.follow) return;
  let pos = statSync(file).size;
  await new Promise<void>(() => {
    watch(file, () => {
      const size = statSync(file).size;
      if (size <= pos) return;
      createReadStream(file, { start: pos, end: size - 1 }).pipe(process.stdout, { end: false });
      pos = size;
    });
  });
}
