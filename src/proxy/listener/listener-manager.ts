/**
 * The listener manager: static listeners from the bootstrap and LDS listeners, each bound to its
 * address (unless bind_to_port is false: then only reachable by original-dst hand-off).
 *
 * Updates never drop a connection: a changed listener on the same address keeps its socket and swaps
 * its filter chains; chains whose config did not change keep their runtime (and connections); the
 * others drain (HTTP/1 `connection: close` after the current response, HTTP/2 GOAWAY) and are closed
 * after --drain-time-s. A listener that needs RDS routes waits (warming) until they arrive.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { ConfigErrors } from '../config/fields.js';
import type { EnvoyJson } from '../../xds/codec.js';
import { acceptConnection, compileListener, type FilterChain, type ListenerConfig, type ListenerEnv } from './listener.js';

export interface ActiveListener {
  cfg: ListenerConfig;
  server: Server | undefined;
  state: 'warming' | 'active' | 'draining';
  lastUpdated: Date;
  versionInfo: string;
  isStatic: boolean;
  /** Error from bind, if it failed. */
  error?: string;
}

type OriginalDstFn = (s: Socket) => { address: string; port: number } | undefined;

export class ListenerManager {
  readonly listeners = new Map<string, ActiveListener>();
  readonly warming = new Map<string, ActiveListener>();
  private readonly retired = new Set<NodeJS.Timeout>();
  originalDst: OriginalDstFn | undefined;
  noFilterChainMatch = 0;

  constructor(private readonly env: ListenerEnv, private readonly drainTimeMs: number, private readonly log: (msg: string) => void) {}

  /** Compiles listeners (all-or-nothing per call, errors name resource and field). */
  compile(resources: EnvoyJson[], errs: ConfigErrors): ListenerConfig[] {
    const out: ListenerConfig[] = [];
    const names = new Set<string>();
    for (const r of resources) {
      const before = errs.list.length;
      const cfg = compileListener(r, errs, this.env);
      if (names.has(cfg.name)) errs.add(`Listener ${JSON.stringify(cfg.name)}`, 'duplicate listener name');
      names.add(cfg.name);
      if (errs.list.length === before) out.push(cfg);
      else for (const c of [...cfg.chains, ...(cfg.defaultChain ? [cfg.defaultChain] : [])]) c.handler.close();
    }
    return out;
  }

  /** Adds or updates listeners; unchanged ones are left alone. */
  async apply(cfgs: ListenerConfig[], version: string, isStatic: boolean): Promise<string[]> {
    const errors: string[] = [];
    for (const cfg of cfgs) {
      const cur = this.listeners.get(cfg.name) ?? this.warming.get(cfg.name);
      if (cur && JSON.stringify(cur.cfg.json) === JSON.stringify(cfg.json)) {
        for (const c of cfg.chains) c.handler.close();
        continue;
      }
      if (cur) this.reuseChains(cur.cfg, cfg);
      const al: ActiveListener = { cfg, server: undefined, state: 'warming', lastUpdated: new Date(), versionInfo: version, isStatic };
      this.warming.set(cfg.name, al);
    }
    errors.push(...(await this.activateReady()));
    return errors;
  }

  /** Chains identical to the old listener's keep their runtime (so their connections live on). */
  private reuseChains(old: ListenerConfig, next: ListenerConfig): void {
    const byJson = new Map<string, FilterChain>();
    for (const c of [...old.chains, ...(old.defaultChain ? [old.defaultChain] : [])]) byJson.set(JSON.stringify(c.json), c);
    const swap = (c: FilterChain): FilterChain => {
      const o = byJson.get(JSON.stringify(c.json));
      if (!o) return c;
      c.handler.close();
      return { ...c, handler: o.handler };
    };
    next.chains = next.chains.map(swap);
    if (next.defaultChain) next.defaultChain = swap(next.defaultChain);
  }

  /** Activates every warming listener whose RDS routes are present. */
  async activateReady(): Promise<string[]> {
    const errors: string[] = [];
    for (const [name, al] of this.warming) {
      if (al.cfg.rdsNames.some((r) => !this.env.routes.has(r))) continue;
      if (al.cfg.tlsContexts.some((c) => !c.ready)) continue;
      this.warming.delete(name);
      const err = await this.activate(al);
      if (err) errors.push(err);
    }
    return errors;
  }

  private async activate(al: ActiveListener): Promise<string | undefined> {
    const cfg = al.cfg;
    const old = this.listeners.get(cfg.name);
    if (old && old.server && old.cfg.ip === cfg.ip && old.cfg.port === cfg.port && cfg.bindToPort) {
      // Same address: keep the socket, swap the config; drain the chains that were replaced.
      al.server = old.server;
      al.state = 'active';
      this.listeners.set(cfg.name, al);
      this.retire(old.cfg, cfg);
      return undefined;
    }
    if (cfg.bindToPort) {
      const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
        const current = this.listeners.get(cfg.name);
        void acceptConnection(current?.server === server ? current.cfg : cfg, socket, this.originalDst, (ip, port) => this.findByAddress(ip, port), () => this.noFilterChainMatch++);
      });
      const err = await new Promise<string | undefined>((resolve) => {
        server.once('error', (e: Error) => resolve(e.message));
        server.listen({ host: cfg.ip, port: cfg.port, backlog: 1024 }, () => resolve(undefined));
      });
      if (err) {
        al.error = err;
        this.log(`listener ${cfg.name}: cannot bind ${cfg.ip}:${cfg.port}: ${err}`);
        return `Listener ${JSON.stringify(cfg.name)}: cannot bind to ${cfg.ip}:${cfg.port}: ${err}`;
      }
      server.on('error', (e) => this.log(`listener ${cfg.name}: ${e.message}`));
      al.server = server;
    }
    al.state = 'active';
    this.listeners.set(cfg.name, al);
    if (old) {
      old.server?.close();
      this.retire(old.cfg, undefined);
    }
    return undefined;
  }

  /** The actual port a listener bound (port 0 configs). */
  boundPort(name: string): number | undefined {
    const a = this.listeners.get(name)?.server?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  /** use_original_dst: the listener bound (or configured) for ip:port, exact address first, then 0.0.0.0 / ::. */
  findByAddress(ip: string, port: number): ListenerConfig | undefined {
    let wildcard: ListenerConfig | undefined;
    for (const al of this.listeners.values()) {
      const c = al.cfg;
      if (c.port !== port || c.useOriginalDst) continue;
      if (c.ip === ip) return c;
      if (c.ip === '0.0.0.0' || c.ip === '::') wildcard ??= c;
    }
    return wildcard;
  }

  /** Drains the chains of `old` that `next` does not reuse, closing them after the drain time. */
  private retire(old: ListenerConfig, next: ListenerConfig | undefined): void {
    const keep = new Set(next ? [...next.chains, ...(next.defaultChain ? [next.defaultChain] : [])].map((c) => c.handler) : []);
    const gone = [...old.chains, ...(old.defaultChain ? [old.defaultChain] : [])].filter((c) => !keep.has(c.handler));
    if (gone.length === 0) return;
    for (const c of gone) c.handler.drain();
    const t = setTimeout(() => {
      this.retired.delete(t);
      for (const c of gone) c.handler.close();
    }, this.drainTimeMs);
    t.unref();
    this.retired.add(t);
  }

  /** SotW LDS: listeners not named are removed (static ones stay). */
  removeExcept(names: Set<string>): string[] {
    const removed: string[] = [];
    for (const [name, al] of this.listeners) {
      if (al.isStatic || names.has(name)) continue;
      this.remove(name);
      removed.push(name);
    }
    for (const name of [...this.warming.keys()]) if (!names.has(name) && !this.warming.get(name)!.isStatic) this.warming.delete(name);
    return removed;
  }

  remove(name: string): void {
    const al = this.listeners.get(name);
    if (!al) return;
    this.listeners.delete(name);
    al.server?.close();
    this.retire(al.cfg, undefined);
  }

  /** /drain_listeners: stop keep-alive everywhere; optionally stop accepting (inbound only or all). */
  drainAll(inboundOnly: boolean, graceful: boolean): void {
    for (const al of this.listeners.values()) {
      if (inboundOnly && al.cfg.direction !== 'INBOUND') continue;
      al.state = 'draining';
      for (const c of [...al.cfg.chains, ...(al.cfg.defaultChain ? [al.cfg.defaultChain] : [])]) c.handler.drain();
      if (!graceful) al.server?.close();
    }
  }

  async close(): Promise<void> {
    for (const t of this.retired) clearTimeout(t);
    const closing: Promise<void>[] = [];
    for (const al of this.listeners.values()) {
      for (const c of [...al.cfg.chains, ...(al.cfg.defaultChain ? [al.cfg.defaultChain] : [])]) c.handler.close();
      if (al.server) closing.push(new Promise((r) => al.server!.close(() => r())));
    }
    this.listeners.clear();
    await Promise.all(closing);
  }
}
