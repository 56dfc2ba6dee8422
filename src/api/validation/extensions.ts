/**
 * WasmPlugin and TrafficExtension (extensions.istio.io): istiod's ValidateWasmPlugin and
 * ValidateTrafficExtension. A module URL with a supported scheme (file, http, https, oci), a
 * sha256 of 64 hex digits, bounded names, unique VM environment variables whose values are only
 * given inline, match ports in range; a TrafficExtension is exactly one of wasm or lua.
 */
import type { ConfigResource } from '../../config/resource.js';
import { validatePolicyTargets } from './common.js';
import { validateWorkloadSelector } from './labels.js';
import { at, has, isObj, list, num, str, type Obj, type Report } from './report.js';

const SCHEMES = new Set(['', 'file', 'http', 'https', 'oci']);

export function validateWasmPlugin(rep: Report, r: ConfigResource): void {
  validatePolicyTargets(rep, r.spec);
  validateWorkloadSelector(rep, 'spec.selector', r.spec.selector);
  validateWasmConfig(rep, 'spec', r.spec, 255);
  validateMatch(rep, 'spec.match', r.spec.match);
}

export function validateTrafficExtension(rep: Report, r: ConfigResource): void {
  const spec = r.spec;
  if (has(spec.wasm) === has(spec.lua)) rep.error('spec', 'exactly one of wasm or lua must be set');
  validatePolicyTargets(rep, spec);
  validateWorkloadSelector(rep, 'spec.selector', spec.selector);
  if (has(spec.lua)) {
    const code = isObj(spec.lua) ? str(spec.lua.inlineCode) : '';
    const p = 'spec.lua.inlineCode';
    if (!isObj(spec.lua)) rep.error('spec.lua', 'lua config cannot be nil');
    else if (code.length === 0) rep.error(p, 'lua.inlineCode cannot be empty');
    else if (code.length > 65536) rep.error(p, 'lua.inlineCode exceeds maximum size of 64KB');
  }
  if (isObj(spec.wasm)) validateWasmConfig(rep, 'spec.wasm', spec.wasm, 256);
  validateMatch(rep, 'spec.match', spec.match);
}

function validateWasmConfig(rep: Report, path: string, w: Obj, nameLimitText: number): void {
  rep.check(at(path, 'url'), validateURL(str(w.url)));
  const sha = str(w.sha256);
  if (sha !== '') {
    if (sha.length !== 64) rep.error(at(path, 'sha256'), 'sha256 field must be 64 characters long');
    else if (!/^[a-f0-9]{64}$/.test(sha)) rep.error(at(path, 'sha256'), 'sha256 field must match [a-f0-9]{64} pattern');
  }
  if (str(w.imagePullSecret).length > 253) rep.error(at(path, 'imagePullSecret'), 'imagePullSecret field must be less than 253 characters long');
  if (str(w.pluginName).length > 256) rep.error(at(path, 'pluginName'), `pluginName field must be less than ${nameLimitText} characters long`);
  validateVmConfig(rep, at(path, 'vmConfig'), w.vmConfig);
}

/** Istio's strictParseURL plus the scheme check (a bare `host/path` is read as http). */
function validateURL(u: string): string | undefined {
  if (u === '') return 'url field needs to be set';
  const badEscape = /%(?![0-9a-fA-F]{2})(.{0,2})/.exec(u);
  if (badEscape) return `failed to parse url: parse "${u}": invalid URL escape "%${badEscape[1]}"`;
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(u);
  const scheme = m && !/^\d+$/.test(u.slice(m[0].length).split('/')[0]) ? m[1].toLowerCase() : '';
  if (!SCHEMES.has(scheme)) return `url contains unsupported scheme: ${scheme}`;
  return undefined;
}

function validateVmConfig(rep: Report, path: string, vm: unknown): void {
  if (!isObj(vm)) return;
  const seen = new Set<string>();
  for (const [i, env] of list<unknown>(vm.env).entries()) {
    if (!isObj(env)) continue;
    const p = at(at(path, 'env'), i);
    const name = str(env.name);
    if (name === '') return rep.error(at(p, 'name'), 'spec.vmConfig.env invalid');
    if (name.length > 256) return rep.error(at(p, 'name'), 'env.name field must be less than 255 characters long');
    if (seen.has(name)) return rep.error(at(p, 'name'), 'duplicate env');
    seen.add(name);
    if ((str(env.valueFrom) || 'INLINE') !== 'INLINE' && str(env.value) !== '') return rep.error(at(p, 'value'), 'value may only be set when valueFrom is INLINE');
  }
}

function validateMatch(rep: Report, path: string, match: unknown): void {
  for (const [i, sel] of list<unknown>(match).entries()) {
    if (!isObj(sel)) return rep.error(at(path, i), `spec.Match[${i}] is nil`);
    for (const [j, port] of list<unknown>(sel.ports).entries()) {
      const p = at(at(at(path, i), 'ports'), j);
      if (!isObj(port)) return rep.error(p, `spec.Match[${i}].Ports[${j}] is nil`);
      const n = num(port.number);
      if (n <= 0 || n > 65535) return rep.error(at(p, 'number'), `spec.Match[${i}].Ports[${j}] is out of range: ${n}`);
    }
  }
}
