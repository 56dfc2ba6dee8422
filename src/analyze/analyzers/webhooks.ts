/**
 * Istio's webhook configurations: in a remote cluster each injector and validator webhook must
 * reach the external control plane by URL or Service (IST0163), preferably by host name rather
 * than IP address (IST0164) (Istio's analyzers/externalcontrolplane); injector webhooks must not
 * overlap nor name a missing Service (IST0139, analyzers/webhook); and `image: auto` workloads
 * must match an injector (IST0146, IST0147, analyzers/injection/image-auto.go). MeshNetworks
 * endpoints must name a known service registry (IST0126, analyzers/multicluster).
 */
import { isIP } from 'node:net';
import type { ConfigResource } from '../../config/resource.js';
import { register } from '../analyzer.js';
import { labelSelectorMatches, type Labels } from '../hosts.js';
import { MSG, fullName, message } from '../messages.js';
import { arr, labelsOf, obj, str } from '../values.js';

/** The host of a webhook URL, brackets of an IPv6 literal removed; undefined when it does not parse. */
function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return undefined;
  }
}

register({
  name: 'externalcontrolplane.ExternalControlPlaneAnalyzer',
  description: 'Checks that the remote IstioOperator resources reference an external control plane',
  inputs: ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'],
  emits: [MSG.InvalidExternalControlPlaneConfig, MSG.ExternalControlPlaneAddressIsNotAHostname],
  analyze({ snapshot, report }) {
    const check = (r: ConfigResource) => {
      arr(r.raw.webhooks).forEach((h0, i) => {
        const h = obj(h0);
        const name = str(h.name);
        const cc = obj(h.clientConfig);
        const path = ['webhooks', i, 'clientConfig'];
        if (typeof cc.url === 'string') {
          const host = hostOf(cc.url);
          if (host === undefined) report(message(MSG.InvalidExternalControlPlaneConfig, r, [cc.url, name, 'was provided in an invalid format'], path));
          else if (isIP(host)) report(message(MSG.ExternalControlPlaneAddressIsNotAHostname, r, [cc.url, name], path));
        } else if (cc.service == null) {
          report(message(MSG.InvalidExternalControlPlaneConfig, r, ['', name, 'is blank'], path));
        }
      });
    };
    for (const r of snapshot.of('ValidatingWebhookConfiguration')) {
      if (r.name === 'istiod-default-validator' || r.name.startsWith('istio-validator')) check(r);
    }
    for (const r of snapshot.of('MutatingWebhookConfiguration')) if (r.name.startsWith('istio-sidecar-injector')) check(r);
  },
});

const REV = 'istio.io/rev';

/** Revisions a MutatingWebhookConfiguration serves: its label and its selectors' `istio.io/rev` terms. */
function revisionsOf(r: ConfigResource): string[] {
  const revs = new Set<string>();
  const label = labelsOf(r.metadata.labels)[REV];
  if (label !== undefined) revs.add(label);
  for (const h of arr(r.raw.webhooks).map(obj)) {
    for (const sel of [obj(h.namespaceSelector), obj(h.objectSelector)]) {
      const ml = labelsOf(sel.matchLabels)[REV];
      if (ml !== undefined) revs.add(ml);
      for (const e of arr(sel.matchExpressions).map(obj)) if (str(e.key) === REV) for (const v of arr(e.values)) revs.add(str(v));
    }
  }
  return [...revs];
}

register({
  name: 'webhook.Analyzer',
  description: 'Checks the validity of Istio webhooks',
  inputs: ['MutatingWebhookConfiguration', 'Service'],
  emits: [MSG.InvalidWebhook],
  analyze({ snapshot, report }) {
    const hooks: { id: string; r: ConfigResource; i: number; h: Record<string, unknown> }[] = [];
    const revisions = new Set<string>();
    for (const r of snapshot.of('MutatingWebhookConfiguration')) {
      const revs = revisionsOf(r);
      const list = arr(r.raw.webhooks).map(obj);
      if (revs.length === 0 && !list.some((h) => str(h.name).endsWith('istio.io'))) continue;
      list.forEach((h, i) => hooks.push({ id: `${fullName(r)}/${str(h.name)}`, r, i, h }));
      revs.forEach((v) => revisions.add(v));
    }
    // Every namespace and pod labelling a user might choose, with and without each revision.
    const variants = (key: string): Labels[] => {
      const base: Labels[] = [{}, { [key]: key === 'istio-injection' ? 'enabled' : 'true' }, { [key]: key === 'istio-injection' ? 'disabled' : 'false' }];
      return [...base, ...[...revisions].flatMap((rev) => base.map((b) => ({ ...b, [REV]: rev })))];
    };
    for (const nl of variants('istio-injection')) {
      for (const ol of variants('sidecar.istio.io/inject')) {
        const matches = hooks.filter((w) => labelSelectorMatches(w.h.namespaceSelector, nl) && labelSelectorMatches(w.h.objectSelector, ol));
        if (matches.length < 2) continue;
        for (const m of matches) {
          const others = matches.filter((o) => o !== m).map((o) => o.id).sort();
          report(message(MSG.InvalidWebhook, m.r, [`Webhook overlaps with others: [${others.join(' ')}]. This may cause injection to occur twice.`], ['webhooks', m.i]));
        }
      }
    }
    // Without Services in the input there is nothing to look the injector's Service up in.
    if (!snapshot.has.services) return;
    for (const w of hooks) {
      const svc = obj(obj(w.h.clientConfig).service);
      if (w.h.clientConfig == null || obj(w.h.clientConfig).service == null) continue;
      const [ns, name] = [str(svc.namespace), str(svc.name)];
      if (snapshot.find('Service', ns, name)) continue;
      report(message(MSG.InvalidWebhook, w.r, [`Injector refers to a control plane service that does not exist: ${ns ? `${ns}/` : ''}${name}.`], ['webhooks', w.i, 'clientConfig', 'service']));
    }
  },
});

register({
  name: 'injection.ImageAutoAnalyzer',
  description: 'Makes sure that Pods and Deployments with `image: auto` are going to be injected',
  inputs: ['Namespace', 'Pod', 'Deployment', 'MutatingWebhookConfiguration'],
  emits: [MSG.ImageAutoWithoutInjectionWarning, MSG.ImageAutoWithoutInjectionError],
  analyze({ snapshot, report }) {
    const autoImage = (spec: Record<string, unknown>) => arr(spec.containers).map(obj).some((c) => str(c.name) === 'istio-proxy' && str(c.image) === 'auto');
    const injectors = snapshot.of('MutatingWebhookConfiguration').flatMap((r) => arr(r.raw.webhooks).map(obj)).filter((h) => str(h.name).endsWith('istio.io'));
    // A running Pod with `image: auto` was not injected: its proxy cannot start.
    for (const p of snapshot.of('Pod')) if (p.group === '' && autoImage(p.spec)) report(message(MSG.ImageAutoWithoutInjectionError, p, ['Pod', p.name]));
    for (const d of snapshot.of('Deployment')) {
      const tpl = obj(d.spec.template);
      if (!autoImage(obj(tpl.spec))) continue;
      const ns = snapshot.namespace(d.namespace || 'default');
      const nsLabels = ns ? labelsOf(ns.metadata.labels) : undefined;
      const podLabels = labelsOf(obj(tpl.metadata).labels);
      if (!injectors.some((h) => labelSelectorMatches(h.namespaceSelector, nsLabels) && labelSelectorMatches(h.objectSelector, podLabels))) {
        report(message(MSG.ImageAutoWithoutInjectionWarning, d, ['Deployment', d.name]));
      }
    }
  },
});

register({
  name: 'meshnetworks.MeshNetworksAnalyzer',
  description: 'Check the validity of MeshNetworks in the cluster',
  inputs: ['MeshNetworks', 'Secret'],
  emits: [MSG.UnknownMeshNetworksServiceRegistry],
  analyze({ snapshot, report }) {
    const networks = obj(snapshot.meshNetworks.networks);
    if (Object.keys(networks).length === 0) return;
    // Built-in registries, plus a cluster per key of each remote secret.
    const registries = new Set(['Mock', 'Kubernetes', 'External']);
    for (const s of snapshot.of('Secret')) {
      if (labelsOf(s.metadata.labels)['istio/multiCluster'] === 'true') for (const k of Object.keys(obj(s.raw.data))) registries.add(k);
    }
    const mn: ConfigResource = {
      apiVersion: 'v1alpha1', kind: 'MeshNetworks', group: '', version: 'v1alpha1', name: 'meshnetworks',
      namespace: str(snapshot.meshConfig.rootNamespace) || 'istio-system', metadata: {}, spec: {}, raw: {},
    };
    for (const [name, n] of Object.entries(networks)) {
      for (const e of arr(obj(n).endpoints).map(obj)) {
        if (typeof e.fromRegistry === 'string' && !registries.has(e.fromRegistry)) report(message(MSG.UnknownMeshNetworksServiceRegistry, mn, [e.fromRegistry, name]));
      }
    }
  },
});
