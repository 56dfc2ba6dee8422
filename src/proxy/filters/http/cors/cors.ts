/**
 * envoy.filters.http.cors: CORS policies (envoy.extensions.filters.http.cors.v3.CorsPolicy) arrive
 * as typed_per_filter_config on a route or virtual host (the most specific wins) — this is how
 * Istio's VirtualService corsPolicy arrives. For a request whose Origin the policy allows:
 *   - a preflight (OPTIONS with Access-Control-Request-Method) is answered here, 200 with
 *     access-control-allow-{origin,credentials,methods,headers,max-age} (and -private-network when
 *     asked and allowed), never reaching the upstream;
 *   - any other request goes on, and its response gets access-control-allow-origin,
 *     -allow-credentials and -expose-headers.
 * A preflight from an origin the policy does not allow is forwarded upstream
 * (forward_not_matching_preflights, default true) or answered 200 without CORS headers. With no
 * policy, or filter_enabled off, the filter does nothing.
 */
import { Fields } from '../../../config/fields.js';
import { compileStringMatcher, type StringPredicate } from '../../../matchers/string-matcher.js';
import type { Headers } from '../../../http/headers.js';
import { registerHttpFilter } from '../registry.js';

const CORS_POLICY = 'envoy.extensions.filters.http.cors.v3.CorsPolicy';

interface CorsPolicy {
  origins: StringPredicate[];
  allowMethods: string;
  allowHeaders: string;
  exposeHeaders: string;
  maxAge: string;
  allowCredentials: boolean;
  allowPrivateNetwork: boolean;
  forwardNotMatchingPreflights: boolean;
  /** filter_enabled's default value as a probability (1 = always). */
  enabled: number;
}

/** envoy.config.core.v3.RuntimeFractionalPercent → probability (default_value only; Spar has no runtime overrides for it). */
function runtimeFraction(f: Fields | undefined): number {
  if (!f) return 1;
  f.str('runtime_key');
  const d = f.opt('default_value');
  let p = 1;
  if (d) {
    const n = d.num('numerator');
    const den = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 }[d.enumOf('denominator', ['HUNDRED', 'TEN_THOUSAND', 'MILLION'] as const, 'HUNDRED')];
    d.done();
    p = Math.min(n, den) / den;
  }
  f.done();
  return p;
}

export function compileCorsPolicy(f: Fields): CorsPolicy {
  const p: CorsPolicy = {
    origins: f.list('allow_origin_string_match').map(compileStringMatcher),
    allowMethods: f.str('allow_methods'),
    allowHeaders: f.str('allow_headers'),
    exposeHeaders: f.str('expose_headers'),
    maxAge: f.str('max_age'),
    // google.protobuf.BoolValue wrappers are bare booleans in the JSON form.
    allowCredentials: f.bool('allow_credentials'),
    allowPrivateNetwork: f.bool('allow_private_network_access'),
    forwardNotMatchingPreflights: f.bool('forward_not_matching_preflights', true),
    enabled: runtimeFraction(f.opt('filter_enabled')),
  };
  runtimeFraction(f.opt('shadow_enabled')); // shadow mode only counts in stats; Spar evaluates nothing for it
  f.done();
  return p;
}

function originAllowed(p: CorsPolicy, origin: string): boolean {
  for (const m of p.origins) if (m(origin) || m('*')) return true;
  return false;
}

/** Per-stream state the response side needs: the allowed origin and its policy. */
const CORS_STATE = Symbol('spar.cors');
type WithCors = { [CORS_STATE]?: { origin: string; policy: CorsPolicy } };

registerHttpFilter('envoy.extensions.filters.http.cors.v3.Cors', (cfg) => {
  cfg.done();
  return {
    onRequestHeaders(h, si, reply, perRoute) {
      const p = perRoute as CorsPolicy | undefined;
      if (!p) return true;
      const origin = h.origin;
      if (typeof origin !== 'string' || origin === '') return true;
      if (p.enabled < 1 && Math.random() >= p.enabled) return true;
      const preflight = h[':method'] === 'OPTIONS' && typeof h['access-control-request-method'] === 'string' && h['access-control-request-method'] !== '';
      const allowed = originAllowed(p, origin);
      if (!allowed && (!preflight || p.forwardNotMatchingPreflights)) return true;
      if (preflight) {
        // Answered here. An origin the policy does not allow gets the policy's methods, headers and
        // max age but no allow-origin (so the browser refuses), as Envoy answers it.
        const out: Headers = {};
        if (allowed) {
          out['access-control-allow-origin'] = origin;
          if (p.allowCredentials) out['access-control-allow-credentials'] = 'true';
        }
        if (p.allowMethods) out['access-control-allow-methods'] = p.allowMethods;
        if (p.allowHeaders) out['access-control-allow-headers'] = p.allowHeaders;
        if (p.maxAge) out['access-control-max-age'] = p.maxAge;
        if (allowed && p.allowPrivateNetwork && h['access-control-request-private-network'] === 'true') out['access-control-allow-private-network'] = 'true';
        if (allowed && p.exposeHeaders) out['access-control-expose-headers'] = p.exposeHeaders;
        reply(200, '', undefined, undefined, { details: 'cors_response', headers: out });
        return false;
      }
      (si as unknown as WithCors)[CORS_STATE] = { origin, policy: p };
      return true;
    },
    onResponseHeaders(_status, rh, si) {
      const st = (si as unknown as WithCors)[CORS_STATE];
      if (!st) return;
      rh['access-control-allow-origin'] = st.origin;
      if (st.policy.allowCredentials) rh['access-control-allow-credentials'] = 'true';
      if (st.policy.exposeHeaders) rh['access-control-expose-headers'] = st.policy.exposeHeaders;
    },
  };
}, { [CORS_POLICY]: compileCorsPolicy });
