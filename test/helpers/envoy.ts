/**
 * Real Envoy for tests: writes a bootstrap, starts `envoy` (from PATH) with its admin API on a free
 * 127.0.0.1 port, waits for /ready, reads /stats and /config_dump, and kills it on stop. Shared by
 * the pilot's real-Envoy tests and the proxy team's conformance tests.
 *
 *   const envoy = await startEnvoy({ bootstrap: adsBootstrap({ xds: '127.0.0.1:15010', nodeId }) });
 *   await envoy.waitReady();
 *   assert.equal(await envoy.rejectedUpdates(), 0);
 *   await envoy.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Json = Record<string, unknown>;

/** Ports this process has handed out: the kernel may give a released port to the next bind(0). */
const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1 (bound then released), never one this process handed out before:
 * two calls in a row (Envoy's and spar's listener in one test) once got the same port and one
 * proxy failed with EADDRINUSE.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, host, () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

export interface AdsBootstrapOptions {
  /** The ADS server, `host:port` or `unix:///path/to/socket`. */
  xds: string;
  /** Node id as Istio's agent sends it: `sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local`. */
  nodeId: string;
  /** Node metadata (NAMESPACE, LABELS, SERVICE_ACCOUNT, ISTIO_VERSION ...); Istio's defaults are filled in. */
  metadata?: Json;
  /** Node cluster (Istio: `<app>.<namespace>`). */
  cluster?: string;
  /** DELTA_GRPC (Istio's default) or GRPC (state of the world). */
  delta?: boolean;
  /** initial_fetch_timeout for CDS/LDS (Istio: 0s). */
  initialFetchTimeout?: string;
  /** The agent's SDS socket behind the static `sds-grpc` cluster (default: a path nobody serves). */
  sdsUds?: string;
}

/**
 * A bootstrap shaped like the one Istio's agent writes (testdata/bootstrap/*_golden.json): node with
 * Istio metadata, ADS over the static `xds-grpc` cluster (HTTP/2), CDS and LDS from ADS.
 */
export function adsBootstrap(o: AdsBootstrapOptions): Json {
  let xdsAddress: Json;
  if (o.xds.startsWith('unix:')) {
    xdsAddress = { pipe: { path: o.xds.replace(/^unix:(\/\/)?/, '') } };
  } else {
    const i = o.xds.lastIndexOf(':');
    xdsAddress = { socket_address: { address: o.xds.slice(0, i), port_value: Number(o.xds.slice(i + 1)) } };
  }
  const parts = o.nodeId.split('~');
  const podNs = parts[2] ?? 'envoy.default';
  const ns = podNs.includes('.') ? podNs.slice(podNs.indexOf('.') + 1) : 'default';
  const podName = podNs.split('.')[0];
  const h2 = {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      explicit_http_config: { http2_protocol_options: {} },
    },
  };
  const staticCluster = (name: string, address: Json, http2: boolean): Json => ({
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    lb_policy: 'ROUND_ROBIN',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address } }] }] },
    ...(http2 ? { typed_extension_protocol_options: h2 } : {}),
  });
  return {
    node: {
      id: o.nodeId,
      cluster: o.cluster ?? `${podName.split('-')[0]}.${ns}`,
      locality: {},
      metadata: {
        NAMESPACE: ns,
        NAME: podName,
        INSTANCE_IPS: parts[1] ?? '127.0.0.1',
        ISTIO_VERSION: '1.28.0',
        CLUSTER_ID: 'Kubernetes',
        MESH_ID: 'cluster.local',
        PROXY_CONFIG: { discoveryAddress: o.xds, proxyAdminPort: 15000, statusPort: 15020 },
        ...o.metadata,
      },
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    dynamic_resources: {
      lds_config: { ads: {}, initial_fetch_timeout: o.initialFetchTimeout ?? '0s', resource_api_version: 'V3' },
      cds_config: { ads: {}, initial_fetch_timeout: o.initialFetchTimeout ?? '0s', resource_api_version: 'V3' },
      ads_config: {
        api_type: o.delta === false ? 'GRPC' : 'DELTA_GRPC',
        set_node_on_first_message_only: true,
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }],
      },
    },
    static_resources: {
      clusters: [
        staticCluster('xds-grpc', xdsAddress, true),
        staticCluster('sds-grpc', { pipe: { path: o.sdsUds ?? './var/run/secrets/workload-spiffe-uds/socket' } }, true),
        staticCluster('agent', { socket_address: { address: '127.0.0.1', port_value: 15020 } }, false),
      ],
    },
    layered_runtime: {
      layers: [
        { name: 'global config', static_layer: { 're2.max_program_size.error_level': '32768', 'envoy.reloadable_features.http_reject_path_with_fragment': false } },
        { name: 'admin', admin_layer: {} },
      ],
    },
  };
}

export interface EnvoyOptions {
  bootstrap: Json;
  /** Envoy's log level (default warning); the log is kept in memory for failure messages. */
  logLevel?: string;
  /** Extra command-line arguments. */
  args?: string[];
  /** The binary (default `envoy` on PATH, or $ENVOY_BIN). */
  bin?: string;
  /**
   * Run Envoy in its own network namespace (`unshare -n`, needs root): its listeners (15001,
   * 15006, 8080 ...) cannot collide with anything else on the machine. The admin API then listens
   * on a Unix socket, and xDS must be reached over one (`xds: 'unix:///...'`).
   */
  isolateNetwork?: boolean;
}

export interface Envoy {
  /** `http://127.0.0.1:<port>`, or `unix:<path>` with isolateNetwork. */
  readonly adminUrl: string;
  readonly process: ChildProcess;
  /** Resolves once GET /ready answers 200 (initial xDS fetched). */
  waitReady(timeoutMs?: number): Promise<void>;
  /** All counters and gauges from /stats. */
  stats(filter?: string): Promise<Record<string, number>>;
  /** Sum of every `*update_rejected` counter (xDS NACKs Envoy sent). */
  rejectedUpdates(): Promise<number>;
  /** GET /config_dump (optionally `?resource=dynamic_listeners` etc.). */
  configDump(query?: string): Promise<Json>;
  /** GET an admin path as text. */
  admin(path: string, method?: 'GET' | 'POST'): Promise<string>;
  /** Polls `cond` until it holds (for asynchronous xDS updates). */
  waitFor(cond: () => Promise<boolean>, timeoutMs?: number, what?: string): Promise<void>;
  /** Envoy's log so far. */
  log(): string;
  stop(): Promise<void>;
}

/** Starts Envoy with `bootstrap`; resolves once its admin API answers. */
export async function startEnvoy(opts: EnvoyOptions): Promise<Envoy> {
  const dir = mkdtempSync(join(tmpdir(), 'spar-envoy-'));
  const cfg = join(dir, 'bootstrap.json');
  const addrFile = join(dir, 'admin-address');
  const adminSock = join(dir, 'admin.sock');
  const bootstrap = opts.isolateNetwork ? { ...opts.bootstrap, admin: { address: { pipe: { path: adminSock } } } } : opts.bootstrap;
  writeFileSync(cfg, JSON.stringify(bootstrap));
  const bin = opts.bin ?? process.env.ENVOY_BIN ?? 'envoy';
  const args = ['-c', cfg, '--concurrency', '1', '--disable-hot-restart', '--admin-address-path', addrFile, '-l', opts.logLevel ?? 'warning', ...(opts.args ?? [])];
  const child = opts.isolateNetwork ? spawn('unshare', ['-n', bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let logText = '';
  const keep = (b: Buffer) => {
    logText += b.toString('utf8');
    if (logText.length > 400_000) logText = logText.slice(-200_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));

  const deadline = Date.now() + 20_000;
  let adminUrl = '';
  while (!adminUrl) {
    if (exited) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`envoy exited before its admin API came up:\n${tail(logText)}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`envoy admin API did not come up in 20 s:\n${tail(logText)}`);
    }
    if (opts.isolateNetwork) {
      if (existsSync(adminSock)) adminUrl = `unix:${adminSock}`;
    } else if (existsSync(addrFile)) {
      const a = readFileSync(addrFile, 'utf8').trim();
      if (a) adminUrl = `http://${a}`;
    }
    if (!adminUrl) await sleep(20);
  }

  const adminRequest = (path: string, method: 'GET' | 'POST' = 'GET'): Promise<{ status: number; body: string }> => new Promise((resolve, reject) => {
    const target = adminUrl.startsWith('unix:') ? { socketPath: adminUrl.slice(5) } : { host: new URL(adminUrl).hostname, port: Number(new URL(adminUrl).port) };
    const req = httpRequest({ ...target, path, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  const admin = async (path: string, method: 'GET' | 'POST' = 'GET'): Promise<string> => (await adminRequest(path, method)).body;

  const envoy: Envoy = {
    adminUrl,
    process: child,
    admin,
    log: () => logText,
    async waitReady(timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        try {
          if ((await adminRequest('/ready')).status === 200) return;
        } catch {
          // not yet
        }
        if (exited) throw new Error(`envoy exited:\n${tail(logText)}`);
        if (Date.now() > end) throw new Error(`envoy not ready in ${timeoutMs} ms:\n${tail(logText)}`);
        await sleep(50);
      }
    },
    async stats(filter?: string) {
      const text = await admin('/stats' + (filter ? `?filter=${encodeURIComponent(filter)}` : ''));
      const out: Record<string, number> = {};
      for (const line of text.split('\n')) {
        const i = line.lastIndexOf(': ');
        if (i < 0) continue;
        const v = Number(line.slice(i + 2));
        if (Number.isFinite(v)) out[line.slice(0, i)] = v;
      }
      return out;
    },
    async rejectedUpdates() {
      const s = await envoy.stats('update_rejected');
      return Object.entries(s).filter(([k]) => k.endsWith('update_rejected')).reduce((n, [, v]) => n + v, 0);
    },
    async configDump(query = '') {
      return JSON.parse(await admin('/config_dump' + (query ? `?${query}` : ''))) as Json;
    },
    async waitFor(cond, timeoutMs = 10_000, what = 'condition') {
      const end = Date.now() + timeoutMs;
      for (;;) {
        if (await cond()) return;
        if (exited) throw new Error(`envoy exited while waiting for ${what}:\n${tail(logText)}`);
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; envoy log tail:\n${tail(logText)}`);
        await sleep(50);
      }
    },
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exitPromise;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return envoy;
}

/** Names of the dynamic resources of one kind in a /config_dump. */
export function dumpNames(dump: Json, kind: 'clusters' | 'listeners' | 'routes' | 'endpoints'): string[] {
  const configs = (dump.configs as Json[]) ?? [];
  const out: string[] = [];
  for (const c of configs) {
    const t = String(c['@type'] ?? '');
    if (kind === 'clusters' && t.endsWith('ClustersConfigDump')) {
      for (const x of (c.dynamic_active_clusters as Json[]) ?? []) out.push(String((x.cluster as Json).name));
    } else if (kind === 'listeners' && t.endsWith('ListenersConfigDump')) {
      for (const x of (c.dynamic_listeners as Json[]) ?? []) if (x.active_state) out.push(String(x.name));
    } else if (kind === 'routes' && t.endsWith('RoutesConfigDump')) {
      for (const x of (c.dynamic_route_configs as Json[]) ?? []) out.push(String((x.route_config as Json).name));
    } else if (kind === 'endpoints' && t.endsWith('EndpointsConfigDump')) {
      for (const x of (c.dynamic_endpoint_configs as Json[]) ?? []) out.push(String((x.endpoint_config as Json).cluster_name));
    }
  }
  return out.sort();
}

/** Every listener/cluster/route still warming in a /config_dump. */
export function warming(dump: Json): string[] {
  const out: string[] = [];
  for (const c of (dump.configs as Json[]) ?? []) {
    for (const x of (c.dynamic_warming_clusters as Json[]) ?? []) out.push(`cluster ${(x.cluster as Json).name}`);
    for (const x of (c.dynamic_listeners as Json[]) ?? []) if (x.warming_state) out.push(`listener ${x.name}`);
  }
  return out;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One HTTP/1.1 request with full control of the Host header (fetch() sets its own), on a fresh
 * connection so that each request is routed and balanced on its own.
 */
export function httpGet(port: number, path = '/', headers: Record<string, string> = {}, host = '127.0.0.1'): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path, headers, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} on port ${port}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** The end of Envoy's log without its deprecation chatter. */
function tail(log: string, lines = 25): string {
  return log.split('\n').filter((l) => l && !l.includes('Deprecated field')).slice(-lines).join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
