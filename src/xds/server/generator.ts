/**
 * What the ADS server needs from the model and generators (src/xds/gen): a Proxy from an xDS Node,
 * the resources of one type for one proxy from an immutable push context, and which config kinds
 * can change each type (so a push recomputes only the types a change touches).
 */
import type { EnvoyJson } from '../codec.js';
import type { ResourceTypeUrl } from '../resource-types.js';

export interface XdsGenerator<Proxy = unknown, Push = unknown> {
  /** Node (JSON form, as sent on a stream's first request) → Proxy. Throws on an unusable node. */
  proxyFromNode(node: EnvoyJson): Proxy;
  /** Resources of `typeUrl` for `proxy`; `names` restricts to those asked for (EDS, RDS, SDS). Pure. */
  generate(proxy: Proxy, push: Push, typeUrl: ResourceTypeUrl, names?: string[]): EnvoyJson[];
  /** Config kinds (VirtualService, DestinationRule, Service ...) whose change can alter `typeUrl`. */
  configKindsAffecting(typeUrl: ResourceTypeUrl): ReadonlySet<string>;
}

/** Why a push happens and what it covers. */
export interface PushRequest {
  /** false: only endpoints changed (EDS alone is pushed, only for `edsHosts`). */
  full: boolean;
  /** Config kinds that changed; empty means "everything" (first push, mesh config change). */
  kinds: ReadonlySet<string>;
  /** With full=false: the service hostnames whose endpoints changed. */
  edsHosts?: ReadonlySet<string>;
  /** When the first change behind this push was seen (Date.now()), for convergence time. */
  start: number;
  /** For logs: "VirtualService default/reviews", "EndpointSlice default/reviews-1" ... */
  reason: string;
}
