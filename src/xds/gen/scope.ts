/**
 * What a proxy's generators iterate over: the outbound clusters it needs (every visible service
 * port, plus one per DestinationRule subset) and the service ports its own workload serves
 * (its inbound side). CDS, EDS, LDS and RDS all read these so their names always agree.
 */
import type { Subset } from '../../api/types.js';
import type { Proxy } from '../../model/proxy.js';
import type { DestinationRuleConfig, PushContext } from '../../model/push-context.js';
import { outboundClusterName } from '../../model/naming.js';
import { selectorMatches, type Service, type ServicePort } from '../../model/service.js';

export interface OutboundCluster {
  name: string;
  service: Service;
  port: ServicePort;
  subset?: Subset;
  dr?: DestinationRuleConfig;
}

/** Outbound clusters in a stable order (service hostname, port, then subsets in DR order). */
export function outboundClusters(proxy: Proxy, push: PushContext): OutboundCluster[] {
  const out: OutboundCluster[] = [];
  const services = proxy.type === 'router' ? gatewayVisibleServices(proxy, push) : push.servicesFor(proxy);
  for (const svc of services) {
    const dr = push.destinationRuleFor(proxy.namespace, svc, svc.hostname, proxy.labels);
    for (const port of svc.ports) {
      if (port.protocol === 'UDP') continue;
      out.push({ name: outboundClusterName(port.port, '', svc.hostname), service: svc, port, dr });
      for (const subset of dr?.spec.subsets ?? []) {
        out.push({ name: outboundClusterName(port.port, subset.name, svc.hostname), service: svc, port, subset, dr });
      }
    }
  }
  return out;
}

/** A gateway sees every service exported to its namespace (no Sidecar applies to routers). */
function gatewayVisibleServices(proxy: Proxy, push: PushContext): Service[] {
  const out: Service[] = [];
  for (const [, list] of push.servicesByHost) {
    const s = list.find((x) => x.namespace === proxy.namespace && push.serviceVisible(x, proxy.namespace)) ?? list.find((x) => push.serviceVisible(x, proxy.namespace));
    if (s) out.push(s);
  }
  return out;
}

export interface ServiceInstance {
  service: Service;
  servicePort: ServicePort;
  /** The port the workload listens on. */
  targetPort: number;
}

/**
 * The service ports this proxy's workload serves: endpoints carrying its IP, or, when the
 * registry has no endpoint for it yet, services in its namespace whose selector matches its labels.
 */
export function serviceInstances(proxy: Proxy, push: PushContext): ServiceInstance[] {
  const out: ServiceInstance[] = [];
  const ips = new Set(proxy.ipAddresses);
  const seen = new Set<string>();
  for (const svc of push.services) {
    const selected = svc.namespace === proxy.namespace && selectorMatches(svc.selector, proxy.labels);
    const eps = push.endpoints(svc).filter((e) => ips.has(e.address));
    for (const port of svc.ports) {
      if (port.protocol === 'UDP') continue;
      const ep = eps.find((e) => e.servicePort === port.port);
      if (!ep && !selected) continue;
      const targetPort = ep?.port ?? port.targetPort ?? port.port;
      const key = `${svc.hostname}|${port.port}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ service: svc, servicePort: port, targetPort });
    }
  }
  return out;
}
