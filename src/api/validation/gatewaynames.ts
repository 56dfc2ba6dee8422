/**
 * References to Gateways from a VirtualService (`spec.gateways`, `match[].gateways`): `mesh`,
 * `<namespace>/<name>`, or a bare name in the VirtualService's namespace. The legacy dotted form
 * `name.namespace` (or an FQDN) still works but earns a warning pointing at the modern spelling.
 */
import { isDNS1123Label, validateFQDN } from './hosts.js';
import { at, list, str, type Report } from './report.js';

export function validateGatewayNames(rep: Report, path: string, names: unknown, gatewaySemantics: boolean): void {
  list<unknown>(names).forEach((raw, i) => {
    const name = str(raw);
    const p = at(path, i);
    const slash = name.indexOf('/');
    if (slash < 0) {
      if (name.includes('.')) {
        const parts = name.split('.');
        rep.warn(p, `using legacy gatewayName format "${name}"; prefer the <namespace>/<name> format: "${parts[1]}/${parts[0]}"`);
      }
      rep.check(p, validateFQDN(name));
      return;
    }
    const ns = name.slice(0, slash);
    const gw = name.slice(slash + 1);
    if (ns.length === 0 || gw.length === 0) rep.error(p, 'config namespace and gateway name cannot be empty');
    if (!isDNS1123Label(ns)) rep.error(p, `invalid value for namespace: "${ns}"`);
    if (!isDNS1123Label(gw) && !gatewaySemantics) rep.error(p, `invalid value for gateway name: "${gw}"`);
  });
}
