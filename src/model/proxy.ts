/**
 * Proxy: what the pilot knows about one connected Envoy (or Spar proxy), read from the xDS Node
 * Istio's agent sends: id `sidecar~10.88.0.5~reviews-v1-xyz.default~default.svc.cluster.local`
 * (type ~ IPs ~ pod.namespace ~ DNS domain) and metadata (LABELS, NAMESPACE, SERVICE_ACCOUNT, ...).
 */
import type { EnvoyJson } from '../xds/codec.js';
import { parseLocality, type Locality } from './service.js';

export type ProxyType = 'sidecar' | 'router';

export interface Proxy {
  type: ProxyType;
  /** The Node id as sent. */
  id: string;
  /** The workload's IPs (first is the primary). */
  ipAddresses: string[];
  /** Pod (or VM) name. */
  podName: string;
  namespace: string;
  /** `default.svc.cluster.local`. */
  dnsDomain: string;
  labels: Record<string, string>;
  serviceAccount?: string;
  istioVersion?: string;
  /** REDIRECT (iptables), TPROXY, or NONE (no capture: only explicit listeners work). */
  interceptionMode: 'REDIRECT' | 'TPROXY' | 'NONE';
  locality?: Locality;
  clusterId?: string;
  /** Raw node metadata, for generators that read less common keys. */
  metadata: Record<string, unknown>;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isRecord(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

/**
 * Builds a Proxy from the xDS Node (JSON form). Missing metadata falls back to the id
 * (namespace from `pod.namespace`), as Istio does for older agents.
 */
export function proxyFromNode(node: EnvoyJson): Proxy {
  const id = typeof node.id === 'string' ? node.id : '';
  const parts = id.split('~');
  const meta = isRecord(node.metadata) ? node.metadata : {};
  const type: ProxyType = parts[0] === 'router' ? 'router' : 'sidecar';
  const ipAddresses = (parts[1] ?? '').split(',').filter(Boolean);
  const instIps = typeof meta.INSTANCE_IPS === 'string' ? meta.INSTANCE_IPS.split(',').filter(Boolean) : [];
  const podAndNs = parts[2] ?? '';
  const dot = podAndNs.indexOf('.');
  const podName = typeof meta.NAME === 'string' ? meta.NAME : dot < 0 ? podAndNs : podAndNs.slice(0, dot);
  const namespace = typeof meta.NAMESPACE === 'string' && meta.NAMESPACE ? meta.NAMESPACE : dot < 0 ? 'default' : podAndNs.slice(dot + 1);
  const mode = meta.INTERCEPTION_MODE;
  const loc = isRecord(node.locality) ? node.locality : undefined;
  return {
    type,
    id,
    ipAddresses: ipAddresses.length ? ipAddresses : instIps,
    podName,
    namespace,
    dnsDomain: parts[3] || `${namespace}.svc.cluster.local`,
    labels: stringMap(meta.LABELS),
    serviceAccount: typeof meta.SERVICE_ACCOUNT === 'string' ? meta.SERVICE_ACCOUNT : undefined,
    istioVersion: typeof meta.ISTIO_VERSION === 'string' ? meta.ISTIO_VERSION : undefined,
    interceptionMode: mode === 'TPROXY' || mode === 'NONE' ? mode : 'REDIRECT',
    locality: loc ? { region: str(loc.region), zone: str(loc.zone), subZone: str(loc.sub_zone) } : parseLocality(undefined),
    clusterId: typeof meta.CLUSTER_ID === 'string' ? meta.CLUSTER_ID : undefined,
    metadata: meta,
  };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

/** The cluster DNS domain (`cluster.local`) from `default.svc.cluster.local`. */
export function clusterDomain(proxy: Proxy): string {
  const i = proxy.dnsDomain.indexOf('.svc.');
  return i < 0 ? 'cluster.local' : proxy.dnsDomain.slice(i + 5);
}
