/**
 * Security policy analyzers (Istio's analyzers/authz): AuthorizationPolicies that select no
 * workload in the mesh (IST0127) and rules naming namespaces that do not exist (IST0101).
 */
import { register } from '../analyzer.js';
import { selectorMatches, selectorString, type Labels } from '../hosts.js';
import { MSG, message } from '../messages.js';
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
