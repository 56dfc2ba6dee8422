/**
 * LDS: listeners for a proxy. Sidecars: per-port outbound listeners, `virtualOutbound` (15001)
 * and `virtualInbound` (15006) — or bound listeners only, without traffic capture. Routers: one
 * listener per Gateway port.
 */
import type { Proxy } from '../../model/proxy.js';
import type { PushContext } from '../../model/push-context.js';
import type { EnvoyJson } from '../codec.js';
import { TypeUrl } from '../resource-types.js';
import { gatewayListeners } from './gateway.js';
import { inboundListeners } from './lds-inbound.js';
import { outboundListeners, virtualOutboundListener } from './lds-outbound.js';

export function generateListeners(proxy: Proxy, push: PushContext): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  if (proxy.type === 'router') {
    out.push(...gatewayListeners(proxy, push));
  } else {
    out.push(...outboundListeners(proxy, push));
    if (proxy.interceptionMode !== 'NONE') out.push(virtualOutboundListener(proxy, push));
    const names = new Set(out.map((l) => l.name));
    for (const l of inboundListeners(proxy, push)) if (!names.has(l.name)) out.push(l);
  }
  return out.map((l) => ({ '@type': TypeUrl.Listener, ...l }));
}
