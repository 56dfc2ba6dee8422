/** `spar delete -f FILE...`: removes what the files describe from the local runtime (see apply.ts). */
import { send } from './apply.js';

export function run(o: { filename: string[]; stateDir?: string }): Promise<void> {
  return send('/delete', o);
}
