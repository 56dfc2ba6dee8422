import type { PushContext } from '../../model/push-context.js';
import type { Proxy } from '../../model/proxy.js';
import type { EnvoyJson } from '../codec.js';

export function generateSecrets(_proxy: Proxy, _push: PushContext, _names?: string[]): EnvoyJson[] {
  return [];
}
