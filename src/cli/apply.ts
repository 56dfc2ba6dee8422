/**
 * `spar apply -f FILE...` and `spar delete -f FILE...`: Kubernetes and Istio YAML into (or out of)
 * the running local runtime, answered kubectl-style (`deployment/reviews-v1 created`).
 */
import { UserError } from '../common/errors.js';
import { callApi } from '../local/api.js';
import { readDocs, requireRoot, runtimeStatus } from '../local/client.js';
import { socketPath, stateDirFrom } from '../local/state.js';
import { showProgress } from './up.js';

export async function send(path: '/apply' | '/delete', o: { filename: string[]; stateDir?: string; wait?: string }): Promise<void> {
  requireRoot(path.slice(1));
  const stateDir = stateDirFrom(o.stateDir);
  const docs = readDocs(o.filename);
  if (!(await runtimeStatus(stateDir))) throw new UserError(`Spar is not up (no runtime answers in ${stateDir}); start it with \`spar up\``, 1);
  const r = await callApi<{ lines: string[] }>(socketPath(stateDir), 'POST', path, { docs });
  for (const l of r.lines) process.stdout.write(`${l}\n`);
  const waitS = Number(o.wait ?? 0);
  if (waitS > 0) await showProgress(stateDir, waitS, (s) => process.stdout.write(s));
}

export function run(o: { filename: string[]; stateDir?: string; wait?: string }): Promise<void> {
  return send('/apply', o);
}
