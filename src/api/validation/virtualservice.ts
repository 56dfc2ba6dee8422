/**
 * VirtualService (networking.istio.io): istiod's ValidateVirtualService. Hosts (wildcards, no `*`
 * for the mesh, no overlaps), gateway references, delegates (no hosts: then no gateways, tcp or tls),
 * JWT-claim routing only on gateways, HTTP routes (httproute.ts), TLS routes (SNI hosts must fall
 * within the hosts) and TCP routes, `exportTo`, and the unreachable-rule warnings (vsanalysis.ts).
 */
import type { ConfigResource } from '../../config/resource.js';
import { validateExportTo } from './common.js';
import { isJwtClaimRoute } from './headers.js';
import {
  hostMatches, hostSubsetOf, isIPAddress, validateGatewayNames, validateIPSubnet, validateWildcardDomain, validateWildcardDomainForGateway,
} from './hosts.js';
import { validateHTTPRoute, validateRouteDestinations } from './httproute.js';
import { validateLabels } from './labels.js';
import { validatePort } from './ports.js';
import { at, entries, isObj, key as mapKey, list, num, str, type Obj, type Report } from './report.js';
import { findingParams, unreachableRuleFindings } from './vsanalysis.js';

const ROUTE_SEMANTICS = 'internal.istio.io/route-semantics';
const MESH = 'mesh';

export function validateVirtualService(rep: Report, r: ConfigResource): void {
  const spec = r.spec;
  const hosts = list<unknown>(spec.hosts).map(str);
  const gateways = list<unknown>(spec.gateways).map(str);
  const http = list<unknown>(spec.http);
  const tcp = list<unknown>(spec.tcp);
  const tls = list<unknown>(spec.tls);
  const gatewaySemantics = r.metadata.annotations?.[ROUTE_SEMANTICS] === 'gateway';

  if (hosts.length === 0) {
    if (gateways.length) rep.error('spec.gateways', 'delegate virtual service must have no gateways specified');
    if (tls.length) rep.error('spec.tls', 'delegate virtual service must have no tls route specified');
    if (tcp.length) rep.error('spec.tcp', 'delegate virtual service must have no tcp route specified');
  }

  let appliesToGateway = false;
  if (gateways.length > 0) {
    validateGatewayNames(rep, 'spec.gateways', spec.gateways, gatewaySemantics);
    appliesToGateway = !gateways.includes(MESH);
  }
  const appliesToMesh = !appliesToGateway;

  if (!appliesToGateway) {
    http.forEach((route, i) => {
      if (!isObj(route)) return;
      list<unknown>(route.match).forEach((m, j) => {
        if (!isObj(m)) return;
        for (const field of ['headers', 'withoutHeaders']) {
          for (const [key] of entries(m[field])) {
            if (!isJwtClaimRoute(key)) continue;
            rep.error(mapKey(at(at(at(at('spec.http', i), 'match'), j), field), key),
              `JWT claim based routing (key: ${key}) is only supported for gateway, found no gateways: [${gateways.join(' ')}]`);
          }
        }
      });
    });
  }

  const sni = isSniHost(tls);
  let allHostsValid = true;
  hosts.forEach((h, i) => {
    const err = appliesToGateway ? validateWildcardDomainForGateway(sni, h) : validateWildcardDomain(h);
    if (err) {
      if (!isIPAddress(h)) {
        rep.error(at('spec.hosts', i), err);
        allHostsValid = false;
      }
    } else if (appliesToMesh && h === '*') {
      rep.error(at('spec.hosts', i), 'wildcard host * is not allowed for virtual services bound to the mesh gateway');
      allHostsValid = false;
    }
  });
  if (allHostsValid) {
    for (let i = 0; i < hosts.length; i++) {
      for (let j = i + 1; j < hosts.length; j++) {
        if (hostMatches(hosts[i], hosts[j])) rep.error(at('spec.hosts', j), `duplicate hosts in virtual service: ${hosts[i]} & ${hosts[j]}`);
      }
    }
  }

  if (http.length === 0 && tcp.length === 0 && tls.length === 0) rep.error('spec', 'http, tcp or tls must be provided in virtual service');
  http.forEach((route, i) => {
    if (!isObj(route)) return rep.error(at('spec.http', i), 'http route may not be null');
    validateHTTPRoute(rep, at('spec.http', i), route, hosts.length === 0, gatewaySemantics);
  });
  tls.forEach((route, i) => {
    if (isObj(route)) validateTLSRoute(rep, at('spec.tls', i), route, hosts, gateways, gatewaySemantics);
  });
  tcp.forEach((route, i) => {
    if (isObj(route)) validateTCPRoute(rep, at('spec.tcp', i), route, gatewaySemantics);
  });
  validateExportTo(rep, 'spec.exportTo', r.namespace, spec.exportTo, false, false);
  warnUnreachableRules(rep, spec);
}

/** The unreachable-rule analysis (vsanalysis.ts) in the webhook's words. */
function warnUnreachableRules(rep: Report, spec: Obj): void {
  for (const f of unreachableRuleFindings(spec)) {
    const p = findingParams(f);
    if (f.finding === 'unreachable') {
      rep.warn(f.path, `virtualService rule ${p[0]} not used (${p[1]})`, { code: 'IST0130', codeName: 'VirtualServiceUnreachableRule' });
    } else {
      rep.warn(f.path, `virtualService rule ${p[0]} match ${p[1]} is not used (duplicate/overlapping match in rule ${p[2]})`,
        { code: 'IST0131', codeName: 'VirtualServiceIneffectiveMatch' });
    }
  }
}

function isSniHost(tls: unknown[]): boolean {
  return tls.some((t) => isObj(t) && list<unknown>(t.match).some((m) => isObj(m) && list(m.sniHosts).length > 0));
}

/** destinationSubnets, port, sourceLabels and gateways of a TCP or TLS match. */
function validateL4Match(rep: Report, path: string, m: Obj): void {
  list<unknown>(m.destinationSubnets).forEach((s, i) => rep.check(at(at(path, 'destinationSubnets'), i), validateIPSubnet(str(s))));
  if (num(m.port) !== 0) rep.check(at(path, 'port'), validatePort(num(m.port)));
  validateLabels(rep, at(path, 'sourceLabels'), m.sourceLabels);
  validateGatewayNames(rep, at(path, 'gateways'), m.gateways, false);
}

function validateTLSRoute(rep: Report, path: string, route: Obj, hosts: string[], gateways: string[], gatewaySemantics: boolean): void {
  const matches = list<unknown>(route.match);
  if (matches.length === 0) rep.error(at(path, 'match'), 'TLS route must have at least one match condition');
  matches.forEach((m, i) => {
    const p = at(at(path, 'match'), i);
    if (!isObj(m)) return rep.error(p, 'TLS match may not be null');
    const snis = list<unknown>(m.sniHosts).map(str);
    if (snis.length === 0) rep.error(at(p, 'sniHosts'), 'TLS match must have at least one SNI host');
    snis.forEach((s, k) => validateSniHost(rep, at(at(p, 'sniHosts'), k), s, hosts, gateways));
    validateL4Match(rep, p, m);
  });
  if (list(route.route).length === 0) rep.error(at(path, 'route'), 'TLS route is required');
  validateRouteDestinations(rep, at(path, 'route'), route.route, gatewaySemantics);
}

function validateSniHost(rep: Report, path: string, sni: string, hosts: string[], gateways: string[]): void {
  const onGateway = !gateways.includes(MESH);
  const err = onGateway ? validateWildcardDomainForGateway(true, sni) : validateWildcardDomain(sni);
  if (err) {
    if (isIPAddress(sni)) rep.warn(path, `using an IP address ("${sni}") goes against SNI spec and most clients do not support this`);
    else rep.error(path, err);
    return;
  }
  if (hosts.some((h) => hostSubsetOf(sni, h))) return;
  rep.error(path, `SNI host "${sni}" is not a compatible subset of any of the virtual service hosts: [${hosts.join(', ')}]`);
}

function validateTCPRoute(rep: Report, path: string, route: Obj, gatewaySemantics: boolean): void {
  list<unknown>(route.match).forEach((m, i) => {
    const p = at(at(path, 'match'), i);
    if (!isObj(m)) return rep.error(p, 'tcp match may not be nil');
    validateL4Match(rep, p, m);
  });
  if (list(route.route).length === 0) rep.error(at(path, 'route'), 'TCP route is required');
  validateRouteDestinations(rep, at(path, 'route'), route.route, gatewaySemantics);
}
