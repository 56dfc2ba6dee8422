/**
 * AuthorizationPolicy and PeerAuthentication (security.istio.io): istiod's
 * ValidateAuthorizationPolicy and ValidatePeerAuthentication. Actions and what they require (CUSTOM
 * needs a provider and rules, DENY needs rules, only CUSTOM takes a provider), non-empty
 * `from`/`to`/`source`/`operation`, well-formed principals, service accounts, IP blocks, ports and
 * path templates, known condition keys with values, and the warning for a DENY rule built only from
 * HTTP attributes (it then denies every TCP connection). PeerAuthentication: port-level mTLS only
 * with a workload selector, on real ports.
 */
import type { ConfigResource } from '../../config/resource.js';
import { validatePolicyTargets } from './common.js';
import { validateWorkloadSelector } from './labels.js';
import { at, entries, has, isObj, key, list, str, type Obj, type Report } from './report.js';
import {
  checkEmptyValues, checkServiceAccounts, checkTrustDomainValues, checkValidPathTemplate, validateAttribute, validateIPs, validatePorts,
} from './authzvalues.js';

const MEANINGLESS = 'action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request';

/** Source fields in the order Istio checks them, with the name its messages use. */
const SOURCE_FIELDS: [field: string, label: string][] = [
  ['principals', 'Principals'], ['requestPrincipals', 'RequestPrincipals'], ['namespaces', 'Namespaces'], ['serviceAccounts', 'ServiceAccounts'],
  ['trustDomains', 'TrustDomains'], ['ipBlocks', 'IpBlocks'], ['remoteIpBlocks', 'RemoteIpBlocks'], ['notPrincipals', 'NotPrincipals'],
  ['notRequestPrincipals', 'NotRequestPrincipals'], ['notNamespaces', 'NotNamespaces'], ['notServiceAccounts', 'NotServiceAccounts'],
  ['notTrustDomains', 'NotTrustDomains'], ['notIpBlocks', 'NotIpBlocks'], ['notRemoteIpBlocks', 'NotRemoteIpBlocks'],
];
const OPERATION_FIELDS: [field: string, label: string][] = [
  ['ports', 'Ports'], ['methods', 'Methods'], ['paths', 'Paths'], ['hosts', 'Hosts'],
  ['notPorts', 'NotPorts'], ['notMethods', 'NotMethods'], ['notPaths', 'NotPaths'], ['notHosts', 'NotHosts'],
];
/** Source fields a CUSTOM (ext-authz) policy cannot use: they need the peer identity. */
const CUSTOM_UNSUPPORTED = ['namespaces', 'notNamespaces', 'serviceAccounts', 'notServiceAccounts', 'trustDomains', 'notTrustDomains', 'principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals'];
const CUSTOM_UNSUPPORTED_KEYS = ['source.namespace', 'source.serviceAccount', 'source.trustDomain', 'source.principal'];
/** Source fields that also work for TCP traffic (so a DENY rule using them does not block all TCP). */
const TCP_SOURCE_FIELDS = ['notPrincipals', 'principals', 'ipBlocks', 'notIpBlocks', 'namespaces', 'notNamespaces', 'remoteIpBlocks', 'notRemoteIpBlocks', 'serviceAccounts', 'notServiceAccounts'];

function strings(v: unknown): string[] {
  return list<unknown>(v).map((x) => (typeof x === 'string' ? x : String(x ?? '')));
}

export function validateAuthorizationPolicy(rep: Report, r: ConfigResource): void {
  const spec = r.spec;
  validatePolicyTargets(rep, spec);
  validateWorkloadSelector(rep, 'spec.selector', spec.selector);
  const action = str(spec.action) || 'ALLOW';
  const rules = list<unknown>(spec.rules);
  if (action === 'CUSTOM') {
    if (!has(spec.rules)) rep.error('spec.rules', `CUSTOM ${MEANINGLESS}`);
    else if (!isObj(spec.provider) || str(spec.provider.name) === '') rep.error('spec.provider', '`provider.name` must not be empty');
    rules.forEach((rule, i) => {
      if (!isObj(rule)) return;
      list<unknown>(rule.from).forEach((f, j) => {
        if (!isObj(f) || !isObj(f.source)) return;
        for (const field of CUSTOM_UNSUPPORTED) {
          if (list(f.source[field]).length) rep.error(at(at(at(at(at('spec.rules', i), 'from'), j), 'source'), field), `From.${field[0].toUpperCase()}${field.slice(1)} is currently not supported with CUSTOM action`);
        }
      });
      list<unknown>(rule.when).forEach((w, k) => {
        const p = at(at(at('spec.rules', i), 'when'), k);
        if (!isObj(w)) return rep.error(p, 'when field cannot be nil');
        const key = str(w.key);
        if (CUSTOM_UNSUPPORTED_KEYS.includes(key) || key.startsWith('request.auth.')) rep.error(at(p, 'key'), `${key} is currently not supported with CUSTOM action`);
      });
    });
  }
  if (has(spec.provider) && action !== 'CUSTOM') rep.error('spec.provider', `\`provider\` must not be with non CUSTOM action, found ${action}`);
  if (action === 'DENY' && !has(spec.rules)) rep.error('spec.rules', `DENY ${MEANINGLESS}`);
  rules.forEach((rule, i) => validateRule(rep, at('spec.rules', i), i, rule, action));
}

function validateRule(rep: Report, path: string, i: number, rule: unknown, action: string): void {
  if (!isObj(rule)) return rep.error(path, `\`rule\` must not be nil, found at rule ${i}`);
  if (has(rule.from) && list(rule.from).length === 0) rep.error(at(path, 'from'), `\`from\` must not be empty, found at rule ${i}`);
  let tcpInFrom = false;
  let tcpInTo = false;
  let fromExists = false;
  let toExists = false;
  list<unknown>(rule.from).forEach((f, j) => {
    const p = at(at(path, 'from'), j);
    if (!isObj(f)) return rep.error(p, `\`from\` must not be nil, found at rule ${i}`);
    if (!isObj(f.source)) return rep.error(at(p, 'source'), `\`from.source\` must not be nil, found at rule ${i}`);
    fromExists = true;
    const src = f.source;
    const sp = at(p, 'source');
    const n = (k: string) => list(src[k]).length;
    if (n('principals') + n('notPrincipals') + n('namespaces') + n('notNamespaces') > 0 && n('serviceAccounts') + n('notServiceAccounts') > 0) {
      rep.error(sp, `cannot set serviceAccounts with namespaces or principals, found at rule ${i}`);
    }
    if (SOURCE_FIELDS.every(([k]) => n(k) === 0)) rep.error(sp, `\`from.source\` must not be empty, found at rule ${i}`);
    for (const k of ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks']) for (const e of validateIPs(strings(src[k]))) rep.error(at(sp, k), e);
    for (const [k, label] of SOURCE_FIELDS) {
      const values = strings(src[k]);
      const check = k === 'serviceAccounts' || k === 'notServiceAccounts' ? checkServiceAccounts : k === 'trustDomains' || k === 'notTrustDomains' ? checkTrustDomainValues : checkEmptyValues;
      rep.check(at(sp, k), check(label, values));
    }
    if (TCP_SOURCE_FIELDS.some((k) => has(src[k]))) tcpInFrom = true;
  });
  if (has(rule.to) && list(rule.to).length === 0) rep.error(at(path, 'to'), `\`to\` must not be empty, found at rule ${i}`);
  list<unknown>(rule.to).forEach((t, j) => {
    const p = at(at(path, 'to'), j);
    if (!isObj(t)) return rep.error(p, `\`to\` must not be nil, found at rule ${i}`);
    if (!isObj(t.operation)) return rep.error(at(p, 'operation'), `\`to.operation\` must not be nil, found at rule ${i}`);
    toExists = true;
    const op = t.operation;
    const opp = at(p, 'operation');
    if (OPERATION_FIELDS.every(([k]) => list(op[k]).length === 0)) rep.error(opp, `\`to.operation\` must not be empty, found at rule ${i}`);
    for (const k of ['ports', 'notPorts']) for (const e of validatePorts(strings(op[k]))) rep.error(at(opp, k), e);
    for (const [k, label] of OPERATION_FIELDS) rep.check(at(opp, k), checkEmptyValues(label, strings(op[k])));
    rep.check(at(opp, 'paths'), checkValidPathTemplate('Paths', strings(op.paths)));
    rep.check(at(opp, 'notPaths'), checkValidPathTemplate('NotPaths', strings(op.notPaths)));
    if (has(op.ports) || has(op.notPorts)) tcpInTo = true;
  });
  list<unknown>(rule.when).forEach((w, k) => {
    const p = at(at(path, 'when'), k);
    const cond: Obj = isObj(w) ? w : {};
    const key = str(cond.key);
    if (key === '') return rep.error(at(p, 'key'), '`key` must not be empty');
    const values = strings(cond.values);
    const notValues = strings(cond.notValues);
    if (values.length === 0 && notValues.length === 0) return rep.error(p, `at least one of \`values\` or \`notValues\` must be set for key ${key}`);
    const ve = validateAttribute(key, values);
    if (ve) rep.error(at(p, 'values'), `invalid \`value\` for \`key\` ${key}: ${ve}`);
    const ne = validateAttribute(key, notValues);
    if (ne) rep.error(at(p, 'notValues'), `invalid \`notValue\` for \`key\` ${key}: ${ne}`);
  });
  if (((fromExists && !toExists && !tcpInFrom) || (toExists && !tcpInTo)) && action === 'DENY') {
    rep.warn(path, 'configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port');
  }
}

export function validatePeerAuthentication(rep: Report, r: ConfigResource): void {
  const spec = r.spec;
  const sel = spec.selector;
  const emptySelector = !isObj(sel) || entries(sel.matchLabels).length === 0;
  const ports = entries(spec.portLevelMtls);
  if (emptySelector && ports.length !== 0) rep.error('spec.portLevelMtls', 'mesh/namespace peer authentication cannot have port level mTLS');
  if (has(spec.portLevelMtls) && ports.length === 0) rep.error('spec.portLevelMtls', 'port level mTLS, if defined, must have at least one element');
  for (const [port] of ports) {
    const n = /^\d+$/.test(port) ? Number(port) : 0;
    if (n <= 0 || n > 65535) rep.error(key('spec.portLevelMtls', port), 'port must be in range 1..65535');
  }
  validateWorkloadSelector(rep, 'spec.selector', sel);
}
