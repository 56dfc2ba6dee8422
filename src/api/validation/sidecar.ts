/**
 * Sidecar (networking.istio.io): istiod's ValidateSidecar. Ingress listeners need a port, a
 * loopback-or-any default endpoint (or a unix socket) and TLS that suits a sidecar; egress
 * listeners need `namespace/host` entries, unique ports, at most one port-less (catch-all) listener
 * and it last; unix-socket listeners use port 0; the outbound traffic policy's egress proxy only
 * with ALLOW_ANY.
 */
import type { ConfigResource } from '../../config/resource.js';
import { UNIX_PREFIX, validateUnixAddress } from './gateway.js';
import { validateNamespaceSlashWildcardHostname, isIPAddress, validateFQDN } from './hosts.js';
import { validateDestination } from './httproute.js';
import { validateAlphaWorkloadSelector } from './labels.js';
import { isHTTP, isTLS, parseProtocol, validatePort, validatePortName, validateProtocol } from './ports.js';
import { at, has, isObj, list, num, str, type Obj, type Report } from './report.js';
import { validateServerTLS } from './tls.js';
import { validateConnectionPool } from './trafficpolicy.js';

const DEFAULT_ENDPOINT_HOSTS = new Set(['127.0.0.1', '0.0.0.0', '::1', '::']);

export function validateSidecar(rep: Report, r: ConfigResource): void {
  const spec = r.spec;
  const before = rep.errorCount;
  const { empty } = validateAlphaWorkloadSelector(rep, 'spec.workloadSelector', spec.workloadSelector);
  if (rep.errorCount > before) return;
  if (empty) rep.warn('spec.workloadSelector', 'sidecar: workload selector specified without labels, will be applied to all services in namespace');
  const ingress = list<unknown>(spec.ingress);
  const egress = list<unknown>(spec.egress);
  if (ingress.length === 0 && egress.length === 0 && !has(spec.outboundTrafficPolicy) && !has(spec.inboundConnectionPool)) {
    return rep.error('spec', 'sidecar: empty configuration provided');
  }
  const ports = new Set<number>();
  ingress.forEach((l, i) => {
    const p = at('spec.ingress', i);
    if (!isObj(l)) return rep.error(p, 'sidecar: ingress may not be null');
    validateIngress(rep, p, l, ports);
  });
  validateConnectionPool(rep, 'spec.inboundConnectionPool', spec.inboundConnectionPool);

  const egressPorts = new Set<number>();
  const uds = new Set<string>();
  let catchAll = false;
  egress.forEach((l, i) => {
    const p = at('spec.egress', i);
    if (!isObj(l)) return rep.error(p, 'egress listener may not be null');
    if (!has(l.port)) {
      if (catchAll) return rep.error(p, 'sidecar: egress can have only one listener with empty port');
      if (i === egress.length - 1) catchAll = true;
      else rep.error(p, 'sidecar: the egress listener with empty port should be the last listener in the list');
    } else if (isObj(l.port)) {
      const port = l.port;
      const bind = str(l.bind);
      if (num(port.targetPort) > 0) rep.error(at(at(p, 'port'), 'targetPort'), 'targetPort has no impact on Sidecars');
      validateEgressPort(rep, p, port, bind, str(l.captureMode) || 'DEFAULT');
      if (num(port.number) === 0) {
        if (uds.has(bind)) rep.error(at(p, 'bind'), 'sidecar: unix domain socket values for listeners must be unique');
        uds.add(bind);
      } else {
        if (egressPorts.has(num(port.number))) rep.error(at(at(p, 'port'), 'number'), 'sidecar: ports on IP bound listeners must be unique');
        egressPorts.add(num(port.number));
      }
    }
    validateEgressHosts(rep, at(p, 'hosts'), list<unknown>(l.hosts).map(str), r.namespace);
  });
  validateOutboundTrafficPolicy(rep, 'spec.outboundTrafficPolicy', spec.outboundTrafficPolicy);
}

function validateIngress(rep: Report, p: string, l: Obj, ports: Set<number>): void {
  if (!isObj(l.port)) return rep.error(at(p, 'port'), 'sidecar: port is required for ingress listeners');
  const port = l.port;
  const pp = at(p, 'port');
  if (num(port.targetPort) > 0) rep.error(at(pp, 'targetPort'), 'targetPort has no impact on Sidecars');
  if (str(port.name)) rep.check(at(pp, 'name'), validatePortName(str(port.name)));
  rep.check(at(pp, 'protocol'), validateProtocol(str(port.protocol)));
  rep.check(at(pp, 'number'), validatePort(num(port.number)));
  const bind = str(l.bind);
  if (bind && !isIPAddress(bind)) rep.error(at(p, 'bind'), `${bind} is not a valid IP`);
  if (ports.has(num(port.number))) rep.error(at(pp, 'number'), 'sidecar: ports on IP bound listeners must be unique');
  ports.add(num(port.number));
  const de = str(l.defaultEndpoint);
  if (de) {
    const dp = at(p, 'defaultEndpoint');
    if (de.startsWith(UNIX_PREFIX)) rep.check(dp, validateUnixAddress(de.slice(UNIX_PREFIX.length)));
    else validateDefaultEndpoint(rep, dp, de);
  }
  if (isObj(l.tls)) {
    const tls = l.tls;
    const tp = at(p, 'tls');
    if (list(tls.subjectAltNames).length) rep.error(at(tp, 'subjectAltNames'), 'sidecar: subjectAltNames is not supported in ingress tls');
    if (tls.httpsRedirect === true) rep.error(at(tp, 'httpsRedirect'), 'sidecar: httpsRedirect is not supported');
    if (str(tls.credentialName)) rep.error(at(tp, 'credentialName'), 'sidecar: credentialName is not currently supported');
    if (list(tls.credentialNames).length) rep.error(at(tp, 'credentialNames'), 'sidecar: credentialNames is not currently supported');
    if (list(tls.tlsCertificates).length) rep.error(at(tp, 'tlsCertificates'), 'sidecar: tls_certificates is not currently supported');
    const mode = str(tls.mode) || 'PASSTHROUGH';
    if (mode === 'ISTIO_MUTUAL' || mode === 'AUTO_PASSTHROUGH') rep.error(at(tp, 'mode'), `configuration is invalid: cannot set mode to ${mode} in sidecar ingress tls`);
    if (!isTLS(parseProtocol(str(port.protocol)))) rep.error(tp, 'server cannot have TLS settings for non HTTPS/TLS ports');
    validateServerTLS(rep, tp, tls);
  }
  validateConnectionPool(rep, at(p, 'connectionPool'), l.connectionPool);
  if (isObj(l.connectionPool) && has(l.connectionPool.http) && !isHTTP(parseProtocol(str(port.protocol)))) {
    rep.warn(at(at(p, 'connectionPool'), 'http'),
      `sidecar: HTTP connection pool settings are configured for port ${num(port.number)} ("${str(port.name)}") but its protocol is not HTTP (${str(port.protocol)}); only TCP settings will apply`);
  }
}

/** `127.0.0.1:8080`, `0.0.0.0:8080`, `[::1]:8080`, `[::]:8080` (Go's net.SplitHostPort). */
function validateDefaultEndpoint(rep: Report, path: string, de: string): void {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(de);
  const host = m ? (m[1] ?? m[2]) : '';
  const port = m ? m[3] : '';
  if (!m) rep.error(path, `address ${de}: ${de.includes(':') ? 'too many colons in address' : 'missing port in address'}`);
  if (host !== '' && !DEFAULT_ENDPOINT_HOSTS.has(host)) {
    rep.error(path, 'sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset');
  }
  if (!/^[+-]?\d+$/.test(port)) rep.error(path, `sidecar: defaultEndpoint port (${port}) is not a number: strconv.Atoi: parsing "${port}": invalid syntax`);
  else rep.check(path, validatePort(Number(port)));
}

function validateEgressPort(rep: Report, p: string, port: Obj, bind: string, captureMode: string): void {
  const pp = at(p, 'port');
  if (str(port.name)) rep.check(at(pp, 'name'), validatePortName(str(port.name)));
  rep.check(at(pp, 'protocol'), validateProtocol(str(port.protocol)));
  if (num(port.number) === 0) {
    if (!bind.startsWith(UNIX_PREFIX)) rep.error(at(p, 'bind'), 'sidecar: ports with 0 value must have a unix domain socket bind address');
    else rep.check(at(p, 'bind'), validateUnixAddress(bind.slice(UNIX_PREFIX.length)));
    if (captureMode !== 'DEFAULT' && captureMode !== 'NONE') rep.error(at(p, 'captureMode'), 'sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners');
  } else {
    rep.check(at(pp, 'number'), validatePort(num(port.number)));
    if (bind && !isIPAddress(bind)) rep.error(at(p, 'bind'), `${bind} is not a valid IP`);
  }
}

function validateEgressHosts(rep: Report, path: string, hosts: string[], namespace: string): void {
  if (hosts.length === 0) return rep.error(path, 'sidecar: egress listener must contain at least one host');
  const byNs = new Map<string, Set<string>>();
  hosts.forEach((h, i) => {
    const p = at(path, i);
    const slash = h.indexOf('/');
    if (slash >= 0 && !h.startsWith('~')) {
      const ns = h.slice(0, slash) === '.' ? namespace : h.slice(0, slash);
      const svc = h.slice(slash + 1);
      const svcs = byNs.get(ns) ?? new Set<string>();
      byNs.set(ns, svcs);
      if (svc !== '*' ? svcs.has(svc) || svcs.has('*') : svcs.size !== 0) rep.warn(p, `duplicated egress host: ${h}`);
      svcs.add(svc);
    }
    for (const e of validateNamespaceSlashWildcardHostname(h, false)) rep.error(p, e);
  });
  if (byNs.get('*')?.has('*') && byNs.size !== 1) rep.warn(path, '`*/*` host select all resources, no other hosts can be added');
}

function validateOutboundTrafficPolicy(rep: Report, path: string, tp: unknown): void {
  if (!isObj(tp)) return;
  const mode = str(tp.mode) || 'REGISTRY_ONLY';
  if (mode === 'ALLOW_ANY_DYNAMIC_DNS') return rep.error(at(path, 'mode'), 'sidecar: ALLOW_ANY_DYNAMIC_DNS mode is only supported in MeshConfig, not in Sidecar resource');
  if (!has(tp.egressProxy)) return;
  const ep = isObj(tp.egressProxy) ? tp.egressProxy : {};
  const p = at(path, 'egressProxy');
  if (mode !== 'ALLOW_ANY') return rep.error(p, 'sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode');
  rep.check(at(p, 'host'), validateFQDN(str(ep.host)));
  if (!has(ep.port)) return rep.error(at(p, 'port'), 'sidecar: egress_proxy port must be non-nil');
  validateDestination(rep, p, ep);
}
