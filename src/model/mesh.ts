/**
 * MeshConfig: the mesh-wide settings Istio keeps in the `istio` ConfigMap (`mesh` key), with
 * Istio's defaults (pkg/config/mesh DefaultMeshConfig). Only what generation reads is modelled;
 * loadMeshConfig reads Istio's YAML shape (`outboundTrafficPolicy: {mode: REGISTRY_ONLY}`).
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { HTTPRetry, LoadBalancerSettings } from '../api/types.js';

export interface ProxyDefaults {
  /** `istiod.istio-system.svc:15012`. */
  discoveryAddress: string;
  /** Istio's `proxyMetadata` (env for the agent). */
  proxyMetadata: Record<string, string>;
  holdApplicationUntilProxyStarts: boolean;
  /** Port the proxy's Prometheus endpoint listens on. */
  statusPort: number;
}

export interface MeshConfig {
  rootNamespace: string;
  trustDomain: string;
  /** Kubernetes cluster DNS domain suffix (`cluster.local`). */
  dnsDomain: string;
  outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  enableAutoMtls: boolean;
  /** Default upstream connect timeout (`10s`). */
  connectTimeout: string;
  /** Sniffing timeout for unnamed ports (`0s`: none). */
  protocolDetectionTimeout: string;
  /** Mesh-wide locality load balancing (DestinationRule's localityLbSetting overrides it). */
  localityLbSetting?: LoadBalancerSettings['localityLbSetting'];
  /** Default exportTo for kinds that do not give one (Istio: `*`). */
  defaultServiceExportTo: string[];
  defaultVirtualServiceExportTo: string[];
  defaultDestinationRuleExportTo: string[];
  /** `/dev/stdout` turns on Envoy's access log (Istio's default profile leaves it empty). */
  accessLogFile: string;
  /** meshConfig.accessLogFormat ('' = Istio's default text format). */
  accessLogFormat: string;
  /** meshConfig.enableTracing (Istio: true): connection managers carry `tracing`. */
  enableTracing: boolean;
  /** defaultConfig.tracing.sampling, percent (Istio: 1). */
  tracingSampling: number;
  /** Retry policy for HTTP routes without one (Istio: 2 attempts on connection failures when unset). */
  defaultHttpRetryPolicy?: HTTPRetry;
  /** `UPGRADE` turns HTTP/1.1 to upstreams into HTTP/2 mesh-wide (DestinationRules may override). */
  h2UpgradePolicy: 'DO_NOT_UPGRADE' | 'UPGRADE';
  /** Refresh rate for DNS clusters (`60s`). */
  dnsRefreshRate: string;
  ingressClass: string;
  ingressService: string;
  defaultConfig: ProxyDefaults;
}

/** defaultConfig.tracing.sampling (a percentage, 0–100), or the default. */
function tracingSampling(dc: unknown, fallback: number): number {
  const v = (dc as { tracing?: { sampling?: unknown } } | undefined)?.tracing?.sampling;
  return typeof v === 'number' && v >= 0 && v <= 100 ? v : fallback;
}

export function defaultMeshConfig(): MeshConfig {
  return {
    rootNamespace: 'istio-system',
    trustDomain: 'cluster.local',
    dnsDomain: 'cluster.local',
    outboundTrafficPolicy: 'ALLOW_ANY',
    enableAutoMtls: true,
    connectTimeout: '10s',
    protocolDetectionTimeout: '0s',
    localityLbSetting: { enabled: true },
    defaultServiceExportTo: ['*'],
    defaultVirtualServiceExportTo: ['*'],
    defaultDestinationRuleExportTo: ['*'],
    accessLogFile: '',
    accessLogFormat: '',
    enableTracing: true,
    tracingSampling: 1,
    h2UpgradePolicy: 'DO_NOT_UPGRADE',
    dnsRefreshRate: '60s',
    ingressClass: 'istio',
    ingressService: 'istio-ingressgateway',
    defaultConfig: {
      discoveryAddress: 'istiod.istio-system.svc:15012',
      proxyMetadata: {},
      holdApplicationUntilProxyStarts: false,
      statusPort: 15020,
    },
  };
}

type Raw = Record<string, unknown>;
const str = (v: unknown, d: string): string => (typeof v === 'string' && v !== '' ? v : d);
const bool = (v: unknown, d: boolean): boolean => (typeof v === 'boolean' ? v : d);
const strs = (v: unknown, d: string[]): string[] => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : d);

/** Istio MeshConfig (as a parsed object, the `mesh` key's content) merged over the defaults. */
export function meshConfigFrom(raw: Raw): MeshConfig {
  const d = defaultMeshConfig();
  const otp = (raw.outboundTrafficPolicy ?? {}) as Raw;
  const dc = (raw.defaultConfig ?? {}) as Raw;
  return {
    rootNamespace: str(raw.rootNamespace, d.rootNamespace),
    trustDomain: str(raw.trustDomain, d.trustDomain),
    dnsDomain: str(raw.dnsDomain, d.dnsDomain),
    outboundTrafficPolicy: otp.mode === 'REGISTRY_ONLY' ? 'REGISTRY_ONLY' : 'ALLOW_ANY',
    enableAutoMtls: bool(raw.enableAutoMtls, d.enableAutoMtls),
    connectTimeout: str(raw.connectTimeout, d.connectTimeout),
    protocolDetectionTimeout: str(raw.protocolDetectionTimeout, d.protocolDetectionTimeout),
    localityLbSetting: (raw.localityLbSetting as MeshConfig['localityLbSetting']) ?? d.localityLbSetting,
    defaultServiceExportTo: strs(raw.defaultServiceExportTo, d.defaultServiceExportTo),
    defaultVirtualServiceExportTo: strs(raw.defaultVirtualServiceExportTo, d.defaultVirtualServiceExportTo),
    defaultDestinationRuleExportTo: strs(raw.defaultDestinationRuleExportTo, d.defaultDestinationRuleExportTo),
    accessLogFile: typeof raw.accessLogFile === 'string' ? raw.accessLogFile : d.accessLogFile,
    accessLogFormat: typeof raw.accessLogFormat === 'string' ? raw.accessLogFormat : d.accessLogFormat,
    enableTracing: bool(raw.enableTracing, d.enableTracing),
    tracingSampling: tracingSampling(raw.defaultConfig, d.tracingSampling),
    dnsRefreshRate: str(raw.dnsRefreshRate, d.dnsRefreshRate),
    h2UpgradePolicy: raw.h2UpgradePolicy === 'UPGRADE' ? 'UPGRADE' : 'DO_NOT_UPGRADE',
    ...(raw.defaultHttpRetryPolicy && typeof raw.defaultHttpRetryPolicy === 'object' ? { defaultHttpRetryPolicy: raw.defaultHttpRetryPolicy as HTTPRetry } : {}),
    ingressClass: str(raw.ingressClass, d.ingressClass),
    ingressService: str(raw.ingressService, d.ingressService),
    defaultConfig: {
      discoveryAddress: str(dc.discoveryAddress, d.defaultConfig.discoveryAddress),
      proxyMetadata: (dc.proxyMetadata as Record<string, string>) ?? {},
      holdApplicationUntilProxyStarts: bool(dc.holdApplicationUntilProxyStarts, false),
      statusPort: typeof dc.statusPort === 'number' ? dc.statusPort : d.defaultConfig.statusPort,
    },
  };
}

/**
 * Reads a MeshConfig file: either the mesh config itself, or the `istio` ConfigMap holding it
 * under `data.mesh` (as `kubectl get cm istio -o yaml` prints it).
 */
export function loadMeshConfig(file: string): MeshConfig {
  const doc = parse(readFileSync(file, 'utf8')) as Raw | null;
  if (!doc || typeof doc !== 'object') return defaultMeshConfig();
  if (doc.kind === 'ConfigMap') {
    const mesh = ((doc.data ?? {}) as Raw).mesh;
    return meshConfigFrom(typeof mesh === 'string' ? ((parse(mesh) as Raw | null) ?? {}) : {});
  }
  return meshConfigFrom(doc);
}
