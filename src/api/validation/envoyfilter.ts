/**
 * EnvoyFilter (networking.istio.io): istiod's ValidateEnvoyFilter. Always a warning (it patches
 * Envoy internals that change between versions); each patch needs `applyTo`, a `patch` with an
 * operation and (except REMOVE) a value, a proxy-version match that is an RE2 regex, and a match
 * of the class its `applyTo` patches (listener, route configuration or cluster).
 *
 * The patch value itself is decoded as the Envoy message `applyTo` names in envoypatch.ts.
 */
import type { ConfigResource } from '../../config/resource.js';
import { validatePatchValue } from './envoypatch.js';
import { validateAlphaWorkloadSelector } from './labels.js';
import { re2Error } from './regex.js';
import { at, has, isObj, list, str, type Report } from './report.js';

const MAX_PROXY_VERSION_LEN = 1024;
const LISTENER_CLASS = new Set(['LISTENER', 'FILTER_CHAIN', 'NETWORK_FILTER', 'HTTP_FILTER']);
const ROUTE_CLASS = new Set(['ROUTE_CONFIGURATION', 'VIRTUAL_HOST', 'HTTP_ROUTE']);
const HCM = 'envoy.filters.network.http_connection_manager';
/** Filter names Envoy deprecated, with their replacements (Istio warns on a match using one). */
const DEPRECATED_FILTER_NAMES: Record<string, string> = {
  'envoy.http_connection_manager': HCM,
  'envoy.router': 'envoy.filters.http.router',
  'envoy.cors': 'envoy.filters.http.cors',
  'envoy.fault': 'envoy.filters.http.fault',
  'envoy.lua': 'envoy.filters.http.lua',
  'envoy.tcp_proxy': 'envoy.filters.network.tcp_proxy',
  'envoy.ext_authz': 'envoy.filters.http.ext_authz',
  'envoy.grpc_web': 'envoy.filters.http.grpc_web',
  'envoy.health_check': 'envoy.filters.http.health_check',
  'envoy.listener.tls_inspector': 'envoy.filters.listener.tls_inspector',
  'envoy.listener.original_dst': 'envoy.filters.listener.original_dst',
  'envoy.listener.http_inspector': 'envoy.filters.listener.http_inspector',
};

export function validateEnvoyFilter(rep: Report, r: ConfigResource): void {
  rep.warn('spec', 'EnvoyFilter exposes internal implementation details that may change at any time. Prefer other APIs if possible, and exercise extreme caution, especially around upgrades.');
  const before = rep.errorCount;
  const { empty } = validateAlphaWorkloadSelector(rep, 'spec.workloadSelector', r.spec.workloadSelector);
  if (rep.errorCount > before) return;
  if (empty) rep.warn('spec.workloadSelector', 'Envoy filter: workload selector specified without labels, will be applied to all services in namespace');
  list<unknown>(r.spec.configPatches).forEach((cp, i) => {
    const p = at('spec.configPatches', i);
    if (!isObj(cp)) return rep.error(p, 'Envoy filter: null config patch');
    const match = isObj(cp.match) ? cp.match : undefined;
    if (match?.context === 'WAYPOINT') return;
    const applyTo = str(cp.applyTo) || 'INVALID';
    if (applyTo === 'INVALID') return rep.error(at(p, 'applyTo'), 'Envoy filter: missing applyTo');
    if (!isObj(cp.patch)) return rep.error(at(p, 'patch'), 'Envoy filter: missing patch');
    const op = str(cp.patch.operation) || 'INVALID';
    if (op === 'INVALID') return rep.error(at(at(p, 'patch'), 'operation'), 'Envoy filter: missing patch operation');
    if (op !== 'REMOVE' && !has(cp.patch.value)) return rep.error(at(at(p, 'patch'), 'value'), 'Envoy filter: missing patch value for non-remove operation');
    const proxyVersion = isObj(match?.proxy) ? str(match.proxy.proxyVersion) : '';
    if (proxyVersion !== '') {
      const pv = at(at(at(p, 'match'), 'proxy'), 'proxyVersion');
      if (proxyVersion.length > MAX_PROXY_VERSION_LEN) {
        rep.warn(pv, `Envoy filter: proxyVersion match exceeds ${MAX_PROXY_VERSION_LEN} characters and will be ignored`);
      } else {
        const err = re2Error(proxyVersion);
        if (err) return rep.error(pv, `Envoy filter: invalid regex for proxy version, [error parsing regexp: ${err}]`);
      }
    }
    validatePatchValue(rep, at(at(p, 'patch'), 'value'), applyTo, cp.patch.value);
    const objectMatch = match && (has(match.listener) || has(match.routeConfiguration) || has(match.cluster) || has(match.waypoint));
    if (!match || !objectMatch) return;
    const mp = at(p, 'match');
    if (LISTENER_CLASS.has(applyTo)) {
      if (!isObj(match.listener)) return rep.error(mp, 'Envoy filter: applyTo for listener class objects cannot have non listener match');
      const fc = isObj(match.listener.filterChain) ? match.listener.filterChain : undefined;
      if (!fc || !isObj(fc.filter)) return;
      const filter = fc.filter;
      const fp = at(at(at(mp, 'listener'), 'filterChain'), 'filter');
      if (applyTo === 'LISTENER' || applyTo === 'FILTER_CHAIN') rep.warn(fp, `Envoy filter: filter match has no effect when used with ${applyTo}`);
      const name = str(filter.name);
      if (name === '') return rep.error(at(fp, 'name'), 'Envoy filter: filter match has no name to match on');
      if (has(filter.subFilter)) {
        if (applyTo !== 'HTTP_FILTER') return rep.error(at(fp, 'subFilter'), 'Envoy filter: subfilter match can be used with applyTo HTTP_FILTER only');
        if (name !== HCM && name !== 'envoy.http_connection_manager') return rep.error(at(fp, 'subFilter'), `Envoy filter: subfilter match requires filter match with ${HCM}`);
        if (!isObj(filter.subFilter) || str(filter.subFilter.name) === '') return rep.error(at(at(fp, 'subFilter'), 'name'), 'Envoy filter: subfilter match has no name to match on');
      }
      const subName = isObj(filter.subFilter) ? str(filter.subFilter.name) : '';
      for (const [n, np] of [[name, at(fp, 'name')], [subName, at(at(fp, 'subFilter'), 'name')]] as const) {
        const replacement = DEPRECATED_FILTER_NAMES[n];
        if (replacement) rep.warn(np, `using deprecated filter name "${n}"; use "${replacement}" instead`);
      }
    } else if (ROUTE_CLASS.has(applyTo)) {
      if (!has(match.routeConfiguration)) rep.error(mp, 'Envoy filter: applyTo for http route class objects cannot have non route configuration match');
    } else if (applyTo === 'CLUSTER') {
      if (!has(match.cluster)) rep.error(mp, 'Envoy filter: applyTo for cluster class objects cannot have non cluster match');
    }
  });
}
