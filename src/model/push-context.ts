/**
 * PushContext: an immutable, indexed snapshot of all config and the service registry at one
 * moment (Istio: model.PushContext). Generators read only this and the Proxy, so the same
 * (proxy, push) always gives the same resources. Lookups that depend on the proxy (what it may
 * see through exportTo and its Sidecar, which DestinationRule applies) live here so every
 * generator answers them the same way.
 */
import type { ConfigResource } from '../config/resource.js';
import type { DestinationRuleSpec, GatewaySpec, SidecarSpec, VirtualServiceSpec } from '../api/types.js';
import type { RegistrySnapshot } from '../registry/types.js';
import { endpointKey } from '../registry/types.js';
import { bySpecificity, hostMatches, resolveShortName } from './host.js';
import type { MeshConfig } from './mesh.js';
import { PeerAuthentications } from './peer-authentication.js';
import type { Proxy } from './proxy.js';
import { selectorMatches, type Endpoint, type Service } from './service.js';

/** A config resource with its spec typed. */
export interface Typed<S> {
  resource: ConfigResource;
  spec: S;
  name: string;
  namespace: string;
}

/** A VirtualService whose hosts and destination hosts are already resolved to FQDNs. */
export interface VirtualServiceConfig extends Typed<VirtualServiceSpec> {
  hosts: string[];
  /** `mesh` and/or `namespace/gateway` names, resolved. */
  gateways: string[];
}

export interface DestinationRuleConfig extends Typed<DestinationRuleSpec> {
  host: string;
}

export type GatewayConfig = Typed<GatewaySpec>;
export type SidecarConfig = Typed<SidecarSpec>;

export interface PushContextInit {
  resources: readonly ConfigResource[];
  mesh: MeshConfig;
  registry: RegistrySnapshot;
  version: string;
  /** The registry-kind resources the snapshot was built from (for reuse by the next push). */
  registryInputs?: readonly ConfigResource[];
}

const typed = <S>(r: ConfigResource): Typed<S> => ({ resource: r, spec: r.spec as unknown as S, name: r.name, namespace: r.namespace });

/** Is a resource of `namespace` with `exportTo` visible from `proxyNs`? */
export function exportedTo(exportTo: readonly string[], namespace: string, proxyNs: string): boolean {
  for (const e of exportTo) {
    if (e === '*') return true;
    if (e === '.' ? namespace === proxyNs : e === proxyNs) return true;
  }
  return false;
}

export class PushContext {
  readonly mesh: MeshConfig;
  readonly version: string;
  readonly registry: RegistrySnapshot;
  readonly registryInputs: readonly ConfigResource[];
  /** Services sorted by hostname then creation (Kubernetes before ServiceEntry for the same host). */
  readonly services: readonly Service[];
  readonly servicesByHost: ReadonlyMap<string, readonly Service[]>;
  readonly virtualServices: readonly VirtualServiceConfig[];
  /** VirtualServices without hosts: delegates, by `namespace/name`. */
  readonly delegates: ReadonlyMap<string, VirtualServiceConfig>;
  readonly destinationRules: readonly DestinationRuleConfig[];
  readonly gateways: readonly GatewayConfig[];
  readonly sidecars: readonly SidecarConfig[];
  /** Kubernetes Secrets by `namespace/name` (gateway credentialName). */
  readonly secrets: ReadonlyMap<string, ConfigResource>;
  readonly peerAuthentications: PeerAuthentications;
  private readonly scopeCache = new Map<string, readonly Service[]>();
  /** DestinationRules by exact host, and those with wildcard hosts. */
  private readonly drByHost = new Map<string, DestinationRuleConfig[]>();
  private readonly drWildcards: DestinationRuleConfig[] = [];
  private readonly drSelected: DestinationRuleConfig[] = [];
  private readonly drCache = new Map<string, DestinationRuleConfig | undefined>();
  private readonly vsCache = new Map<string, VirtualServiceConfig[]>();

  constructor(init: PushContextInit) {
    this.mesh = init.mesh;
    this.version = init.version;
    this.registry = init.registry;
    this.registryInputs = init.registryInputs ?? [];
    const dns = init.mesh.dnsDomain;
    this.services = [...init.registry.services].sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : a.creation - b.creation));
    const byHost = new Map<string, Service[]>();
    for (const s of this.services) {
      const list = byHost.get(s.hostname);
      if (list) list.push(s);
      else byHost.set(s.hostname, [s]);
    }
    this.servicesByHost = byHost;
    const vss: VirtualServiceConfig[] = [];
    const delegates = new Map<string, VirtualServiceConfig>();
    const drs: DestinationRuleConfig[] = [];
    const gws: GatewayConfig[] = [];
    const scs: SidecarConfig[] = [];
    const secrets = new Map<string, ConfigResource>();
    const ordered = [...init.resources].sort(byCreation);
    for (const r of ordered) {
      switch (r.kind) {
        case 'VirtualService': {
          const t = typed<VirtualServiceSpec>(r);
          const hosts = (t.spec.hosts ?? []).map((h) => resolveShortName(h, r.namespace, dns));
          const gateways = (t.spec.gateways?.length ? t.spec.gateways : ['mesh']).map((g) => resolveGatewayName(g, r.namespace));
          const vs = { ...t, hosts, gateways };
          if (hosts.length === 0) delegates.set(`${r.namespace}/${r.name}`, vs);
          else vss.push(vs);
          break;
        }
        case 'DestinationRule': {
          const t = typed<DestinationRuleSpec>(r);
          drs.push({ ...t, host: resolveShortName(t.spec.host ?? '', r.namespace, dns) });
          break;
        }
        case 'Gateway':
          if (r.group === 'networking.istio.io') gws.push(typed<GatewaySpec>(r));
          break;
        case 'Sidecar':
          scs.push(typed<SidecarSpec>(r));
          break;
        case 'Secret':
          if (r.group === '') secrets.set(`${r.namespace}/${r.name}`, r);
          break;
      }
    }
    this.virtualServices = vss;
    this.delegates = delegates;
    this.destinationRules = drs;
    for (const dr of drs) {
      if (dr.spec.workloadSelector?.matchLabels) {
        this.drSelected.push(dr);
        continue;
      }
      if (dr.host.startsWith('*')) this.drWildcards.push(dr);
      else {
        const list = this.drByHost.get(dr.host);
        if (list) list.push(dr);
        else this.drByHost.set(dr.host, [dr]);
      }
    }
    this.gateways = gws;
    this.sidecars = scs;
    this.secrets = secrets;
    this.peerAuthentications = new PeerAuthentications(ordered, init.mesh.rootNamespace);
  }

  private readonly endpointCache = new WeakMap<Service, readonly Endpoint[]>();
  private readonly identityCache = new WeakMap<Service, string[]>();

  /** Endpoints of a service (all ports). */
  endpoints(svc: Service): readonly Endpoint[] {
    let eps = this.endpointCache.get(svc);
    if (!eps) {
      eps = this.registry.endpoints.get(endpointKey(svc.namespace, svc.hostname)) ?? [];
      this.endpointCache.set(svc, eps);
    }
    return eps;
  }

  /** SPIFFE identities of the workloads behind a service (and a ServiceEntry's subjectAltNames), sorted. */
  serviceIdentities(svc: Service): string[] {
    let ids = this.identityCache.get(svc);
    if (!ids) {
      const set = new Set<string>(svc.subjectAltNames ?? []);
      for (const e of this.endpoints(svc)) if (e.serviceAccount) set.add(`spiffe://${this.mesh.trustDomain}/ns/${e.namespace}/sa/${e.serviceAccount}`);
      ids = [...set].sort();
      this.identityCache.set(svc, ids);
    }
    return ids;
  }

  /** The Sidecar resource that applies to a proxy: selector match in its namespace, its namespace default, the root default. */
  sidecarFor(proxy: Proxy): SidecarConfig | undefined {
    if (proxy.type !== 'sidecar') return undefined;
    const inNs = this.sidecars.filter((s) => s.namespace === proxy.namespace);
    return (
      inNs.find((s) => s.spec.workloadSelector?.labels && selectorMatches(s.spec.workloadSelector.labels, proxy.labels)) ??
      inNs.find((s) => !s.spec.workloadSelector) ??
      this.sidecars.find((s) => s.namespace === this.mesh.rootNamespace && !s.spec.workloadSelector)
    );
  }

  /** Is service `svc` exported to namespace `ns`? */
  serviceVisible(svc: Service, ns: string): boolean {
    return exportedTo(svc.exportTo ?? this.mesh.defaultServiceExportTo, svc.namespace, ns);
  }

  /**
   * Services a proxy can reach: exported to its namespace and, when a Sidecar applies, named by
   * one of its egress `namespace/host` patterns. One service per hostname (the oldest; one in the
   * proxy's own namespace first, as Istio prefers).
   */
  servicesFor(proxy: Proxy): readonly Service[] {
    const sidecar = this.sidecarFor(proxy);
    const key = `${proxy.namespace}|${sidecar ? `${sidecar.namespace}/${sidecar.name}` : ''}`;
    const hit = this.scopeCache.get(key);
    if (hit) return hit;
    // A Sidecar without egress listeners scopes nothing: Istio gives it the default egress `*/*`.
    const egress = sidecar?.spec.egress?.length ? sidecar.spec.egress.flatMap((e) => e?.hosts ?? []).map((h) => parseScopedHost(h, sidecar.namespace)) : undefined;
    const out: Service[] = [];
    for (const [, list] of this.servicesByHost) {
      const visible = list.filter((s) => this.serviceVisible(s, proxy.namespace) && (!egress || egress.some((e) => scopedMatches(e, s.namespace, s.hostname))));
      if (visible.length === 0) continue;
      out.push(visible.find((s) => s.namespace === proxy.namespace) ?? visible[0]);
    }
    this.scopeCache.set(key, out);
    return out;
  }

  /** The service for a host as seen from namespace `ns` (undefined when not visible). */
  serviceFor(host: string, ns: string): Service | undefined {
    const list = this.servicesByHost.get(host);
    if (!list) return undefined;
    const visible = list.filter((s) => this.serviceVisible(s, ns));
    return visible.find((s) => s.namespace === ns) ?? visible[0];
  }

  /** VirtualServices visible from `ns` and bound to any of `gateways` (`mesh` for sidecars). */
  virtualServicesFor(ns: string, gateways: readonly string[]): VirtualServiceConfig[] {
    const key = `${ns}|${gateways.join(',')}`;
    let hit = this.vsCache.get(key);
    if (!hit) {
      hit = this.virtualServices.filter(
        (vs) => exportedTo(vs.spec.exportTo ?? this.mesh.defaultVirtualServiceExportTo, vs.namespace, ns) && vs.gateways.some((g) => gateways.includes(g)),
      );
      this.vsCache.set(key, hit);
    }
    return hit;
  }

  /**
   * The DestinationRule for a host as seen from a proxy in `ns` (Istio's precedence): one in the
   * proxy's namespace, then the service's namespace, then the root namespace; within each, an
   * exact host before the most specific wildcard.
   */
  destinationRuleFor(ns: string, svc: Service | undefined, host: string, proxyLabels?: Record<string, string>): DestinationRuleConfig | undefined {
    // A DestinationRule with a workloadSelector applies only to the workloads it selects, in its namespace, first.
    if (proxyLabels && this.drSelected.length) {
      const own = this.drSelected.find((dr) => dr.namespace === ns && hostMatches(dr.host, host) && selectorMatches(dr.spec.workloadSelector?.matchLabels, proxyLabels));
      if (own) return own;
    }
    const key = `${ns}|${svc?.namespace ?? ''}|${host}`;
    if (this.drCache.has(key)) return this.drCache.get(key);
    const found = this.findDestinationRule(ns, svc, host);
    this.drCache.set(key, found);
    return found;
  }

  private findDestinationRule(ns: string, svc: Service | undefined, host: string): DestinationRuleConfig | undefined {
    const visible = (dr: DestinationRuleConfig) => exportedTo(dr.spec.exportTo ?? this.mesh.defaultDestinationRuleExportTo, dr.namespace, ns);
    const candidates = [...(this.drByHost.get(host) ?? []), ...this.drWildcards.filter((dr) => hostMatches(dr.host, host))].filter(visible);
    if (candidates.length === 0) return undefined;
    const order = [ns, svc?.namespace, this.mesh.rootNamespace];
    for (const want of order) {
      if (want === undefined) continue;
      const inNs = candidates.filter((c) => c.namespace === want).sort((a, b) => bySpecificity(a.host, b.host));
      if (inNs.length) return inNs[0];
    }
    return candidates.sort((a, b) => bySpecificity(a.host, b.host))[0];
  }

  /** Gateways whose selector matches a router proxy's labels (in any namespace, as Istio's default). */
  gatewaysFor(proxy: Proxy): GatewayConfig[] {
    return this.gateways.filter((g) => g.spec.selector && Object.keys(g.spec.selector).length > 0 && selectorMatches(g.spec.selector, proxy.labels));
  }
}

function byCreation(a: ConfigResource, b: ConfigResource): number {
  const ta = String(a.metadata.creationTimestamp ?? '');
  const tb = String(b.metadata.creationTimestamp ?? '');
  if (ta !== tb) return ta < tb ? -1 : 1;
  return 0; // stable: file order
}

/** `my-gateway` in namespace `ns` → `ns/my-gateway`; `mesh` stays. */
export function resolveGatewayName(g: string, ns: string): string {
  if (g === 'mesh') return g;
  if (g.includes('/')) return g;
  const dot = g.indexOf('.');
  return dot < 0 ? `${ns}/${g}` : `${g.slice(dot + 1)}/${g.slice(0, dot)}`;
}

interface ScopedHost {
  ns: string;
  host: string;
}

/** `./*`, `istio-system/*`, `*\/foo.com`, `~/*`: namespace part (`.` = the Sidecar's) and host part. */
export function parseScopedHost(s: string, sidecarNs: string): ScopedHost {
  const i = s.indexOf('/');
  const ns = i < 0 ? '*' : s.slice(0, i);
  return { ns: ns === '.' ? sidecarNs : ns, host: i < 0 ? s : s.slice(i + 1) };
}

export function scopedMatches(e: ScopedHost, ns: string, host: string): boolean {
  if (e.ns === '~') return false;
  if (e.ns !== '*' && e.ns !== ns) return false;
  return hostMatches(e.host, host);
}
