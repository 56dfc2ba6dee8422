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
import { accessLog } from './http-connection-manager.js';

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
  const log = accessLog(push);
  if (log) for (const l of out) logTcpProxies(l, log);
  return out.map((l) => ({ '@type': TypeUrl.Listener, ...l }));
}

/** The mesh's access log on every tcp_proxy too (HTTP connection managers already carry it), as Istio does. */
function logTcpProxies(listener: EnvoyJson, log: EnvoyJson[]): void {
  const chains = [...((listener.filter_chains as EnvoyJson[] | undefined) ?? []), ...(listener.default_filter_chain ? [listener.default_filter_chain as EnvoyJson] : [])];
  for (const c of chains) {
    for (const f of (c.filters as EnvoyJson[] | undefined) ?? []) {
      const tc = f.typed_config as EnvoyJson | undefined;
      if (f.name === 'envoy.filters.network.tcp_proxy' && tc && tc.access_log === undefined) f.typed_config = { ...tc, access_log: log };
    }
  }
}
