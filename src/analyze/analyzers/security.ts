/**
 * Security policy analyzers (Istio's analyzers/authz, authn and virtualservice/jwtclaimroute):
 * AuthorizationPolicies that select no workload in the mesh (IST0127) and rules naming namespaces
 * that do not exist (IST0101); routing on JWT claims at a gateway no RequestAuthentication covers
 * (IST0149); istiod fetching JWKS from any address (IST0175).
 */
import { register } from '../analyzer.js';
import { selectorMatches, selectorString, type Labels } from '../hosts.js';
import { MSG, fullName, message } from '../messages.js';
import type { PodInfo, Snapshot } from '../snapshot.js';
import { arr, labelsOf, obj, str, strings } from '../values.js';

/**
 * Istio's PodInMesh (or ambient): a proxy container, the inject label or annotation, or an
 * injection-enabled namespace. A workload template standing in for pods in a namespace the input
 * does not describe is taken to be in the mesh: the files say nothing either way.
 */
function inMesh(p: PodInfo, s: Snapshot): boolean {
  if (p.annotations['ambient.istio.io/redirection'] === 'enabled') return true;
  if (p.containers.some((c) => str(c.name) === 'istio-proxy' && str(c.image) !== '')) return true;
  const inj = p.labels['sidecar.istio.io/inject'] ?? p.annotations['sidecar.istio.io/inject'];
  if (inj !== undefined) return inj === 'true';
  const ns = s.namespace(p.namespace);
  if (ns) return labelsOf(ns.metadata.labels)['istio-injection'] === 'enabled';
  return p.resource.kind !== 'Pod';
}

function namespaceMatch(ns: string, exp: string): boolean {
  if (exp === '*') return true;
  if (exp.startsWith('*')) return ns.endsWith(exp.slice(1));
  if (exp.endsWith('*')) return ns.startsWith(exp.slice(0, -1));
  return ns.toLowerCase() === exp.toLowerCase();
}

register({
  name: 'auth.AuthorizationPoliciesAnalyzer',
  description: 'Checks the validity of authorization policies',
  inputs: ['MeshConfig', 'AuthorizationPolicy', 'Namespace', 'Pod'],
  emits: [MSG.NoMatchingWorkloadsFound, MSG.ReferencedResourceNotFound],
  needs: { pods: true },
  analyze({ snapshot, report }) {
    const root = str(snapshot.meshConfig.rootNamespace) || 'istio-system';
    const byNs = new Map<string, Labels[]>();
    for (const p of snapshot.pods) {
      if (!byNs.has(p.namespace)) byNs.set(p.namespace, []);
      if (inMesh(p, snapshot)) byNs.get(p.namespace)!.push(p.labels);
    }
    // Namespaces the input shows to exist: declared ones, and those resources live in.
    const namespaces = [...new Set([...snapshot.of('Namespace').map((n) => n.name), ...snapshot.resources.filter((r) => r.source).map((r) => r.namespace)])].filter(Boolean);
    for (const ap of snapshot.of('AuthorizationPolicy')) {
      const hasSelector = ap.spec.selector != null;
      const selector = labelsOf(obj(ap.spec.selector).matchLabels);
      const sel = selectorString(selector);
      if (ap.namespace === root) {
        if (hasSelector && ![...byNs.values()].some((list) => list.some((l) => selectorMatches(selector, l)))) {
          report(message(MSG.NoMatchingWorkloadsFound, ap, [sel], ['spec', 'selector']));
        }
      } else if (!hasSelector) {
        if ((byNs.get(ap.namespace) ?? []).length === 0) report(message(MSG.NoMatchingWorkloadsFound, ap, ['']));
      } else if (!(byNs.get(ap.namespace) ?? []).some((l) => selectorMatches(selector, l))) {
        report(message(MSG.NoMatchingWorkloadsFound, ap, [sel], ['spec', 'selector']));
      }
      arr(ap.spec.rules).forEach((rule, i) => {
        arr(obj(rule).from).forEach((from, j) => {
          const src = obj(obj(from).source);
          for (const field of ['namespaces', 'notNamespaces']) {
            strings(src[field]).forEach((ns, k) => {
              if (namespaces.some((n) => namespaceMatch(n, ns))) return;
              report(message(MSG.ReferencedResourceNotFound, ap, ['namespace', ns], ['spec', 'rules', i, 'from', j, 'source', field, k]));
            });
          }
        });
      });
    }
  },
});

/** The first header key (in `headers` or `withoutHeaders`) that routes on a JWT claim (`@request.auth.claims.groups`). */
function claimRouteKey(vs: { spec: Record<string, unknown> }): string {
  const isClaim = (k: string) => {
    if (!k.toLowerCase().startsWith('@request.auth.claims')) return false;
    const rest = k.slice('@request.auth.claims'.length);
    return (rest.startsWith('.') && rest.length > 1) || (rest.startsWith('[') && rest.endsWith(']') && rest.length > 2);
  };
  for (const h of arr(vs.spec.http)) {
    for (const m of arr(obj(h).match).map(obj)) {
      for (const k of [...Object.keys(obj(m.headers)), ...Object.keys(obj(m.withoutHeaders))]) if (isClaim(k)) return k;
    }
  }
  return '';
}

register({
  name: 'virtualservice.JWTClaimRouteAnalyzer',
  description: 'Checks the VirtualService using JWT claim based routing has corresponding RequestAuthentication',
  inputs: ['VirtualService', 'RequestAuthentication', 'Gateway', 'Pod'],
  emits: [MSG.JwtClaimBasedRoutingWithoutRequestAuthN],
  analyze({ snapshot, report }) {
    const raByNs = new Map<string, Labels[]>();
    for (const ra of snapshot.of('RequestAuthentication')) {
      if (!raByNs.has(ra.namespace)) raByNs.set(ra.namespace, []);
      raByNs.get(ra.namespace)!.push(labelsOf(obj(ra.spec.selector).matchLabels));
    }
    for (const vs of snapshot.of('VirtualService')) {
      const key = claimRouteKey(vs);
      if (!key) continue;
      for (const ref of strings(vs.spec.gateways)) {
        if (ref === 'mesh') continue;
        const i = ref.indexOf('/');
        const [ns, name] = i >= 0 ? [ref.slice(0, i), ref.slice(i + 1)] : [vs.namespace, ref];
        const gw = snapshot.find('Gateway', ns, name);
        if (!gw) continue;
        for (const pod of snapshot.podsMatching(labelsOf(gw.spec.selector))) {
          const selectors = [...(raByNs.get('istio-system') ?? []), ...(raByNs.get(pod.namespace) ?? [])];
          if (selectors.some((s) => selectorMatches(s, pod.labels))) continue;
          report(message(MSG.JwtClaimBasedRoutingWithoutRequestAuthN, vs, [key, fullName(gw), pod.name]));
        }
      }
    }
  },
});

register({
  name: 'authn.BlockedCIDRsAnalyzer',
  description: 'Checks that BLOCKED_CIDRS_IN_JWKS_URIS is configured on istiod when RequestAuthentication resources exist',
  inputs: ['RequestAuthentication', 'Deployment'],
  emits: [MSG.JwksUriFetchUnrestricted],
  analyze({ snapshot, report }) {
    const names = snapshot.of('RequestAuthentication').map((r) => fullName(r));
    if (names.length === 0) return;
    const shown = names.length <= 5 ? names.join(', ') : `${names.slice(0, 5).join(', ')}, and ${names.length - 5} more`;
    for (const d of snapshot.of('Deployment')) {
      if (labelsOf(d.metadata.labels).app !== 'istiod') continue;
      const containers = arr(obj(obj(d.spec.template).spec).containers).map(obj);
      const set = containers.some((c) => arr(c.env).map(obj).some((e) => str(e.name) === 'BLOCKED_CIDRS_IN_JWKS_URIS' && str(e.value) !== ''));
      if (!set) report(message(MSG.JwksUriFetchUnrestricted, d, [names.length, shown]));
    }
  },
});
