/**
 * VALIDATION-RULES.md A.5 AuthorizationPolicy and A.6 RequestAuthentication / PeerAuthentication
 * as table rows (R10, which needs a freshly generated private key, is built in the test itself).
 */
import type { Row } from './webhook-rules-table.js';

const ap = (id: string, spec: Record<string, unknown>, expect: Row['expect'], reason?: string | string[], extra: Partial<Row> = {}): Row =>
  ({ id, kind: 'AuthorizationPolicy', spec, expect, reason, ...extra });
const ra = (id: string, spec: Record<string, unknown>, expect: Row['expect'], reason?: string | string[], extra: Partial<Row> = {}): Row =>
  ({ id, kind: 'RequestAuthentication', spec, expect, reason, ...extra });
const pa = (id: string, spec: Record<string, unknown>, expect: Row['expect'], reason?: string | string[], extra: Partial<Row> = {}): Row =>
  ({ id, kind: 'PeerAuthentication', spec, expect, reason, ...extra });
const sel = { matchLabels: { app: 'httpbin' } };
const from = (source: Record<string, unknown>) => ({ rules: [{ from: [{ source }] }] });
const to = (operation: Record<string, unknown>) => ({ rules: [{ to: [{ operation }] }] });
const jwt = (rule: Record<string, unknown>) => ({ jwtRules: [{ issuer: 'foo.com', ...rule }] });
const MEANINGLESS = 'action without `rules` is meaningless as it will never be triggered';

export const SECURITY_ROWS: Row[] = [
  // A.5 AuthorizationPolicy
  ap('A1', { selector: sel, ...from({ serviceAccounts: ['ns1/sa1'], namespaces: ['ns'] }) }, 'REJECT',
    ['cannot set serviceAccounts with namespaces or principals, found at rule 0', 'Cannot set serviceAccounts with namespaces or principals'], { path: 'spec.rules[0].from[0].source' }),
  ap('A2', { action: 'CUSTOM', provider: { name: '' }, rules: [{}] }, 'REJECT', '`provider.name` must not be empty', { path: 'spec.provider' }),
  ap('A3', { action: 'CUSTOM', provider: { name: 'ext' } }, 'REJECT', `CUSTOM ${MEANINGLESS}`),
  ap('A3b', { action: 'CUSTOM', provider: { name: 'ext' }, ...from({ namespaces: ['ns'] }) }, 'REJECT', 'From.Namespaces is currently not supported with CUSTOM action'),
  ap('A4', { action: 'ALLOW', provider: { name: 'ext' }, rules: [{}] }, 'REJECT', '`provider` must not be with non CUSTOM action, found ALLOW'),
  ap('A5', { action: 'DENY' }, 'REJECT', `DENY ${MEANINGLESS}`),
  ap('A6', {}, 'CLEAN'),
  ap('A7', { selector: { matchLabels: { app: 'httpbin-*' } } }, 'REJECT', ['wildcard is not supported in selector: "app=httpbin-*"', 'wildcard not allowed in label value match']),
  ap('A7b', { selector: { matchLabels: { 'app-*': 'httpbin' } } }, 'REJECT', ['wildcard is not supported in selector: "app-*=httpbin"', 'wildcard not allowed in label key match']),
  ap('A8', { selector: { matchLabels: { '': 'x' } } }, 'REJECT', ['empty key is not supported in selector: "=x"', 'key must not be empty']),
  ap('A9', { selector: {} }, 'WARN', 'workload selector specified without labels', { path: 'spec.selector' }),
  ap('A10', { rules: [{ from: [] }] }, 'REJECT', '`from` must not be empty, found at rule 0', { path: 'spec.rules[0].from' }),
  ap('A11', { rules: [{ from: [{ source: {} }] }] }, 'REJECT', '`from.source` must not be empty, found at rule 0'),
  ap('A11b', { rules: [{ from: [{}] }] }, 'REJECT', '`from.source` must not be nil, found at rule 0'),
  ap('A12', { rules: [{ to: [{ operation: {} }] }] }, 'REJECT', '`to.operation` must not be empty, found at rule 0'),
  ap('A13a', from({ principals: ['p1', ''] }), 'REJECT', 'empty value not allowed, found in Principals', { path: 'spec.rules[0].from[0].source.principals' }),
  ap('A13b', from({ notPrincipals: ['p1', ''] }), 'REJECT', 'empty value not allowed, found in NotPrincipals'),
  ap('A13c', from({ requestPrincipals: ['p1', ''] }), 'REJECT', 'empty value not allowed, found in RequestPrincipals'),
  ap('A13d', from({ namespaces: ['ns', ''] }), 'REJECT', 'empty value not allowed, found in Namespaces'),
  ap('A13e', from({ ipBlocks: ['1.2.3.4', ''] }), 'REJECT', 'empty value not allowed, found in IpBlocks'),
  ap('A13f', to({ hosts: ['a.com', ''] }), 'REJECT', 'empty value not allowed, found in Hosts'),
  ap('A13g', to({ ports: ['80', ''] }), 'REJECT', 'empty value not allowed, found in Ports'),
  ap('A13h', to({ methods: ['GET', ''] }), 'REJECT', 'empty value not allowed, found in Methods'),
  ap('A13i', to({ paths: ['/a', ''] }), 'REJECT', 'empty value not allowed, found in Paths'),
  ap('A14', from({ ipBlocks: ['1.2.3.4', 'ip1'] }), 'REJECT', 'bad IP address (ip1)', { path: 'spec.rules[0].from[0].source.ipBlocks' }),
  ap('A14b', to({ ports: ['80', 'port1'] }), 'REJECT', 'bad port (port1)'),
  ap('A15', { rules: [{ when: [{ key: 'source.ip', values: ['a.b.c.d'] }] }] }, 'REJECT', 'invalid `value` for `key` source.ip: bad IP address (a.b.c.d)', { path: 'spec.rules[0].when[0].values' }),
  ap('A16', { rules: [{ when: [{ key: 'key1', values: ['v1'] }] }] }, 'REJECT', 'unknown attribute: key1'),
  ap('A17', { rules: [{ when: [{ key: 'request.headers[x-token]' }] }] }, 'REJECT', 'at least one of `values` or `notValues` must be set for key request.headers[x-token]'),
  ap('A18', { action: 'DENY', ...from({ requestPrincipals: ['example.com/sub-1'] }) }, 'WARN',
    'configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port'),
  ap('A19', { action: 'DENY', rules: [{ from: [{ source: { requestPrincipals: ['example.com/sub-1'] } }], to: [{ operation: { ports: ['8080'], methods: ['GET', 'DELETE'] } }] }] }, 'CLEAN'),
  ap('A20', { selector: sel, targetRef: { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'gw' } }, 'REJECT',
    ['only one of targetRefs or workloadSelector can be set', 'only one of targetRefs or selector can be set']),
  ap('A21', {}, 'REJECT', 'has annotation istio.io/dry-run with invalid value (invalid)', { metadata: { name: 'r1', annotations: { 'istio.io/dry-run': 'invalid' } } }),
  ap('A21b', { action: 'CUSTOM', provider: { name: 'ext' }, rules: [{}] }, 'REJECT', 'the annotation istio.io/dry-run currently only supports action ALLOW/DENY, found action CUSTOM',
    { metadata: { name: 'r1', annotations: { 'istio.io/dry-run': 'true' } } }),
  ap('A21c', {}, 'CLEAN', undefined, { metadata: { name: 'r1', annotations: { 'istio.io/dry-run': 'true' } } }),
  ap('A21d', { action: 'AUDIT', rules: [{}] }, 'REJECT', 'the annotation istio.io/dry-run currently only supports action ALLOW/DENY, found action AUDIT',
    { metadata: { name: 'r1', annotations: { 'istio.io/dry-run': 'true' } } }),
  ap('A21e', { action: 'AUDIT', rules: [{ to: [{ operation: { paths: ['/admin/*'] } }] }] }, 'CLEAN'),

  // A.6 RequestAuthentication
  ra('R1', {}, 'CLEAN'),
  ra('R2', { jwtRules: [{}] }, 'REJECT', 'issuer or jwksUri must be non-empty string', { path: 'spec.jwtRules[0]' }),
  ra('R3', jwt({ jwksUri: 'foo.com' }), 'REJECT', ['URI scheme "" is not supported', 'url must have scheme']),
  ra('R4', jwt({ jwksUri: 'https://foo.com:not-a-number' }), 'REJECT', ['invalid port ":not-a-number" after host', 'url must have scheme', 'invalid port']),
  ra('R5', jwt({ jwks: 'foo' }), 'REJECT', 'jwks parse error', { path: 'spec.jwtRules[0].jwks' }),
  ra('R6', jwt({ fromHeaders: [{ name: '', prefix: 'Bearer ' }] }), 'REJECT', ['location header name must be non-empty string', 'should be at least 1 chars long']),
  ra('R7a', jwt({ fromParams: [''] }), 'REJECT', ['location query must be non-empty string', 'should be at least 1 chars long']),
  ra('R7b', jwt({ fromCookies: [''] }), 'REJECT', ['cookie name must be non-empty string', 'should be at least 1 chars long']),
  ra('R8', jwt({ outputClaimToHeaders: [{ header: '', claim: 'sub' }] }), 'REJECT',
    ['outputClaimToHeaders header and claim value must be non-empty string', 'should be at least 1 chars long', 'header in body should match']),
  ra('R9', jwt({ audiences: [''] }), 'REJECT', ['audience must be non-empty string', 'should be at least 1 chars long']),

  // A.6 PeerAuthentication
  pa('P1', {}, 'CLEAN'),
  pa('P2', { selector: sel, portLevelMtls: {} }, 'REJECT', ['port level mTLS, if defined, must have at least one element', 'should have at least 1 properties']),
  pa('P3', { portLevelMtls: { 8080: { mode: 'UNSET' } } }, 'REJECT', ['mesh/namespace peer authentication cannot have port level mTLS', 'portLevelMtls requires selector']),
  pa('P4', { selector: sel, portLevelMtls: { 0: { mode: 'STRICT' } } }, 'REJECT', ['port must be in range 1..65535', 'port must be between 1-65535']),
  pa('P5', { mtls: { mode: 'MANDATORY' } }, 'REJECT', ['Unsupported value: "MANDATORY"', 'unknown value "MANDATORY"'], { schemaOnly: true }),
];
