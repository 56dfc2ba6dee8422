/**
 * WorkloadEntry and WorkloadGroup (networking.istio.io), and the endpoint rules ServiceEntry shares
 * with them: an address that is an IP, an FQDN (where DNS resolution applies) or a unix socket
 * (then no ports), named ports that are DNS labels with valid numbers, valid labels; a
 * WorkloadGroup's template, metadata labels and readiness probe.
 */
import type { ConfigResource } from '../../config/resource.js';
import { UNIX_PREFIX, validateUnixAddress } from './gateway.js';
import { validateProbeHeaderName } from './headers.js';
import { isIPAddress, validateFQDN } from './hosts.js';
import { validateLabels } from './labels.js';
import { validatePort, validatePortName } from './ports.js';
import { Report, at, entries, has, isObj, key, list, num, str, type Obj } from './report.js';

/**
 * One workload (WorkloadEntry spec, ServiceEntry STATIC endpoint). `servicePorts` are the owning
 * ServiceEntry's port names (undefined for a standalone WorkloadEntry).
 */
export function validateWorkloadEntry(rep: Report, path: string, we: Obj, servicePorts: Set<string> | undefined, allowFQDN: boolean): void {
  const addr = str(we.address);
  const addrPath = at(path, 'address');
  if (addr === '') {
    if (str(we.network) === '') return rep.error(addrPath, 'address is required');
    rep.warn(addrPath, `address is unset with network "${str(we.network)}"`);
  }
  const unix = addr.startsWith(UNIX_PREFIX);
  if (unix) {
    rep.check(addrPath, validateUnixAddress(addr.slice(UNIX_PREFIX.length)));
    if (entries(we.ports).length !== 0) rep.error(at(path, 'ports'), `unix endpoint ${addr} must not include ports`);
  } else if (addr !== '' && !isIPAddress(addr)) {
    if (!allowFQDN) rep.error(addrPath, `endpoint address "${addr}" is not a valid IP address`);
    else if (validateFQDN(addr)) rep.error(addrPath, `endpoint address "${addr}" is not a valid FQDN or an IP address`);
  }
  validateEndpointPorts(rep, at(path, 'ports'), we.ports, servicePorts);
  validateLabels(rep, at(path, 'labels'), we.labels);
  if (unix && servicePorts && servicePorts.size !== 1) rep.error(addrPath, 'exactly 1 service port required for unix endpoints');
}

/** `ports: {name: number}` of an endpoint: names known to the service, valid numbers. */
export function validateEndpointPorts(rep: Report, path: string, ports: unknown, servicePorts: Set<string> | undefined): void {
  for (const [name, port] of entries(ports)) {
    const p = key(path, name);
    if (servicePorts && !servicePorts.has(name)) rep.error(p, `endpoint port ${num(port)} is not defined by the service entry`);
    rep.check(p, validatePortName(name));
    rep.check(p, validatePort(num(port)));
  }
}

export function validateWorkloadEntryResource(rep: Report, r: ConfigResource): void {
  validateWorkloadEntry(rep, 'spec', r.spec, undefined, true);
}

export function validateWorkloadGroup(rep: Report, r: ConfigResource): void {
  const spec = r.spec;
  if (!has(spec.template)) return rep.error('spec.template', 'template is required');
  if (isObj(spec.metadata)) {
    const before = rep.errorCount;
    const sub = new Report();
    validateLabels(sub, 'spec.metadata.labels', spec.metadata.labels);
    for (const d of sub.diags) rep.error(d.path ?? 'spec.metadata.labels', `invalid labels: ${d.message}`);
    if (rep.errorCount > before) return;
  }
  validateProbe(rep, 'spec.probe', spec.probe);
}

function validateProbe(rep: Report, path: string, probe: unknown): void {
  if (!isObj(probe)) return;
  for (const f of ['periodSeconds', 'initialDelaySeconds', 'timeoutSeconds', 'successThreshold', 'failureThreshold']) {
    if (num(probe[f]) < 0) rep.error(at(path, f), `${f} must be non-negative`);
  }
  if (isObj(probe.httpGet)) {
    const h = probe.httpGet;
    const p = at(path, 'httpGet');
    rep.check(at(p, 'port'), validatePort(num(h.port)));
    const scheme = str(h.scheme);
    if (scheme !== '' && scheme !== 'HTTPS' && scheme !== 'HTTP') rep.error(at(p, 'scheme'), 'httpGet.scheme must be one of "HTTPS", "HTTP"');
    list<unknown>(h.httpHeaders).forEach((hd, i) => {
      const hp = at(at(p, 'httpHeaders'), i);
      if (!isObj(hd)) return rep.error(hp, 'invalid nil header');
      rep.check(at(hp, 'name'), validateProbeHeaderName(str(hd.name)));
    });
  } else if (isObj(probe.tcpSocket)) {
    rep.check(at(at(path, 'tcpSocket'), 'port'), validatePort(num(probe.tcpSocket.port)));
  } else if (isObj(probe.exec)) {
    if (list(probe.exec.command).length === 0) rep.error(at(at(path, 'exec'), 'command'), 'exec.command is required');
  } else if (!isObj(probe.grpc)) {
    rep.error(path, 'unknown health check method <nil>');
  }
}
