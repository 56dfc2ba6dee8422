/**
 * `spar get pods|services|all [-n NS | -A] [-o wide|json]`: what the local runtime runs, in
 * kubectl's columns (READY counts the app containers and the sidecar, as kubectl does).
 */
import { UserError } from '../common/errors.js';
import { age, runtimeStatus, table } from '../local/client.js';
import { stateDirFrom } from '../local/state.js';

export interface GetOptions {
  namespace?: string;
  allNamespaces?: boolean;
  output?: string;
  stateDir?: string;
}

const KINDS: Record<string, 'pods' | 'services' | 'all'> = { pod: 'pods', pods: 'pods', po: 'pods', service: 'services', services: 'services', svc: 'services', all: 'all' };

/** kubectl's short names for the other kinds. */
const SHORT: Record<string, string> = {
  deploy: 'deployment', vs: 'virtualservice', dr: 'destinationrule', gw: 'gateway', se: 'serviceentry', we: 'workloadentry', pa: 'peerauthentication',
  ap: 'authorizationpolicy', ra: 'requestauthentication', sa: 'serviceaccount', ns: 'namespace', ef: 'envoyfilter',
};

export async function run(what: string, o: GetOptions): Promise<void> {
  const s = await runtimeStatus(stateDirFrom(o.stateDir));
  if (!s) throw new UserError('Spar is not up; start it with `spar up`', 1);
  const inNs = (ns: string) => o.allNamespaces || ns === (o.namespace ?? 'default');
  const kind = KINDS[what.toLowerCase()];
  if (!kind) return listResources(what, s.resources, inNs, o);
  const pods = s.pods.filter((p) => inNs(p.namespace));
  const services = s.services.filter((x) => inNs(x.namespace));
  if (o.output === 'json') {
    process.stdout.write(`${JSON.stringify(kind === 'pods' ? pods : kind === 'services' ? services : { pods, services }, null, 2)}\n`);
    return;
  }
  const ns = (n: string) => (o.allNamespaces ? [n] : []);
  const wide = o.output === 'wide';
  if (kind !== 'services') {
    const rows = [[...(o.allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', ...(wide ? ['NETNS'] : [])]];
    for (const p of pods) {
      const total = p.containers.length;
      const ready = p.ready ? total : 0;
      rows.push([...ns(p.namespace), kind === 'all' ? `pod/${p.name}` : p.name, `${ready}/${total}`, p.phase === 'Failed' ? 'Error' : p.phase, String(p.restarts), age(p.createdAt), p.ip, ...(wide ? [p.netns] : [])]);
    }
    if (rows.length > 1) process.stdout.write(table(rows));
    else if (kind === 'pods') process.stdout.write(`No pods found in ${o.allNamespaces ? 'any' : o.namespace ?? 'default'} namespace.\n`);
  }
  if (kind !== 'pods') {
    if (kind === 'all' && pods.length) process.stdout.write('\n');
    const rows = [[...(o.allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'TYPE', 'CLUSTER-IP', 'PORT(S)']];
    for (const v of services) rows.push([...ns(v.namespace), kind === 'all' ? `service/${v.name}` : v.name, 'ClusterIP', v.vip, v.ports.map((p) => `${p.port}/${p.protocol}`).join(',')]);
    if (rows.length > 1) process.stdout.write(table(rows));
  }
}

/** Any other kind: the applied objects of that kind (Deployments with their pods' readiness). */
function listResources(what: string, resources: Array<{ kind: string; namespace: string; name: string }>, inNs: (ns: string) => boolean, o: GetOptions): void {
  const w = what.toLowerCase();
  const singular = SHORT[w] ?? w.replace(/(ies)$/, 'y').replace(/(sses|xes)$/, (m) => m.slice(0, -2)).replace(/s$/, '');
  const known = new Set(resources.map((r) => r.kind.toLowerCase()));
  const matches = resources.filter((r) => r.kind.toLowerCase() === singular && (r.kind === 'Namespace' || inNs(r.namespace)));
  if (matches.length === 0 && !known.has(singular) && !['deployment', 'virtualservice', 'destinationrule', 'gateway', 'serviceentry', 'namespace', 'serviceaccount'].includes(singular)) {
    throw new UserError(`spar get: unknown resource type "${what}" (pods, services, all, or an applied kind: ${[...known].sort().join(', ')})`, 2);
  }
  if (o.output === 'json') {
    process.stdout.write(`${JSON.stringify(matches, null, 2)}\n`);
    return;
  }
  if (matches.length === 0) {
    process.stdout.write(`No resources found${o.allNamespaces ? '' : ` in ${o.namespace ?? 'default'} namespace`}.\n`);
    return;
  }
  const showNs = o.allNamespaces && singular !== 'namespace';
  const rows = [[...(showNs ? ['NAMESPACE'] : []), 'NAME']];
  for (const r of matches.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name))) rows.push([...(showNs ? [r.namespace] : []), r.name]);
  process.stdout.write(table(rows));
}
