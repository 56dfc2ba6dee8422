/**
 * ServiceEntry (networking.istio.io): istiod's ValidateServiceEntry. Hosts (short names allowed,
 * `*` alone not, partial wildcards warned), addresses (IPs or CIDRs; CIDRs only without DNS),
 * unique port names and numbers, and what each resolution mode demands of hosts and endpoints
 * (NONE: no endpoints; STATIC: IP endpoints; DNS: FQDN hosts or endpoints; DNS_ROUND_ROBIN: at most
 * one endpoint; DYNAMIC_DNS: wildcard hosts, HTTP/TLS ports, no addresses or endpoints).
 */
import type { ConfigResource } from '../../config/resource.js';
import { validateExportTo } from './common.js';
import { isIPAddress, validateFQDN, validateIPSubnet, validatePartialWildcard, validateWildcardDomain } from './hosts.js';
import { validateAlphaWorkloadSelector, validateLabels } from './labels.js';
import { isHTTP, isTCP, isTLS, parseProtocol, validatePort, validatePortName, validateProtocol } from './ports.js';
import { at, has, isObj, list, num, str, type Report } from './report.js';
import { validateEndpointPorts, validateWorkloadEntry } from './workloadentry.js';

const AUTOALLOCATE_LABEL = 'networking.istio.io/enable-autoallocate-ip';
const USE_WAYPOINT_LABEL = 'istio.io/use-waypoint';

export function validateServiceEntry(rep: Report, r: ConfigResource): void {
  const spec = r.spec;
  const resolution = str(spec.resolution) || 'NONE';
  const hosts = list<unknown>(spec.hosts).map(str);
  const addresses = list<unknown>(spec.addresses).map(str);
  const endpoints = list<unknown>(spec.endpoints);
  const ports = list<unknown>(spec.ports);
  const before = rep.errorCount;
  const { empty } = validateAlphaWorkloadSelector(rep, 'spec.workloadSelector', spec.workloadSelector);
  if (rep.errorCount > before) return;
  if (empty) rep.warn('spec.workloadSelector', 'service entry: workload selector specified without labels, will be applied to all services in namespace');
  if (has(spec.workloadSelector) && has(spec.endpoints)) rep.error('spec', 'only one of WorkloadSelector or Endpoints is allowed in Service Entry');

  if (hosts.length === 0) rep.error('spec.hosts', 'service entry must have at least one host');
  hosts.forEach((h, i) => {
    const p = at('spec.hosts', i);
    if (h === '*') return rep.error(p, `invalid host ${h}`);
    rep.check(p, validateWildcardDomain(h));
    if (resolution !== 'DYNAMIC_DNS') {
      const partial = validatePartialWildcard(h);
      if (partial) rep.warn(p, partial);
    }
  });
  let cidr = false;
  addresses.forEach((a, i) => {
    cidr ||= a.includes('/');
    rep.check(at('spec.addresses', i), validateIPSubnet(a));
  });
  if (cidr && resolution !== 'NONE' && resolution !== 'STATIC') rep.error('spec.addresses', 'CIDR addresses are allowed only for NONE/STATIC resolution types');

  const labels = r.metadata.labels ?? {};
  const autoAllocate = resolution !== 'NONE' && String(labels[AUTOALLOCATE_LABEL] ?? '').toLowerCase() !== 'false' && addresses.length === 0;
  const numbers = new Set<number>();
  const names = new Set<string>();
  ports.forEach((port, i) => {
    const p = at('spec.ports', i);
    if (!isObj(port)) return rep.error(p, 'service entry port may not be null');
    const name = str(port.name);
    const number = num(port.number);
    if (names.has(name)) rep.error(at(p, 'name'), `service entry port name "${name}" already defined`);
    names.add(name);
    if (numbers.has(number)) rep.error(at(p, 'number'), `service entry port ${number} already defined`);
    numbers.add(number);
    if (num(port.targetPort) !== 0) rep.check(at(p, 'targetPort'), validatePort(num(port.targetPort)));
    const protocol = str(port.protocol);
    if (addresses.length === 0 && !autoAllocate && (protocol === '' || protocol === 'TCP')) {
      rep.warn(p, 'addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled');
    }
    rep.check(at(p, 'name'), validatePortName(name));
    rep.check(at(p, 'protocol'), validateProtocol(protocol));
    rep.check(at(p, 'number'), validatePort(number));
  });

  switch (resolution) {
    case 'NONE':
      if (endpoints.length !== 0) rep.error('spec.endpoints', 'no endpoints should be provided for resolution type none');
      if (has(spec.workloadSelector)) rep.warn('spec.workloadSelector', 'workloadSelector should not be set when resolution mode is NONE');
      break;
    case 'STATIC':
      endpoints.forEach((e, i) => {
        if (!isObj(e)) return rep.error(at('spec.endpoints', i), 'endpoint cannot be nil');
        validateWorkloadEntry(rep, at('spec.endpoints', i), e, names, false);
      });
      break;
    case 'DNS':
    case 'DNS_ROUND_ROBIN':
      if (endpoints.length === 0) {
        for (const [i, h] of hosts.entries()) {
          const err = validateFQDN(h);
          if (err) {
            rep.error(at('spec.hosts', i), `hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode ${resolution}, ${err}`);
            break;
          }
        }
      }
      if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) {
        rep.error('spec.endpoints', `there must only be 0 or 1 endpoint for resolution mode ${resolution}`);
      }
      endpoints.forEach((e, i) => {
        const p = at('spec.endpoints', i);
        if (!isObj(e)) return rep.error(p, 'endpoint cannot be nil');
        const addr = str(e.address);
        if (!isIPAddress(addr) && validateFQDN(addr)) rep.error(at(p, 'address'), `endpoint address "${addr}" is not a valid FQDN or an IP address`);
        validateLabels(rep, at(p, 'labels'), e.labels);
        validateEndpointPorts(rep, at(p, 'ports'), e.ports, names);
      });
      if (addresses.length > 0 && hosts.length > 1 && ports.some((p) => isObj(p) && isTCP(parseProtocol(str(p.protocol))))) {
        rep.warn('spec.hosts', 'service entry can not have more than one host specified simultaneously with address and tcp port');
      }
      break;
    case 'DYNAMIC_DNS':
      validateDynamicDNS(rep, r, hosts, addresses, endpoints, ports);
      break;
    default:
      rep.error('spec.resolution', `unsupported resolution type ${resolution}`);
  }
  if (resolution !== 'NONE' && hosts.length > 1) {
    const bad = ports.findIndex((p) => isObj(p) && !isHTTP(parseProtocol(str(p.protocol))) && !isTLS(parseProtocol(str(p.protocol))));
    if (bad >= 0) rep.error(at('spec.ports', bad), 'multiple hosts provided with non-HTTP, non-TLS ports');
  }
  validateExportTo(rep, 'spec.exportTo', r.namespace, spec.exportTo, true, false);
}

function validateDynamicDNS(rep: Report, r: ConfigResource, hosts: string[], addresses: string[], endpoints: unknown[], ports: unknown[]): void {
  const res = 'DYNAMIC_DNS';
  if (hosts.length === 0) rep.error('spec.hosts', `at least one wildcard host must be provided for resolution type ${res}`);
  hosts.forEach((h, i) => {
    if (!h.startsWith('*')) rep.error(at('spec.hosts', i), `host must be wildcarded for resolution mode ${res}`);
  });
  if (addresses.length) {
    rep.error('spec.addresses', `addresses cannot be set for resolution type ${res}. HTTP route domains will only be generatedfrom the hosts field values`);
  }
  if (endpoints.length) {
    rep.error('spec.endpoints', `endpoints cannot be set for resolution type ${res}. Destination IP address determined from hostsfield values`);
  }
  ports.forEach((p, i) => {
    if (!isObj(p)) return rep.error(at('spec.ports', i), 'port cannot be nil');
    const proto = parseProtocol(str(p.protocol));
    if (proto !== 'HTTP' && proto !== 'TLS' && proto !== 'GRPC' && proto !== 'HTTP2') {
      rep.error(at(at('spec.ports', i), 'protocol'), `only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type ${res}`);
    }
  });
  const location = str(r.spec.location) || 'MESH_EXTERNAL';
  const waypoint = String(r.metadata.labels?.[USE_WAYPOINT_LABEL] ?? '');
  if (location === 'MESH_INTERNAL' && waypoint !== '' && waypoint.toLowerCase() !== 'none') {
    rep.error('spec.location', `location MESH_INTERNAL with resolution type ${res} is not supported when using waypoints`);
  }
}
