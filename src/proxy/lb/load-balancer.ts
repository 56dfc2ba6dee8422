/**
 * Load balancers, registered under Envoy's lb_policy names. Each picks one host from the cluster's
 * current host set; hosts sets are replaced whole on EDS/DNS updates (`update`), so picks never
 * see a half-applied change. Panic mode as Envoy: when fewer than healthy_panic_threshold percent of
 * hosts are healthy, balance across all hosts.
 */
import type { Host } from '../cluster/host.js';

export interface LbContext {
  /** A hash of the request (route hash_policy) for consistent-hash balancers. */
  hash?: number;
  /** Hosts to avoid (retry_host_predicate previous_hosts). */
  avoid?: Host[];
}

export interface LoadBalancer {
  update(all: Host[], panicThresholdPct: number): void;
  choose(ctx?: LbContext): Host | undefined;
}

/** The hosts to balance over: the healthy ones, or all in panic mode. */
function eligible(all: Host[], panicPct: number): Host[] {
  if (all.length === 0) return all;
  const healthy = all.filter((h) => h.healthy);
  if (healthy.length * 100 < all.length * panicPct) return all;
  return healthy;
}

function avoidFilter(hosts: Host[], ctx?: LbContext): Host[] {
  if (!ctx?.avoid || ctx.avoid.length === 0 || hosts.length <= ctx.avoid.length) return hosts;
  const rest = hosts.filter((h) => !ctx.avoid!.includes(h));
  return rest.length ? rest : hosts;
}

/** ROUND_ROBIN; weighted hosts use smooth weighted round robin (same long-run shares as Envoy's EDF). */
export class RoundRobin implements LoadBalancer {
  private hosts: Host[] = [];
  private i = 0;
  private weighted = false;
  private current: number[] = [];
  private total = 0;
  update(all: Host[], panicPct: number): void {
    this.hosts = eligible(all, panicPct);
    this.weighted = this.hosts.some((h) => h.weight !== this.hosts[0].weight);
    this.current = this.hosts.map(() => 0);
    this.total = this.hosts.reduce((a, h) => a + h.weight, 0);
    this.i = this.hosts.length ? Math.floor(Math.random() * this.hosts.length) : 0;
  }
  choose(ctx?: LbContext): Host | undefined {
    const hs = this.hosts;
    if (hs.length === 0) return undefined;
    if (ctx?.avoid?.length) {
      const rest = avoidFilter(hs, ctx);
      return rest[this.i++ % rest.length];
    }
    if (!this.weighted) return hs[this.i++ % hs.length];
    let best = 0;
    for (let k = 0; k < hs.length; k++) {
      this.current[k] += hs[k].weight;
      if (this.current[k] > this.current[best]) best = k;
    }
    this.current[best] -= this.total;
    return hs[best];
  }
}

/** RANDOM. */
export class RandomLb implements LoadBalancer {
  private hosts: Host[] = [];
  update(all: Host[], panicPct: number): void {
    this.hosts = eligible(all, panicPct);
  }
  choose(ctx?: LbContext): Host | undefined {
    const hs = avoidFilter(this.hosts, ctx);
    return hs.length ? hs[Math.floor(Math.random() * hs.length)] : undefined;
  }
}

/** LEAST_REQUEST: power of two choices (choice_count 2) by active requests, as Envoy does for equal weights. */
export class LeastRequest implements LoadBalancer {
  private hosts: Host[] = [];
  constructor(private readonly choiceCount = 2) {}
  update(all: Host[], panicPct: number): void {
    this.hosts = eligible(all, panicPct);
  }
  choose(ctx?: LbContext): Host | undefined {
    const hs = avoidFilter(this.hosts, ctx);
    if (hs.length === 0) return undefined;
    let best = hs[Math.floor(Math.random() * hs.length)];
    for (let k = 1; k < this.choiceCount; k++) {
      const h = hs[Math.floor(Math.random() * hs.length)];
      if (h.active < best.active) best = h;
    }
    return best;
  }
}

/**
 * 32-bit string hash for ring placement and request keys: FNV-1a, then MurmurHash3's fmix32 finaliser.
 * Without the finaliser, strings that differ only in their last characters ("u1", "u2"; "127.0.0.1:8080_7")
 * land in narrow bands of the 32-bit space, so a ring could send every such key to one host.
 */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** RING_HASH: a consistent-hash ring (minimum_ring_size entries, weighted); no hash → random. */
export class RingHash implements LoadBalancer {
  private ring: { h: number; host: Host }[] = [];
  constructor(private readonly minRing = 1024, private readonly maxRing = 8 * 1024 * 1024) {}
  update(all: Host[], panicPct: number): void {
    const hs = eligible(all, panicPct);
    const ring: { h: number; host: Host }[] = [];
    if (hs.length) {
      const totalW = hs.reduce((a, h) => a + h.weight, 0);
      const size = Math.min(this.maxRing, Math.max(this.minRing, hs.length));
      for (const host of hs) {
        const n = Math.max(1, Math.round((size * host.weight) / totalW));
        for (let k = 0; k < n; k++) ring.push({ h: hashString(`${host.address}_${k}`), host });
      }
      ring.sort((a, b) => a.h - b.h);
    }
    this.ring = ring;
  }
  choose(ctx?: LbContext): Host | undefined {
    const r = this.ring;
    if (r.length === 0) return undefined;
    const h = ctx?.hash ?? Math.floor(Math.random() * 0xffffffff);
    let lo = 0;
    let hi = r.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (r[mid].h < h) lo = mid + 1;
      else hi = mid;
    }
    return r[lo === r.length ? 0 : lo].host;
  }
}

/** MAGLEV: a lookup table of table_size (prime, default 65537) filled by each host's permutation. */
export class Maglev implements LoadBalancer {
  private table: Host[] = [];
  constructor(private readonly size = 65537) {}
  update(all: Host[], panicPct: number): void {
    const hs = eligible(all, panicPct);
    const M = this.size;
    const table: (Host | undefined)[] = new Array(M).fill(undefined);
    if (hs.length) {
      const offset = hs.map((h) => hashString(h.address) % M);
      const skip = hs.map((h) => (hashString(h.address + '#') % (M - 1)) + 1);
      const next = hs.map(() => 0);
      const maxW = Math.max(...hs.map((h) => h.weight));
      let filled = 0;
      const credit = hs.map(() => 0);
      while (filled < M) {
        for (let i = 0; i < hs.length && filled < M; i++) {
          credit[i] += hs[i].weight / maxW;
          if (credit[i] < 1) continue;
          credit[i] -= 1;
          let c = (offset[i] + next[i] * skip[i]) % M;
          while (table[c] !== undefined) {
            next[i]++;
            c = (offset[i] + next[i] * skip[i]) % M;
          }
          table[c] = hs[i];
          next[i]++;
          filled++;
        }
      }
    }
    this.table = table as Host[];
  }
  choose(ctx?: LbContext): Host | undefined {
    if (this.table.length === 0) return undefined;
    const h = ctx?.hash ?? Math.floor(Math.random() * 0xffffffff);
    return this.table[h % this.table.length];
  }
}
