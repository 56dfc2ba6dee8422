/**
 * `spar agent`: Istio's pilot-agent for one pod. In order: traffic capture in the pod's network
 * namespace (unless an init step already installed it — then it is left as found), the bootstrap
 * (bootstrap.ts), the xDS forwarder to the pilot, the status server (15020), and the proxy under
 * UID 1337, supervised. `stop()` drains the proxy, closes the servers and removes the capture it
 * installed.
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { repoRoot } from '../common/paths.js';
import { buildBootstrap, nodeId } from './bootstrap.js';
import { envoyBinaryForProxy } from './envoy-bin.js';
import { applyCapture, captureConfigFromAnnotations, captureInstalled, netnsRunner, removeCapture } from './iptables.js';
import { rewriteAppProbes, type AppProbers, type KubeContainer } from './probes.js';
import { ProxySupervisor, type ProxyKind } from './proxy.js';
import { StatusServer } from './status.js';
import { XdsForwarder } from './xds-proxy.js';

/** What the agent knows of its pod (Istio's agent: the downward API and env). */
export interface PodInfo {
  name: string;
  namespace: string;
  ip: string;
  serviceAccount: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  workloadName?: string;
  containers: KubeContainer[];
}

export interface AgentOptions {
  type: 'sidecar' | 'router';
  pod: PodInfo;
  /** The pilot: `unix:///path` or `host:port`. */
  discoveryAddress: string;
  proxy: ProxyKind;
  /** Where the bootstrap and the XDS socket go (Istio: ./etc/istio/proxy). */
  workDir: string;
  /** Install capture (sidecars). */
  capture: boolean;
  /** ISTIO_KUBE_APP_PROBERS; computed from the pod's containers when absent. */
  probers?: AppProbers;
  statusPort?: number;
  adminPort?: number;
  drainDurationS?: number;
  proxyUid?: number;
  proxyGid?: number;
  proxyLogLevel?: string;
  /** The envoy binary for `proxy: 'envoy'` (default: found on PATH, copied to /var/lib/spar/bin if UID 1337 cannot reach it). */
  envoyBin?: string;
  log?: (msg: string) => void;
}

export class Agent {
  private installedCapture = false;
  private status?: StatusServer;
  private xds?: XdsForwarder;
  private supervisor?: ProxySupervisor;
  readonly bootstrapPath: string;
  readonly log: (msg: string) => void;

  constructor(private readonly o: AgentOptions) {
    this.bootstrapPath = join(o.workDir, 'envoy-rev.json');
    this.log = o.log ?? ((m) => process.stderr.write(`${new Date().toISOString()}\tinfo\tagent\t${m}\n`));
  }

  get nodeId(): string {
    return nodeId({ type: this.o.type, podIp: this.o.pod.ip, podName: this.o.pod.name, namespace: this.o.pod.namespace });
  }

  get proxyPid(): number | undefined {
    return this.supervisor?.pid;
  }

  async start(): Promise<void> {
    const o = this.o;
    const adminPort = o.adminPort ?? 15000;
    const statusPort = o.statusPort ?? 15020;
    const drainDurationS = o.drainDurationS ?? 5;
    mkdirSync(o.workDir, { recursive: true });
    const blocked = closedDirectory(o.workDir);
    if (blocked) throw new Error(`${blocked} is closed to other users, so the proxy (UID ${o.proxyUid ?? 1337}) could not read its bootstrap in ${o.workDir}; chmod o+x ${blocked} or choose another --work-dir`);
    const closedCheckout = o.proxy === 'spar' ? closedDirectory(repoRoot) : undefined;
    if (closedCheckout) throw new Error(`${closedCheckout} is closed to other users, so \`spar proxy\` cannot run from ${repoRoot} as UID ${o.proxyUid ?? 1337}; chmod o+x ${closedCheckout}, move the checkout, or use --proxy envoy`);

    if (o.type === 'sidecar' && o.capture) {
      const run = netnsRunner();
      if (captureInstalled(run)) {
        this.log('capture already installed (init step); leaving it as found');
      } else {
        const rules = applyCapture(captureConfigFromAnnotations(o.pod.annotations), run);
        this.installedCapture = true;
        this.log(`capture installed: ${rules.length} iptables rules (outbound → 15001, inbound → 15006)`);
      }
    }

    const xdsListen = o.proxy === 'envoy' ? `unix://${join(o.workDir, 'XDS')}` : '127.0.0.1:15010';
    this.xds = new XdsForwarder({ listen: xdsListen, upstream: o.discoveryAddress });
    await this.xds.listen();

    const bootstrap = buildBootstrap({
      type: o.type,
      podName: o.pod.name,
      namespace: o.pod.namespace,
      podIp: o.pod.ip,
      serviceAccount: o.pod.serviceAccount,
      labels: o.pod.labels,
      annotations: o.pod.annotations,
      workloadName: o.pod.workloadName,
      podPorts: o.pod.containers.flatMap((c) => c.ports ?? []),
      appContainers: o.pod.containers.map((c) => c.name),
      discoveryAddress: xdsListen,
      adminPort,
      statusPort,
      drainDurationS,
      flavor: o.proxy,
    });
    writeFileSync(this.bootstrapPath, JSON.stringify(bootstrap, null, 2));

    const probers = o.probers ?? rewriteAppProbes(o.pod.containers, statusPort).probers;
    this.supervisor = new ProxySupervisor({
      kind: o.proxy,
      envoyBin: o.proxy === 'envoy' ? o.envoyBin ?? envoyBinaryForProxy('/var/lib/spar/bin') : undefined,
      bootstrapPath: this.bootstrapPath,
      uid: o.proxyUid ?? 1337,
      gid: o.proxyGid ?? 1337,
      adminPort,
      drainDurationS,
      logLevel: o.proxyLogLevel ?? 'warning',
      log: this.log,
    });
    const supervisor = this.supervisor;
    this.status = new StatusServer({ port: statusPort, adminPort, podIp: o.pod.ip, probers, proxyUp: () => supervisor.up });
    await this.status.listen();
    this.log(`status server on :${statusPort} (/healthz/ready, ${Object.keys(probers).length} app probes)`);
    supervisor.start();
  }

  /** Resolves once the proxy is ready (its admin /ready answers 200). */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.status?.proxyReady()) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`proxy of ${this.o.pod.name} not ready after ${timeoutMs} ms`);
  }

  async stop(): Promise<void> {
    await this.supervisor?.stop();
    await this.status?.close();
    await this.xds?.close();
    if (this.installedCapture) {
      removeCapture(netnsRunner());
      this.installedCapture = false;
      this.log('capture removed');
    }
  }
}

/** The first directory on the way to `dir` that others may not enter, if any. */
function closedDirectory(dir: string): string | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return d;
    if (dirname(d) === d) return undefined;
  }
}
