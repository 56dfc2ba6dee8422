/**
 * Snapshot comparison and the change-event plumbing shared by every registry source.
 */
import { isDeepStrictEqual } from 'node:util';
import type { RegistryEvent, RegistrySnapshot } from './types.js';
import { endpointKey } from './types.js';

/** Events that turn `before` into `after` (services by namespace/hostname, endpoint lists by key). */
export function diffSnapshots(before: RegistrySnapshot, after: RegistrySnapshot): RegistryEvent[] {
  const events: RegistryEvent[] = [];
  const svcKey = (s: { namespace: string; hostname: string }) => endpointKey(s.namespace, s.hostname);
  const old = new Map(before.services.map((s) => [svcKey(s), s]));
  const neu = new Map(after.services.map((s) => [svcKey(s), s]));
  for (const [k, s] of neu) {
    const o = old.get(k);
    if (!o) events.push({ kind: 'Service', event: 'add', hostname: s.hostname, namespace: s.namespace });
    else if (!isDeepStrictEqual({ ...o, creation: 0 }, { ...s, creation: 0 })) events.push({ kind: 'Service', event: 'update', hostname: s.hostname, namespace: s.namespace });
  }
  for (const [k, s] of old) if (!neu.has(k)) events.push({ kind: 'Service', event: 'delete', hostname: s.hostname, namespace: s.namespace });
  const keys = new Set([...before.endpoints.keys(), ...after.endpoints.keys()]);
  for (const k of keys) {
    const a = before.endpoints.get(k);
    const b = after.endpoints.get(k);
    if (isDeepStrictEqual(a ?? [], b ?? [])) continue;
    const i = k.indexOf('/');
    events.push({ kind: 'Endpoints', event: !a ? 'add' : !b ? 'delete' : 'update', namespace: k.slice(0, i), hostname: k.slice(i + 1) });
  }
  return events;
}

/** Holds a snapshot and its subscribers; `replace` diffs and notifies. */
export class SnapshotHolder {
  private current: RegistrySnapshot;
  private readonly handlers = new Set<(events: RegistryEvent[]) => void>();

  constructor(initial: RegistrySnapshot) {
    this.current = initial;
  }

  get(): RegistrySnapshot {
    return this.current;
  }

  replace(next: RegistrySnapshot): RegistryEvent[] {
    const events = diffSnapshots(this.current, next);
    this.current = next;
    if (events.length) for (const h of this.handlers) h(events);
    return events;
  }

  subscribe(h: (events: RegistryEvent[]) => void): () => void {
    this.handlers.add(h);
    return () => this.handlers.delete(h);
  }
}
