/**
 * The push queue (Istio: pilot/pkg/xds/pushqueue.go): one pending PushRequest per connection,
 * merged when a newer push arrives before the connection was served, drained one connection per
 * event-loop turn so that each proxy's responses leave as soon as they are built (and ACKs are
 * read meanwhile) instead of all at the end of one long synchronous loop.
 */
import type { PushRequest } from './generator.js';

/** Two requests as one: full wins, kinds and hosts join, the earliest start is kept. */
export function mergePushRequests(a: PushRequest, b: PushRequest): PushRequest {
  const full = a.full || b.full;
  const hosts = full ? undefined : new Set([...(a.edsHosts ?? []), ...(b.edsHosts ?? [])]);
  const kinds = (a.full && a.kinds.size === 0) || (b.full && b.kinds.size === 0) ? new Set<string>() : new Set([...a.kinds, ...b.kinds]);
  return { full, kinds, edsHosts: hosts, start: Math.min(a.start, b.start), reason: a.reason === b.reason ? a.reason : `${a.reason}; ${b.reason}` };
}

export class PushQueue<K> {
  private readonly pending = new Map<K, PushRequest>();
  private draining = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly serve: (key: K, req: PushRequest) => void) {}

  get size(): number {
    return this.pending.size;
  }

  enqueue(key: K, req: PushRequest): void {
    const prev = this.pending.get(key);
    this.pending.set(key, prev ? mergePushRequests(prev, req) : req);
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => this.drain());
    }
  }

  /** Drops a key (its connection closed). */
  remove(key: K): void {
    this.pending.delete(key);
  }

  /** Resolves once nothing is pending. */
  idle(): Promise<void> {
    if (!this.draining) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private drain(): void {
    const next = this.pending.entries().next();
    if (next.done) {
      this.draining = false;
      for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    const [key, req] = next.value;
    this.pending.delete(key);
    try {
      this.serve(key, req);
    } finally {
      setImmediate(() => this.drain());
    }
  }
}
