// Pilot-driven proxies: `spar pilot` serves Istio config written here to every benchmark proxy over
// ADS, as istiod does to sidecars. No traffic capture (no iptables): Istio's Sidecar resource with
// captureMode NONE gives the client-side sidecar an egress listener bound to a loopback address and
// the server-side sidecar an ingress listener whose defaultEndpoint is the fortio server. Envoy and
// `spar proxy` get the same bootstrap (Istio's node id and metadata, ADS to the pilot).
//
// Per chain (one topology × protocol), in namespace `bench`:
//   Service fortio-<chain>   clusterIP 127.0.1.<k>, port <svcPort> named http-/http2-/grpc-/tcp-…
//   EndpointSlice            127.0.0.1:<target>  (target: the server sidecar's ingress port, or the
//                            fortio port itself for one hop)
//   Sidecar client-<chain>   egress port <svcPort> bound on 127.0.1.<k>, captureMode NONE, hosts: the service
//   Sidecar server-<chain>   ingress port <ingressPort> bound on 127.0.0.1, captureMode NONE,
//                            defaultEndpoint 127.0.0.1:<fortio port>; egress imports nothing (~/*)
// The client dials 127.0.1.<k>:<svcPort>: the service's cluster IP, so HTTP and gRPC requests carry
// an authority that the service's virtual host matches (Istio adds the VIP to its domains).
/* global fetch */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastLines, start } from './procs.mjs';

export const NAMESPACE = 'bench';

/** Source folders the pilot runs from besides src/cli: `sparMode(root, choice, PILOT_DIRS)` picks dist or tsx for it. */
export const PILOT_DIRS = ['pilot', 'xds', 'model', 'config', 'registry'];

/** Istio port-name prefix and Sidecar protocol per benchmark protocol. */
const PORT_PROTOCOL = {
  http1: { prefix: 'http', istio: 'HTTP' },
  h2c: { prefix: 'http2', istio: 'HTTP2' },
  grpc: { prefix: 'grpc', istio: 'GRPC' },
  tcp: { prefix: 'tcp', istio: 'TCP' },
};

/** The ISTIO_VERSION sidecars announce (src/agent/bootstrap.ts). */
const ISTIO_VERSION = '1.28.0';

/** Mesh config for the benchmark: plaintext between sidecars (no CA, no SDS here), as the static bootstraps. */
export const MESH_CONFIG = 'enableAutoMtls: false\n';

/**
 * The Istio YAML for a set of chains. Each chain: { id, k, protocol, hops, svcPort, ingressPort, fortioPort }.
 * k (1..250) picks the cluster IP 127.0.1.<k>.
 */
export function chainConfigYaml(chains) {
  const docs = [];
  for (const c of chains) {
    const pp = PORT_PROTOCOL[c.protocol.id];
    const svc = `fortio-${c.id}`;
    const target = c.hops === 2 ? c.ingressPort : c.fortioPort;
    const portName = `${pp.prefix}-fortio`;
    docs.push(`apiVersion: v1
kind: Service
metadata: {name: ${svc}, namespace: ${NAMESPACE}, labels: {app: ${svc}}}
spec:
  clusterIP: ${vip(c)}
  selector: {app: ${svc}}
  ports: [{name: ${portName}, port: ${c.svcPort}, targetPort: ${target}}]
`);
    docs.push(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${svc}-bench
  namespace: ${NAMESPACE}
  labels: {kubernetes.io/service-name: ${svc}}
addressType: IPv4
ports: [{name: ${portName}, port: ${target}, protocol: TCP}]
endpoints:
- addresses: [127.0.0.1]
  conditions: {ready: true}
`);
    docs.push(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: client-${c.id}, namespace: ${NAMESPACE}}
spec:
  workloadSelector: {labels: {app: client-${c.id}}}
  egress:
  - port: {number: ${c.svcPort}, protocol: ${pp.istio}, name: egress-${pp.prefix}}
    bind: ${vip(c)}
    captureMode: NONE
    hosts: ["./${svc}.${NAMESPACE}.svc.cluster.local"]
`);
    if (c.hops === 2) {
      docs.push(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: server-${c.id}, namespace: ${NAMESPACE}}
spec:
  workloadSelector: {labels: {app: server-${c.id}}}
  ingress:
  - port: {number: ${c.ingressPort}, protocol: ${pp.istio}, name: ${pp.prefix}-in}
    bind: 127.0.0.1
    captureMode: NONE
    defaultEndpoint: 127.0.0.1:${c.fortioPort}
  egress:
  - hosts: ["~/*"]
`);
    }
  }
  return docs.join('---\n');
}

/** The address the client dials for a chain: its service's cluster IP, where the client sidecar's egress listener is bound. */
export const vip = (c) => `127.0.1.${c.k}`;

/**
 * A sidecar's bootstrap as Istio's agent writes it (src/agent/bootstrap.ts, test/helpers/envoy.ts
 * adsBootstrap): node `sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local`, cluster `<app>.<ns>`, Istio's
 * metadata, delta ADS to the pilot over the static `xds-grpc` cluster (HTTP/2), CDS and LDS from ADS.
 * Left out, for both proxies alike: the agent's clusters and the 15090/15021 listeners (fixed ports;
 * several sidecars share this host), the SDS socket (no mTLS here). `flavor: 'envoy'` adds Istio's
 * stats matcher (src/agent/bootstrap.ts, from Istio's golden bootstrap), which keeps Envoy from
 * allocating every per-cluster stat; `spar proxy` does not take stats_config, as the agent knows.
 */
export function sidecarBootstrap({ podName, ip, labels, xdsPort, adminPort, interception = 'NONE', namespace = NAMESPACE, flavor = 'spar' }) {
  const app = labels.app ?? podName;
  return {
    ...(flavor === 'envoy' ? ENVOY_ONLY : {}),
    node: {
      id: `sidecar~${ip}~${podName}.${namespace}~${namespace}.svc.cluster.local`,
      cluster: `${app}.${namespace}`,
      locality: {},
      metadata: {
        CLUSTER_ID: 'Kubernetes',
        INSTANCE_IPS: ip,
        INTERCEPTION_MODE: interception,
        ISTIO_VERSION,
        LABELS: labels,
        MESH_ID: 'cluster.local',
        NAME: podName,
        NAMESPACE: namespace,
        POD_NAME: podName,
        SERVICE_ACCOUNT: 'default',
        WORKLOAD_NAME: app,
        PROXY_CONFIG: { discoveryAddress: `127.0.0.1:${xdsPort}`, proxyAdminPort: adminPort, statusPort: 15020 },
      },
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    dynamic_resources: {
      lds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' },
      cds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' },
      ads_config: { api_type: 'DELTA_GRPC', set_node_on_first_message_only: true, transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] },
    },
    static_resources: {
      clusters: [{
        name: 'xds-grpc',
        type: 'STATIC',
        connect_timeout: '1s',
        lb_policy: 'ROUND_ROBIN',
        load_assignment: { cluster_name: 'xds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: xdsPort } } } }] }] },
        circuit_breakers: { thresholds: ['DEFAULT', 'HIGH'].map((priority) => ({ priority, max_connections: 100000, max_pending_requests: 100000, max_requests: 100000 })) },
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
            '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
            explicit_http_config: { http2_protocol_options: {} },
          },
        },
      }],
    },
    layered_runtime: {
      layers: [
        { name: 'global config', static_layer: { 'envoy.reloadable_features.http_reject_path_with_fragment': false, 're2.max_program_size.error_level': '32768' } },
        { name: 'admin', admin_layer: {} },
      ],
    },
  };
}

/** What Istio's agent writes for Envoy only (src/agent/bootstrap.ts, flavor envoy): the stats inclusion list. */
const ENVOY_ONLY = {
  stats_config: {
    use_all_default_tags: false,
    stats_matcher: { inclusion_list: { patterns: ['reporter=', 'cluster_manager', 'listener_manager', 'server', 'cluster.xds-grpc', 'wasm', 'component', 'istio'].map((prefix) => ({ prefix })) } },
  },
};

/** The node id sidecarBootstrap gives. */
export const nodeIdOf = (b) => b.node.id;

/**
 * Starts `spar pilot --config DIR` (free ports, no file watching; synthetic cluster IPs only when asked) and waits
 * for its "pilot ready" line. Returns { proc, xdsPort, debugPort, syncz() }.
 */
export async function startPilot({ repoRoot, configDir, workDir, cpus, env, syntheticAddresses = false, timeoutMs = 120_000 }) {
  const meshFile = join(workDir, 'mesh.yaml');
  writeFileSync(meshFile, MESH_CONFIG);
  const proc = start('spar pilot', process.execPath, [
    join(repoRoot, 'bin', 'spar.js'), 'pilot', '--config', configDir, '--mesh', meshFile,
    '--port', '0', '--debug-port', '0', '--host', '127.0.0.1', '--no-watch', ...(syntheticAddresses ? [] : ['--no-synthetic-addresses']), '--log-level', 'info',
  ], { cpus, cwd: repoRoot, env: { ...process.env, ...env } });
  const deadline = Date.now() + timeoutMs;
  let ports;
  while (!ports) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw new Error(`spar pilot exited (${proc.child.exitCode ?? proc.child.signalCode}): ${lastLines(proc.log(), 5)}`);
    if (Date.now() > deadline) throw new Error(`spar pilot not ready after ${timeoutMs} ms: ${lastLines(proc.log(), 5)}`);
    for (const line of proc.log().split('\n')) {
      if (!line.includes('"pilot ready"')) continue;
      try {
        const j = JSON.parse(line);
        ports = { xdsPort: j.xdsPort, debugPort: j.debugPort };
      } catch {
        // a partial line; read again
      }
    }
    if (!ports) await new Promise((r) => setTimeout(r, 100));
  }
  const syncz = async () => {
    const r = await fetch(`http://127.0.0.1:${ports.debugPort}/debug/syncz`);
    return r.json();
  };
  return { proc, ...ports, syncz };
}

/**
 * Resolves once the pilot reports the proxy `nodeId` connected with CDS, LDS (and EDS / RDS when
 * it subscribed to them) ACKed at the version last sent, twice in a row `stableMs` apart; throws on a
 * NACK, when `proc` exits, or after timeoutMs. Returns ms waited.
 */
export async function waitSynced(pilot, nodeId, { proc, timeoutMs = 60_000, stableMs = 500, need = ['CDS', 'LDS'] } = {}) {
  const t0 = Date.now();
  let okSince = 0;
  let last = 'not connected';
  for (;;) {
    if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
      throw new Error(`${proc.name} exited (${proc.child.exitCode ?? proc.child.signalCode}): ${lastLines(proc.log())}`);
    }
    let st;
    try {
      st = (await pilot.syncz()).find((s) => s.proxy_id === nodeId);
    } catch (e) {
      last = `syncz: ${e.message}`;
    }
    if (st) {
      const types = Object.entries(st.types);
      const nack = types.find(([, t]) => t.status === 'NACKED');
      if (nack) throw new Error(`${nodeId} NACKed ${nack[0]}: ${nack[1].nack?.message?.slice(0, 300)}`);
      const ok = need.every((t) => st.types[t]?.status === 'SYNCED') && types.every(([, t]) => t.status === 'SYNCED' || t.status === 'NOT SENT');
      last = types.map(([k, t]) => `${k} ${t.status}`).join(', ');
      if (ok) {
        if (!okSince) okSince = Date.now();
        else if (Date.now() - okSince >= stableMs) return okSince - t0;
      } else okSince = 0;
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`${nodeId} not synced after ${timeoutMs} ms (${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
