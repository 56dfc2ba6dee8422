/**
 * Istio's webhook configurations in a remote cluster (Istio's analyzers/externalcontrolplane):
 * each injector and validator webhook must reach the external control plane by URL or Service
 * (IST0163), preferably by host name rather than IP address (IST0164).
 */
import { isIP } from 'node:net';
import type { ConfigResource } from '../../config/resource.js';
import { register } from '../analyzer.js';
import { MSG, message } from '../messages.js';
import { arr, obj, str } from '../values.js';

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
