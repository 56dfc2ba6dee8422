/**
 * RequestAuthentication (security.istio.io): istiod's ValidateRequestAuthentication. Each JWT rule
 * needs an issuer or a JWKS URI (http/https, with a numeric port), an inline JWKS that parses (each
 * key is loaded with node:crypto, which knows every key type JOSE does), non-empty audiences,
 * token locations and claim-to-header names, a whole-millisecond timeout — and a warning when an
 * inline JWKS carries private key material, which verification never needs.
 */
import { createPrivateKey, createPublicKey, createSecretKey, type JsonWebKey } from 'node:crypto';
import type { ConfigResource } from '../../config/resource.js';
import { validatePolicyTargets } from './common.js';
import { validateDuration } from './duration.js';
import { validateStrictHeaderName } from './headers.js';
import { validateWorkloadSelector } from './labels.js';
import { at, has, isObj, list, str, type Obj, type Report } from './report.js';

export function validateRequestAuthentication(rep: Report, r: ConfigResource): void {
  validatePolicyTargets(rep, r.spec);
  validateWorkloadSelector(rep, 'spec.selector', r.spec.selector);
  list<unknown>(r.spec.jwtRules).forEach((rule, i) => {
    if (isObj(rule)) validateJwtRule(rep, at('spec.jwtRules', i), rule);
  });
}

function validateJwtRule(rep: Report, path: string, rule: Obj): void {
  list<unknown>(rule.audiences).forEach((a, i) => {
    if (str(a) === '') rep.error(at(at(path, 'audiences'), i), 'audience must be non-empty string');
  });
  const issuer = str(rule.issuer);
  const jwksUriField = has(rule.jwksUri) ? 'jwksUri' : 'jwks_uri';
  const jwksUri = str(rule[jwksUriField]);
  if (issuer === '' && jwksUri === '') rep.error(path, 'issuer or jwksUri must be non-empty string');
  if (jwksUri !== '') rep.check(at(path, jwksUriField), parseJwksURI(jwksUri));
  const jwks = str(rule.jwks);
  if (jwks !== '') {
    const { error, privateKeys } = parseJwks(jwks);
    if (error) rep.error(at(path, 'jwks'), `jwks parse error: ${error}`);
    for (const i of privateKeys) rep.warn(at(path, 'jwks'), `jwks key at index ${i} contains private key material; only public keys are used for verification`);
  }
  list<unknown>(rule.fromHeaders).forEach((h, i) => {
    const p = at(at(path, 'fromHeaders'), i);
    if (!isObj(h)) return rep.error(p, 'location header name must be non-null');
    if (str(h.name) === '') rep.error(at(p, 'name'), 'location header name must be non-empty string');
  });
  list<unknown>(rule.fromParams).forEach((q, i) => {
    if (str(q) === '') rep.error(at(at(path, 'fromParams'), i), 'location query must be non-empty string');
  });
  list<unknown>(rule.fromCookies).forEach((c, i) => {
    if (str(c) === '') rep.error(at(at(path, 'fromCookies'), i), 'cookie name must be non-empty string');
  });
  list<unknown>(rule.outputClaimToHeaders).forEach((o, i) => {
    const p = at(at(path, 'outputClaimToHeaders'), i);
    if (!isObj(o)) return rep.error(p, 'outputClaimToHeaders must not be null');
    if (str(o.claim) === '' || str(o.header) === '') return rep.error(p, 'outputClaimToHeaders header and claim value must be non-empty string');
    rep.check(at(p, 'header'), validateStrictHeaderName(str(o.header)));
  });
  if (has(rule.timeout)) rep.check(at(path, 'timeout'), validateDuration(rule.timeout));
}

/** Istio's security.ParseJwksURI: an http(s) URL whose port, if any, is a number. */
function parseJwksURI(uri: string): string | undefined {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(uri);
  const scheme = m ? m[1].toLowerCase() : '';
  const hostPort = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(uri)?.[1] ?? '';
  const port = /:([^:\]]*)$/.exec(hostPort.replace(/^.*@/, ''))?.[1];
  if (port !== undefined && port !== '' && !/^\d+$/.test(port)) return `parse "${uri}": invalid port ":${port}" after host`;
  if (scheme !== 'http' && scheme !== 'https') return `URI scheme "${m ? m[1] : ''}" is not supported`;
  if (!URL.canParse(uri)) return `parse "${uri}": invalid URL`;
  return undefined;
}

const B64_MEMBERS = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi', 'x', 'y', 'k'];

/** Parses a JWK Set (or a single JWK), loading each key; reports which keys are private. */
export function parseJwks(text: string): { error?: string; privateKeys: number[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { error: `failed to unmarshal JWK set: ${(e as Error).message}`, privateKeys: [] };
  }
  if (!isObj(doc)) return { error: 'failed to unmarshal JWK set: not a JSON object', privateKeys: [] };
  const keys = Array.isArray(doc.keys) ? doc.keys : has(doc.kty) ? [doc] : undefined;
  if (!keys) return { error: 'failed to parse JWK set: neither "keys" nor "kty" present', privateKeys: [] };
  const privateKeys: number[] = [];
  for (const [i, key] of keys.entries()) {
    if (!isObj(key)) return { error: `failed to parse key at index ${i}: not a JSON object`, privateKeys };
    const kty = str(key.kty);
    // Node's decoder skips characters outside base64url; JOSE libraries (and istiod's) refuse them.
    const bad = B64_MEMBERS.find((m) => typeof key[m] === 'string' && !/^[A-Za-z0-9_-]*={0,2}$/.test(key[m] as string));
    if (bad) return { error: `failed to parse key at index ${i}: failed to decode "${bad}": illegal base64 data`, privateKeys };
    try {
      if (kty === 'oct') {
        createSecretKey(Buffer.from(str(key.k), 'base64url'));
        privateKeys.push(i);
      } else if (kty === 'RSA' || kty === 'EC' || kty === 'OKP') {
        if (has(key.d)) {
          createPrivateKey({ key: key as JsonWebKey, format: 'jwk' });
          privateKeys.push(i);
        } else {
          createPublicKey({ key: key as JsonWebKey, format: 'jwk' });
        }
      } else {
        return { error: `failed to parse key at index ${i}: invalid key type from JSON (${kty})`, privateKeys };
      }
    } catch (e) {
      return { error: `failed to parse key at index ${i}: ${(e as Error).message}`, privateKeys };
    }
  }
  return { privateKeys };
}
