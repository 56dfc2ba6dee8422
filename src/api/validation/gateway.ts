/**
 * Gateway (networking.istio.io): istiod's ValidateGateway. Servers need hosts (`host`,
 * `namespace/host`, no short names or partial wildcards), a valid port with a known protocol and
 * a unique name, a bind address that is an IP or a unix socket (then port 0), and TLS settings that
 * fit the protocol: required for HTTPS/TLS, forbidden on plain HTTP except `httpsRedirect`.
 */
import type { ConfigResource } from '../../config/resource.js';
import { isDNS1123Label, validateNamespaceSlashWildcardHostname, isIPAddress } from './hosts.js';
import { isHTTP, isTLS, parseProtocol, validatePort } from './ports.js';
import { at, has, isObj, list, num, str, type Obj, type Report } from './report.js';
import { serverTlsMode, validateServerTLS } from './tls.js';

export const UNIX_PREFIX = 'unix://';
const GATEWAY_SEMANTICS = 'internal.istio.io/gateway-semantics';

/** Istio's ValidateUnixAddress (the part after `unix://`). */
export function validateUnixAddress(addr: string): string | undefined {
  if (addr.length === 0) return 'unix address must not be empty';
  if (addr.startsWith('@')) return undefined;
  if (!addr.startsWith('/') || addr.endsWith('/')) return `${addr} is not an absolute path to a file`;
  return undefined;
}

export function validateGateway(rep: Report, r: ConfigResource): void {
  const gatewaySemantics = r.metadata.annotations?.[GATEWAY_SEMANTICS] === 'gateway';
  if (!isDNS1123Label(r.name) && !gatewaySemantics) rep.error('metadata.name', `invalid gateway name: "${r.name}"`);
  const servers = list<unknown>(r.spec.servers);
  if (servers.length === 0) rep.error('spec.servers', 'gateway must have at least one server');
  servers.forEach((s, i) => validateServer(rep, at('spec.servers', i), s, gatewaySemantics));

  const portNames = new Set<string>();
  servers.forEach((s, i) => {
    if (!isObj(s) || !isObj(s.port)) return;
    const p = at('spec.servers', i);
    const name = str(s.port.name);
    if (portNames.has(name)) rep.error(at(at(p, 'port'), 'name'), `port names in servers must be unique: duplicate name ${name}`);
    portNames.add(name);
    if (!isHTTP(parseProtocol(str(s.port.protocol))) && isObj(s.tls) && s.tls.httpsRedirect === true) {
      rep.warn(at(at(p, 'tls'), 'httpsRedirect'), 'tls.httpsRedirect should only be used with http servers');
    }
  });
}

function validateServer(rep: Report, path: string, server: unknown, gatewaySemantics: boolean): void {
  if (!isObj(server)) {
    rep.error(path, 'cannot have nil server');
    return;
  }
  const hosts = list<unknown>(server.hosts);
  if (hosts.length === 0) rep.error(at(path, 'hosts'), 'server config must contain at least one host');
  hosts.forEach((h, i) => {
    for (const e of validateNamespaceSlashWildcardHostname(str(h), true, gatewaySemantics)) rep.error(at(at(path, 'hosts'), i), e);
  });
  const bind = str(server.bind);
  const portOk = validateServerPort(rep, at(path, 'port'), server.port, bind);
  validateServerBind(rep, path, server.port, bind);
  validateServerTLS(rep, at(path, 'tls'), server.tls);
  if (portOk && isObj(server.port)) {
    const proto = parseProtocol(str(server.port.protocol));
    const tls = server.tls;
    if (isTLS(proto) && !has(tls)) {
      rep.error(at(path, 'tls'), 'server must have TLS settings for HTTPS/TLS protocols');
    } else if (!isTLS(proto) && isObj(tls)) {
      if (isHTTP(proto)) {
        const passthrough = ['PASSTHROUGH', 'AUTO_PASSTHROUGH'].includes(serverTlsMode(tls));
        if (!passthrough || str(tls.caCertificates) || str(tls.privateKey) || str(tls.serverCertificate)) {
          rep.error(at(path, 'tls'), 'server cannot have TLS settings for plain text HTTP ports');
        }
      } else {
        rep.error(at(path, 'tls'), 'server cannot have TLS settings for non HTTPS/TLS ports');
      }
    }
  }
}

/** Returns true when the port had no errors (the TLS/protocol checks need a sound port). */
function validateServerPort(rep: Report, path: string, port: unknown, bind: string): boolean {
  if (!isObj(port)) {
    rep.error(path, 'port is required');
    return false;
  }
  const before = rep.errorCount;
  const protocol = str(port.protocol);
  if (parseProtocol(protocol) === 'Unsupported') {
    rep.error(at(path, 'protocol'), `invalid protocol "${protocol}", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP`);
  }
  const number = num(port.number);
  if (number > 0 || !bind.startsWith(UNIX_PREFIX)) rep.check(at(path, 'number'), validatePort(number));
  if (num(port.targetPort) > 0) rep.error(at(path, 'targetPort'), 'targetPort has no impact on Gateways');
  if (str(port.name) === '') rep.error(at(path, 'name'), `port name must be set: ${portText(port)}`);
  return rep.errorCount === before;
}

function portText(port: Obj): string {
  const parts = [`number:${num(port.number)}`];
  if (str(port.protocol)) parts.push(`protocol:"${str(port.protocol)}"`);
  if (str(port.name)) parts.push(`name:"${str(port.name)}"`);
  return parts.join(' ');
}

function validateServerBind(rep: Report, path: string, port: unknown, bind: string): void {
  const p = at(path, 'bind');
  if (bind.startsWith(UNIX_PREFIX)) {
    rep.check(p, validateUnixAddress(bind.slice(UNIX_PREFIX.length)));
    if (isObj(port) && num(port.number) !== 0) rep.error(at(at(path, 'port'), 'number'), `port number must be 0 for unix domain socket: ${portText(port)}`);
  } else if (bind.length !== 0 && !isIPAddress(bind)) {
    rep.error(p, `${bind} is not a valid IP`);
  }
}
