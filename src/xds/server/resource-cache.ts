/**
 * Resources prepared for the wire: checked (Envoy's schema through the codec, then the rules in
 * envoy-rules.ts), encoded once and content-hashed, then shared by every proxy that receives the
 * same resource. A resource that fails a check is dropped with its error recorded; the rest of the
 * push goes ahead, so one bad resource never leaves a proxy without config.
 *
 * Entries are keyed by object identity (a generator that reuses objects pays nothing) and by
 * content (two proxies given equal JSON share one encoding). Entries unused for two generations
 * (push contexts) are evicted.
 */
import { createHash } from 'node:crypto';
import { encodeMessage, type EnvoyJson } from '../codec.js';
import { envoyRuleProblem, resourceName } from './envoy-rules.js';
import type { WireResource } from './wire.js';

/** A resource ready to send: name, encoded bytes and a version (hash of the bytes). */
export interface PreparedResource extends WireResource {
  readonly name: string;
  /** Content hash; the delta protocol's per-resource version. */
  readonly version: string;
}

/** A resource the pilot refused to send, and why. */
export interface DroppedResource {
  readonly typeUrl: string;
  readonly name: string;
  readonly error: string;
}

type Entry = { gen: number; ok: PreparedResource } | { gen: number; dropped: DroppedResource };

export interface PreparedSet {
  resources: PreparedResource[];
  dropped: DroppedResource[];
}

export class ResourceCache {
  private byObject = new WeakMap<object, Entry>();
  private byContent = new Map<string, Entry>();
  private generation = 0;
  /** Encodings done (cache misses) — for tests and the bench. */
  encodes = 0;
  /** Called once per distinct dropped resource per generation. */
  onDrop?: (d: DroppedResource) => void;
  private reportedDrops = new Set<string>();

  /** Starts a new generation (a new push context); evicts what the last two did not use. */
  nextGeneration(): void {
    this.generation++;
    this.reportedDrops.clear();
    for (const [k, e] of this.byContent) if (e.gen < this.generation - 2) this.byContent.delete(k);
  }

  /** Prepares one resource; never throws. */
  prepare(typeUrl: string, json: EnvoyJson): Entry {
    const hit = this.byObject.get(json);
    if (hit) {
      hit.gen = this.generation;
      return hit;
    }
    // The content key includes @type when present; the copy without it is made only on a miss.
    const key = typeUrl + '\0' + JSON.stringify(json);
    let e = this.byContent.get(key);
    if (!e) {
      const { '@type': at, ...fields } = json;
      e = this.build(typeUrl, typeof at === 'string' ? at : typeUrl, fields);
      this.byContent.set(key, e);
    }
    e.gen = this.generation;
    this.byObject.set(json, e);
    return e;
  }

  private build(typeUrl: string, type: string, fields: EnvoyJson): Entry {
    const name = resourceName(typeUrl, fields);
    if (type !== typeUrl) return { gen: this.generation, dropped: { typeUrl, name, error: `resource has @type ${type}, expected ${typeUrl}` } };
    let value: Uint8Array;
    try {
      value = encodeMessage(typeUrl, fields);
      this.encodes++;
    } catch (err) {
      return { gen: this.generation, dropped: { typeUrl, name, error: `does not fit Envoy's schema: ${(err as Error).message}` } };
    }
    const rule = envoyRuleProblem(typeUrl, fields);
    if (rule) return { gen: this.generation, dropped: { typeUrl, name, error: rule } };
    const version = createHash('sha256').update(value).digest('base64url').slice(0, 16);
    return { gen: this.generation, ok: { typeUrl, name, value, version } };
  }

  /**
   * Prepares what a generator produced for one proxy and type: bad resources dropped, and of
   * several resources with one name only the first kept (Envoy rejects a response naming a
   * resource twice).
   */
  prepareSet(typeUrl: string, jsons: readonly EnvoyJson[]): PreparedSet {
    const out: PreparedSet = { resources: [], dropped: [] };
    const seen = new Set<string>();
    for (const j of jsons) {
      const e = this.prepare(typeUrl, j);
      if ('dropped' in e) {
        this.report(e.dropped);
        out.dropped.push(e.dropped);
        continue;
      }
      if (seen.has(e.ok.name)) {
        const d = { typeUrl, name: e.ok.name, error: `more than one ${typeUrl.slice(typeUrl.lastIndexOf('.') + 1)} named "${e.ok.name}"; only the first is sent` };
        this.report(d);
        out.dropped.push(d);
        continue;
      }
      seen.add(e.ok.name);
      out.resources.push(e.ok);
    }
    return out;
  }

  private report(d: DroppedResource): void {
    const k = `${d.typeUrl}\0${d.name}\0${d.error}`;
    if (this.reportedDrops.has(k)) return;
    this.reportedDrops.add(k);
    this.onDrop?.(d);
  }

  /** Prepares a placeholder (an empty ClusterLoadAssignment or RouteConfiguration) for a name asked for but not generated. */
  placeholder(typeUrl: string, json: EnvoyJson): PreparedResource | undefined {
    const e = this.prepare(typeUrl, json);
    return 'ok' in e ? e.ok : undefined;
  }
}
