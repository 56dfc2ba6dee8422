/**
 * Per-proxy sync status, the data behind /debug/syncz and `spar proxy-status` (istioctl's
 * SYNCED / STALE / NACKED / NOT SENT per type). Plain JSON so the CLI can read it over HTTP.
 */
import { PUSH_ORDER, SHORT_NAME } from '../resource-types.js';
import type { Connection, Watch } from './connection.js';

export type SyncState = 'SYNCED' | 'STALE' | 'NACKED' | 'NOT SENT';
export type ShortType = 'CDS' | 'EDS' | 'LDS' | 'RDS' | 'SDS';

export interface TypeStatus {
  status: SyncState;
  sent_version?: string;
  sent_nonce?: string;
  acked_version?: string;
  acked_nonce?: string;
  /** Subscribed names (wildcard types: `*`). */
  subscribed?: number | '*';
  nack?: { message: string; nonce: string; version: string; at: string };
}

export interface ProxySyncStatus {
  /** `pod.namespace` as istioctl prints it. */
  proxy: string;
  proxy_id: string;
  connection_id: string;
  cluster_id: string;
  istio_version: string;
  /** The pilot's own identity (ISTIOD column). */
  istiod: string;
  delta: boolean;
  connected_at: string;
  types: Record<ShortType, TypeStatus>;
}

export function watchStatus(w: Watch | undefined, delta: boolean): TypeStatus {
  if (!w || !w.nonceSent) return { status: 'NOT SENT' };
  const synced = delta ? w.pending.size === 0 && !w.nack : w.nonceAcked === w.nonceSent;
  const status: SyncState = w.nack ? 'NACKED' : synced ? 'SYNCED' : 'STALE';
  return {
    status,
    sent_version: w.versionSent,
    sent_nonce: w.nonceSent,
    acked_version: w.versionAcked || undefined,
    acked_nonce: w.nonceAcked || undefined,
    subscribed: w.wildcard ? '*' : w.names.size,
    ...(w.nack ? { nack: { message: w.nack.message, nonce: w.nack.nonce, version: w.nack.version, at: w.nack.at.toISOString() } } : {}),
  };
}

export function connectionStatus(con: Connection, istiod: string): ProxySyncStatus {
  const types = {} as Record<ShortType, TypeStatus>;
  for (const t of PUSH_ORDER) types[SHORT_NAME[t] as ShortType] = watchStatus(con.watches.get(t), con.delta);
  return {
    proxy: shortName(con.nodeId),
    proxy_id: con.nodeId,
    connection_id: con.conId,
    cluster_id: con.meta('CLUSTER_ID') || 'Kubernetes',
    istio_version: con.meta('ISTIO_VERSION'),
    istiod,
    delta: con.delta,
    connected_at: con.connectedAt.toISOString(),
    types,
  };
}

function shortName(nodeId: string): string {
  const parts = nodeId.split('~');
  return parts.length === 4 && parts[2] ? parts[2] : nodeId;
}

/** Every connection's status, sorted by proxy name. */
export function syncStatus(server: { connections: ReadonlyMap<string, Connection> }, istiod = 'spar-pilot'): ProxySyncStatus[] {
  return [...server.connections.values()].map((c) => connectionStatus(c, istiod)).sort((a, b) => a.proxy.localeCompare(b.proxy) || a.connection_id.localeCompare(b.connection_id));
}
