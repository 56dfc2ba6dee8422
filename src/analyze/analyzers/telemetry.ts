/**
 * Telemetry analyzers (Istio's analyzers/telemetry): selectors that match no pod or overlap
 * (IST0101, IST0159), more than one selector-less Telemetry per namespace (IST0160), access
 * logging with no provider to send to (IST0157) and tracing to the deprecated Lightstep
 * provider (IST0002).
 */
import type { ConfigResource } from '../../config/resource.js';
import { register } from '../analyzer.js';
import { firstSelectorKey, selectorString } from '../hosts.js';
import { MSG, message } from '../messages.js';
import type { PodInfo } from '../snapshot.js';
import { arr, labelsOf, obj, str } from '../values.js';

register({
  name: 'telemetry.SelectorAnalyzer',
  description: "Validates that telemetries that define a selector match at least one pod, and that there aren't multiple telemetry resources that select overlapping pods",
  inputs: ['Telemetry', 'Pod'],
  emits: [MSG.ReferencedResourceNotFound, MSG.ConflictingTelemetryWorkloadSelectors],
  needs: { pods: true },
  analyze({ snapshot, report }) {
    const byPod = new Map<PodInfo, ConfigResource[]>();
    for (const t of snapshot.of('Telemetry')) {
      const labels = labelsOf(obj(t.spec.selector).matchLabels);
      if (Object.keys(labels).length === 0) continue;
      const pods = snapshot.podsMatching(labels, t.namespace);
      for (const p of pods) {
        if (!byPod.has(p)) byPod.set(p, []);
        byPod.get(p)!.push(t);
      }
      if (pods.length === 0) {
        const sel = selectorString(labels);
        report(message(MSG.ReferencedResourceNotFound, t, ['selector', sel], ['spec', 'selector', 'matchLabels', firstSelectorKey(sel)]));
      }
    }
    for (const [pod, list] of byPod) {
      if (list.length < 2) continue;
      const names = list.map((t) => t.name).sort();
      for (const t of list) report(message(MSG.ConflictingTelemetryWorkloadSelectors, t, [names, pod.namespace, pod.name], ['metadata', 'name']));
    }
  },
});

register({
  name: 'telemetry.DefaultSelectorAnalyzer',
  description: "Validates that there aren't multiple telemetry resources that have no selector",
  inputs: ['Telemetry'],
  emits: [MSG.MultipleTelemetriesWithoutWorkloadSelectors],
  analyze({ snapshot, report }) {
    const byNs = new Map<string, ConfigResource[]>();
    for (const t of snapshot.of('Telemetry')) {
      if (t.spec.selector != null) continue;
      if (!byNs.has(t.namespace)) byNs.set(t.namespace, []);
      byNs.get(t.namespace)!.push(t);
    }
    for (const [ns, list] of byNs) {
      if (list.length < 2) continue;
      const names = list.map((t) => t.name).sort();
      for (const t of list) report(message(MSG.MultipleTelemetriesWithoutWorkloadSelectors, t, [names, ns]));
    }
  },
});

register({
  name: 'telemetry.ProviderAnalyzer',
  description: 'Validates that providers in telemetry resource is valid',
  inputs: ['Telemetry', 'MeshConfig'],
  emits: [MSG.InvalidTelemetryProvider],
  analyze({ snapshot, report }) {
    // Without default access-log providers in the mesh, an access-logging entry naming none does nothing.
    if (arr(obj(snapshot.meshConfig.defaultProviders).accessLogging).length > 0) return;
    for (const t of snapshot.of('Telemetry')) {
      arr(t.spec.accessLogging).forEach((l0, i) => {
        const l = obj(l0);
        if (l.disabled === true) return;
        if (arr(l.providers).length === 0) report(message(MSG.InvalidTelemetryProvider, t, [t.name, t.namespace], ['spec', 'accessLogging', i]));
      });
    }
  },
});

register({
  name: 'telemetry.LightstepAnalyzer',
  description: 'Validates that lightstep provider is still used',
  inputs: ['Telemetry', 'MeshConfig'],
  emits: [MSG.Deprecated],
  analyze({ snapshot, report }) {
    const lightstep = new Set(arr(snapshot.meshConfig.extensionProviders).map(obj).filter((p) => p.lightstep != null).map((p) => str(p.name)));
    if (lightstep.size === 0) return;
    for (const t of snapshot.of('Telemetry')) {
      for (const tr of arr(t.spec.tracing).map(obj)) {
        for (const p of arr(tr.providers).map(obj)) {
          const name = str(p.name);
          if (lightstep.has(name)) report(message(MSG.Deprecated, t, [`The Lightstep provider ${name} is deprecated, please migrate to OpenTelemetry provider.`]));
        }
      }
    }
  },
});
