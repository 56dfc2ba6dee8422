/**
 * `spar exec POD [-n NS] -- CMD [ARGS...]`: runs a host program inside the pod's network namespace
 * (its hosts file and service names included), e.g. `spar exec ratings-v1 -- curl -s productpage:9080`.
 * The exit code is the command's.
 */
import { spawnSync } from 'node:child_process';
import { UserError } from '../common/errors.js';
import { findPod, requireRoot } from '../local/client.js';
import { stateDirFrom } from '../local/state.js';

export function run(pod: string, cmd: string[], o: { namespace?: string; stateDir?: string }): void {
  requireRoot('exec');
  if (cmd.length === 0) throw new UserError('spar exec: no command (spar exec POD -- CMD [ARGS...])', 2);
  const p = findPod(stateDirFrom(o.stateDir), pod, o.namespace ?? 'default');
  const r = spawnSync('ip', ['netns', 'exec', p.netns, ...cmd], { stdio: 'inherit', env: { ...process.env, HOSTNAME: p.name } });
  if (r.error) throw new UserError(`spar exec: ${r.error.message}`, 1);
  process.exitCode = r.status ?? 1;
}
