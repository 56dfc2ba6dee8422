/**
 * The cluster manager: every cluster by name (static from bootstrap, dynamic from CDS) and the EDS
 * assignments for them. A CDS update replaces a cluster only when its config changed; the old one
 * keeps serving requests already sent to it and closes its idle connections.
 */
import { ConfigErrors, Fields } from '../config/fields.js';
import type { EnvoyJson } from '../../xds/codec.js';
import type { StatsStore } from '../stats/stats.js';
import { Cluster, compileCluster, readLoadAssignment, type EndpointSpec } from './cluster.js';
import { SecretManager } from '../tls/secrets.js';

export class ClusterManager {
  readonly clusters = new Map<string, Cluster>();
  /** Names of clusters from bootstrap static_resources (CDS never removes these). */
  readonly staticNames = new Set<string>();
  /** Last EDS assignment per service name (kept so a re-created cluster finds its hosts). */
  readonly assignments = new Map<string, { endpoints: EndpointSpec[]; json: EnvoyJson }>();
  /** Called when a cluster becomes warm (EDS arrived) so listeners waiting on it can activate. */
  onWarm: (() => void) | undefined;
  /** Static and SDS secrets the clusters' TLS contexts name. */
  readonly secrets = new SecretManager();

  constructor(private readonly stats: StatsStore) {}

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  /** Compiles a set of clusters; all-or-nothing, errors name the resource and field. */
  compile(resources: EnvoyJson[], errs: ConfigErrors): Map<string, ReturnType<typeof compileCluster>> {
    const out = new Map<string, ReturnType<typeof compileCluster>>();
    for (const r of resources) {
      const c = compileCluster(r, errs, this.secrets);
      if (out.has(c.name)) errs.add(`Cluster ${JSON.stringify(c.name)}`, 'duplicate cluster name');
      out.set(c.name, c);
    }
    return out;
  }

  /** Adds or replaces clusters (configs already compiled without errors). */
  apply(configs: Map<string, ReturnType<typeof compileCluster>>, isStatic: boolean): void {
    for (const [name, cfg] of configs) {
      const old = this.clusters.get(name);
      if (old && JSON.stringify(old.config.json) === JSON.stringify(cfg.json)) continue;
      const c = new Cluster(cfg, this.stats);
      if (cfg.type === 'EDS') {
        const a = this.assignments.get(cfg.edsServiceName);
        if (a) c.setEndpoints(a.endpoints);
        else if (old && old.config.type === 'EDS' && old.config.edsServiceName === cfg.edsServiceName) c.setEndpoints(old.hosts.map(hostSpec));
      }
      this.clusters.set(name, c);
      if (isStatic) this.staticNames.add(name);
      old?.close();
    }
  }

  /** SotW CDS: clusters not named are removed (static ones stay). */
  removeExcept(names: Set<string>): string[] {
    const removed: string[] = [];
    for (const [name, c] of this.clusters) {
      if (this.staticNames.has(name) || names.has(name)) continue;
      this.clusters.delete(name);
      c.close();
      removed.push(name);
    }
    return removed;
  }

  remove(name: string): void {
    if (this.staticNames.has(name)) return;
    this.clusters.get(name)?.close();
    this.clusters.delete(name);
  }

  /** An EDS ClusterLoadAssignment; returns errors (for the NACK) in `errs`. */
  applyAssignment(json: EnvoyJson, errs: ConfigErrors): void {
    const name = typeof json.cluster_name === 'string' ? json.cluster_name : '';
    const f = new Fields(json, `ClusterLoadAssignment ${JSON.stringify(name)}`, errs);
    const before = errs.list.length;
    const endpoints = readLoadAssignment(f);
    if (errs.list.length !== before) return;
    this.assignments.set(name, { endpoints, json });
    let warmed = false;
    for (const c of this.clusters.values()) {
      if (c.config.type === 'EDS' && c.config.edsServiceName === name) {
        if (!c.warm) warmed = true;
        c.setEndpoints(endpoints);
      }
    }
    if (warmed) this.onWarm?.();
  }

  /** Names of EDS clusters still waiting for their first assignment. */
  warming(): string[] {
    return [...this.clusters.values()].filter((c) => !c.warm).map((c) => c.config.name);
  }

  close(): void {
    for (const c of this.clusters.values()) c.close();
  }
}

function hostSpec(h: { ip: string; port: number; weight: number; health: EndpointSpec['health']; locality: string; metadata: unknown; hostname: string }): EndpointSpec {
  return { ip: h.ip, port: h.port, weight: h.weight, health: h.health, locality: h.locality, metadata: h.metadata, hostname: h.hostname };
}
