/**
 * One ADS stream from one proxy, and what the server knows about it per resource type: what the
 * proxy subscribed to, what was last sent (version, nonce, when), what it ACKed, and its last NACK
 * (kept until a later ACK of that type). This is what /debug/syncz and `spar proxy-status` show.
 */
import type { EnvoyJson } from '../codec.js';
import { SHORT_NAME, type ResourceTypeUrl } from '../resource-types.js';
import type { PreparedResource } from './resource-cache.js';

/** A NACK as Envoy sent it. */
export interface NackInfo {
  nonce: string;
  /** The version the proxy still runs (the last it accepted). */
  version: string;
  message: string;
  at: Date;
}

export class Watch {
  /** CDS/LDS with no names (or `*`): everything. */
  wildcard = false;
  names = new Set<string>();
  nonceSent = '';
  versionSent = '';
  sentAt = 0;
  /** Push start (config change time) behind the last send, for convergence time. */
  pushStart = 0;
  nonceAcked = '';
  versionAcked = '';
  ackedAt = 0;
  nack?: NackInfo;
  /** Hash of the last SotW response's resources (to skip a push that changes nothing). */
  lastHash = '';
  /** SotW: the resources of the last response by name (a dropped resource keeps its last good version). */
  readonly lastResources = new Map<string, PreparedResource>();
  /** Delta: name → version the proxy was sent. */
  readonly sent = new Map<string, string>();
  /** Responses sent and not yet answered (delta may have several in flight). */
  readonly pending = new Map<string, { sentAt: number; pushStart: number; version: string; bytes?: number }>();

  constructor(readonly typeUrl: ResourceTypeUrl) {}
}

let counter = 0;

export class Connection<Proxy = unknown> {
  /** Istio's connection id: `<proxy id>-<n>`. */
  readonly conId: string;
  readonly connectedAt = new Date();
  readonly watches = new Map<string, Watch>();

  constructor(
    /** The node id (`sidecar~10.88.0.5~reviews-v1-xyz.default~default.svc.cluster.local`). */
    readonly nodeId: string,
    readonly node: EnvoyJson,
    readonly proxy: Proxy,
    readonly delta: boolean,
    readonly peer: string,
    private readonly write: (bytes: Uint8Array) => void,
  ) {
    this.conId = `${shortProxyName(nodeId)}-${++counter}`;
  }

  send(bytes: Uint8Array): void {
    this.write(bytes);
  }

  watch(typeUrl: ResourceTypeUrl): Watch {
    let w = this.watches.get(typeUrl);
    if (!w) {
      w = new Watch(typeUrl);
      this.watches.set(typeUrl, w);
    }
    return w;
  }

  /** Node metadata field as a string ('' when absent). */
  meta(key: string): string {
    const md = this.node.metadata;
    const v = md && typeof md === 'object' && !Array.isArray(md) ? (md as EnvoyJson)[key] : undefined;
    return typeof v === 'string' ? v : '';
  }

  /** Short label for logs: `reviews-v1-xyz.default CDS`. */
  label(typeUrl: string): string {
    return `${this.conId} ${SHORT_NAME[typeUrl as ResourceTypeUrl] ?? typeUrl}`;
  }
}

/** `sidecar~10.88.0.5~reviews-v1-xyz.default~default.svc.cluster.local` → `reviews-v1-xyz.default`. */
export function shortProxyName(nodeId: string): string {
  const parts = nodeId.split('~');
  return parts.length === 4 && parts[2] ? parts[2] : nodeId;
}
