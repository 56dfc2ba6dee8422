/**
 * EnvoyFilter patches (Istio's analyzers/envoyfilter): operations Envoy ignores for the chosen
 * `applyTo` (IST0152, IST0153, IST0154), and relative operations without a priority, whose
 * result depends on the order filters apply in (IST0151), worse when another filter patching the
 * same name pins a proxyVersion (IST0155).
 */
import { register } from '../analyzer.js';
import { MSG, message } from '../messages.js';
import { arr, canonical, num, obj, str } from '../values.js';

const ROUTE_LEVEL = new Set(['ROUTE_CONFIGURATION', 'HTTP_ROUTE']);
const REPLACEABLE = new Set(['NETWORK_FILTER', 'HTTP_FILTER', 'VIRTUAL_HOST']);

register({
  name: 'envoyfilter.EnvoyPatchAnalyzer',
  description: 'Checks an envoyFilters ',
  inputs: ['EnvoyFilter'],
  emits: [
    MSG.EnvoyFilterUsesRelativeOperation, MSG.EnvoyFilterUsesReplaceOperationIncorrectly, MSG.EnvoyFilterUsesAddOperationIncorrectly,
    MSG.EnvoyFilterUsesRemoveOperationIncorrectly, MSG.EnvoyFilterUsesRelativeOperationWithProxyVersion,
  ],
  analyze({ snapshot, report }) {
    // Names patched by earlier filters that pin a proxyVersion.
    const versioned: string[] = [];
    for (const ef of snapshot.of('EnvoyFilter')) {
      const priority = num(ef.spec.priority);
      const patches = arr(ef.spec.configPatches).map(obj);
      for (let i = 0; i < patches.length; i++) {
        const cp = patches[i];
        if (cp.patch == null) break;
        const patch = obj(cp.patch);
        const match = obj(cp.match);
        // istioctl points these at the resource (its field map has no entry for a patch value),
        // so repeats on one EnvoyFilter collapse into one message; Spar does the same.
        const path: string[] = [];
        // The patched filter's name: the value's `name`, else the listener filter it matches.
        let name = '';
        const value = patch.value;
        if (value && typeof value === 'object' && Object.keys(obj(value)).length > 0) {
          const v = obj(value);
          if (v.name != null) name = `value:${canonical(v.name)}`;
          else if (cp.match != null) name = str(obj(obj(obj(match.listener).filterChain).filter).name);
        }
        const relative = () => {
          if (priority !== 0) return;
          const type = versioned.includes(name) ? MSG.EnvoyFilterUsesRelativeOperationWithProxyVersion : MSG.EnvoyFilterUsesRelativeOperation;
          report(message(type, ef, [], path));
        };
        const op = str(patch.operation);
        const applyTo = str(cp.applyTo);
        if (op === 'ADD') {
          if (ROUTE_LEVEL.has(applyTo)) report(message(MSG.EnvoyFilterUsesAddOperationIncorrectly, ef, [], path));
        } else if (op === 'REMOVE') {
          if (ROUTE_LEVEL.has(applyTo)) report(message(MSG.EnvoyFilterUsesRemoveOperationIncorrectly, ef, [], path));
          else relative();
        } else if (op === 'REPLACE') {
          if (!REPLACEABLE.has(applyTo)) report(message(MSG.EnvoyFilterUsesReplaceOperationIncorrectly, ef, [], path));
          else relative();
        } else if (op === 'INSERT_BEFORE' || op === 'INSERT_AFTER') {
          relative();
        }
        if (str(obj(match.proxy).proxyVersion) !== '') versioned.push(name);
      }
    }
  },
});
