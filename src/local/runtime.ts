/**
 * The local runtime behind `spar up`: one process (started in the background by `spar up`) that
 * plays the Kubernetes API server, kubelet, endpoint controller and kube-proxy for pods that are
 * network namespaces on one machine, and runs `spar pilot` beside them.
 *
 * Applied YAML is kept by kind/namespace/name; every change runs one reconcile: Deployments become
 * pods (started, or stopped when gone or changed), Services get VIPs, the pilot's config folder is
 * rewritten (pilot-config.ts), and every pod's hosts file and service DNAT rules are refreshed.
 * A probe loop marks pods ready, which makes them endpoints. The ingress gateway (istio-system,
 * as `istioctl install` would make it) is published on 127.0.0.1:<ingress port> by a TCP forwarder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { ConfigResource } from '../config/resource.js';
import type { K8sServiceSpec } from '../api/types.js';
import { selectorMatches } from '../model/service.js';
import { repoRoot } from '../common/paths.js';
import { envoyBinaryForProxy } from '../agent/envoy-bin.js';
import { isClusterScoped, netnsName, podsOfDeployment, resourceKey, vethName, type PodSpecLocal } from './manifests.js';
import { hostsFile, linkExists, setupBridge, deletePodNetwork, sh, shQuiet, updateServiceRules, writeEtcNetns, type NetworkConfig, type ServiceEntryLocal } from './network.js';
import { PilotConfigDir } from './pilot-config.js';
import { LocalPod } from './pods.js';
import { killGroup, podDir, readState, writeState, type PodRecord, type RuntimeState, type ServiceRecord } from './state.js';

export interface RuntimeOptions {
  stateDir: string;
  network: NetworkConfig;
  proxy: 'spar' | 'envoy';
  /** 127.0.0.1 port for the ingress gateway's HTTP port (0: any free port). */
  ingressPort: number;
  /** The pilot's debug port (15014; 0: any). */
  pilotDebugPort: number;
  /** Label the `default` namespace istio-injection=enabled unless a Namespace says otherwise. */
  injectDefault: boolean;
  fromSource: boolean;
  log: (msg: string) => void;
}

/** What `istioctl install` (default profile) adds: the ingress gateway, injected with the gateway template. */
export const BUILTIN_RESOURCES: Array<Record<string, unknown>> = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } },
  { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'istio-ingressgateway-service-account', namespace: 'istio-system' } },
  {
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'istio-ingressgateway', namespace: 'istio-system', labels: { app: 'istio-ingressgateway', istio: 'ingressgateway' } },
    spec: {
      type: 'LoadBalancer', selector: { app: 'istio-ingressgateway', istio: 'ingressgateway' },
      ports: [{ name: 'status-port', port: 15021, targetPort: 15021 }, { name: 'http2', port: 80, targetPort: 8080 }, { name: 'https', port: 443, targetPort: 8443 }],
    },
  },
  {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'istio-ingressgateway', namespace: 'istio-system' },
    spec: {
      selector: { matchLabels: { app: 'istio-ingressgateway', istio: 'ingressgateway' } },
      template: {
        metadata: { labels: { app: 'istio-ingressgateway', istio: 'ingressgateway' }, annotations: { 'inject.istio.io/templates': 'gateway' } },
        spec: { serviceAccountName: 'istio-ingressgateway-service-account', containers: [{ name: 'istio-proxy', image: 'auto' }] },
      },
    },
  },
];

function toResource(raw: Record<string, unknown>): ConfigResource {
  const apiVersion = String(raw.apiVersion ?? 'v1');
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') as [string, string] : ['', apiVersion];
  const metadata = (raw.metadata ?? {}) as ConfigResource['metadata'];
  const kind = String(raw.kind);
  return { apiVersion, kind, group, version, name: metadata.name ?? '', namespace: isClusterScoped(kind) ? '' : metadata.namespace ?? 'default', metadata, spec: (raw.spec ?? {}) as Record<string, unknown>, raw } as ConfigResource;
}

const ipToInt = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const intToIp = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

export interface PodStatus extends PodRecord {
  key: string;
}

export class LocalRuntime {
  readonly state: RuntimeState;
  private readonly resources = new Map<string, ConfigResource>();
  private readonly pods = new Map<string, LocalPod>();
  private readonly pilotDir: PilotConfigDir;
  private pilot?: ChildProcess;
  private forwarder?: Server;
  private readonly forwarded = new Set<Socket>();
  private queue: Promise<void> = Promise.resolve();
  private probeTimer?: NodeJS.Timeout;
  private stopped = false;
  private pilotStatus = 'starting';
  private envoyBin?: string;
  private debugPort: number;
  readonly xdsUds: string;

  constructor(private readonly o: RuntimeOptions) {
    this.pilotDir = new PilotConfigDir(join(o.stateDir, 'config'));
    this.debugPort = o.pilotDebugPort;
    this.xdsUds = join(o.stateDir, 'xds.sock');
    this.state = readState(o.stateDir) ?? {
      version: 1, instance: o.stateDir, proxy: o.proxy, startedAt: Date.now(), pods: {}, services: {}, netns: {},
    };
    this.state.daemonPid = process.pid;
    this.state.proxy = o.proxy;
    this.state.startedAt = Date.now();
  }

  private save(): void {
    writeState(this.o.stateDir, this.state);
  }

  /** Bridge, pilot, built-in resources, ingress forwarder. */
  async start(): Promise<void> {
    const o = this.o;
    mkdirSync(o.stateDir, { recursive: true });
    this.state.bridge = o.network.bridge;
    this.save();
    setupBridge(o.network);
    // Bridged traffic crosses the host's FORWARD chain when br_netfilter is loaded; if its policy drops, let spar0 ↔ spar0 through.
    if (/^-P FORWARD (DROP|REJECT)/m.test(sh('iptables', ['-S', 'FORWARD']))) {
      this.state.forwardRule = true;
      this.save();
      sh('iptables', ['-I', 'FORWARD', '-i', o.network.bridge, '-o', o.network.bridge, '-m', 'comment', '--comment', 'spar', '-j', 'ACCEPT']);
    }
    // Envoy under UID 1337 may not reach the binary on PATH (pip under /root): a copy in the state dir, gone with `spar down`.
    if (o.proxy === 'envoy') this.envoyBin = envoyBinaryForProxy(join(o.stateDir, 'bin'));
    // Istio's demo profile, which its tasks assume: access logs on stdout (`spar logs POD -c istio-proxy`).
    writeFileSync(join(o.stateDir, 'mesh.yaml'), '# spar up: no CA yet, so plaintext between sidecars\nenableAutoMtls: false\naccessLogFile: /dev/stdout\n');
    for (const r of BUILTIN_RESOURCES) this.resources.set(resourceKey(toResource(r)), toResource(r));
    await this.reconcileNow();
    // Pods start while the pilot boots: their agents hold the proxies' ADS connections until it answers.
    this.startPilot().then(() => {
      this.pilotStatus = 'ready';
    }, (e: Error) => {
      this.pilotStatus = `failed: ${e.message}`;
      this.o.log(`pilot ${this.pilotStatus}`);
    });
    await this.startForwarder();
    this.probeTimer = setInterval(() => void this.enqueue(() => this.probe()), 500);
  }

  /** Whether 127.0.0.1:port can be bound (the pilot's debug port may be taken by another pilot). */
  private portFree(port: number): Promise<boolean> {
    if (port === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
  }

  private async startPilot(): Promise<void> {
    const logPath = join(this.o.stateDir, 'pilot.log');
    if (!(await this.portFree(this.debugPort))) {
      this.o.log(`127.0.0.1:${this.debugPort} is taken; the pilot's debug port will be any free one`);
      this.debugPort = 0;
    }
    const fd = openSync(logPath, 'a');
    const args = [join(repoRoot, 'bin', 'spar.js'), 'pilot', '--config', this.pilotDir.dir, '--mesh', join(this.o.stateDir, 'mesh.yaml'), '--port', '0',
      '--debug-port', String(this.debugPort), '--host', '127.0.0.1', '--xds-uds', this.xdsUds, '--no-synthetic-addresses', '--debounce', '100ms'];
    const start = readFileSync(logPath, 'utf8').length;
    this.pilot = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, ...(this.o.fromSource ? { SPAR_TSX: '1' } : {}) }, stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    this.state.pilotPid = this.pilot.pid;
    this.save();
    this.pilot.on('exit', (code, signal) => {
      if (!this.stopped) this.o.log(`pilot exited (${signal ?? `code ${code}`}); see ${logPath}`);
    });
    const deadline = Date.now() + 60_000;
    let text: string;
    while (!(text = readFileSync(logPath, 'utf8').slice(start)).includes('pilot ready')) {
      if (this.stopped) return;
      if (this.pilot.exitCode !== null || Date.now() > deadline) throw new Error(`spar pilot did not start:\n${text.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const bound = /"debugPort":(\d+)/.exec(text.split('\n').find((l) => l.includes('pilot ready')) ?? '');
    if (bound) this.debugPort = Number(bound[1]);
    this.o.log('pilot ready');
  }

  /** 127.0.0.1:<port> → the ingress gateway pod's http2 target port. */
  private startForwarder(): Promise<void> {
    this.forwarder = createServer((down) => {
      const target = this.ingressTarget();
      if (!target) {
        down.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 32\r\nconnection: close\r\n\r\nthe ingress gateway is not ready\n');
        return;
      }
      const up = connect(target.port, target.ip);
      for (const s of [down, up]) {
        this.forwarded.add(s);
        s.on('close', () => this.forwarded.delete(s));
        s.on('error', () => {
          down.destroy();
          up.destroy();
        });
      }
      down.pipe(up);
      up.pipe(down);
    });
    const server = this.forwarder;
    return new Promise((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new Error(`127.0.0.1:${this.o.ingressPort} is in use (choose another with --port)`) : e));
      server.listen(this.o.ingressPort, '127.0.0.1', () => {
        this.state.ingress = { host: '127.0.0.1', port: (server.address() as { port: number }).port };
        this.save();
        resolve();
      });
    });
  }

  private ingressTarget(): { ip: string; port: number } | undefined {
    const svc = this.resources.get('Service/istio-system/istio-ingressgateway');
    const port = ((svc?.spec as K8sServiceSpec | undefined)?.ports ?? []).find((p) => p.port === 80);
    const target = typeof port?.targetPort === 'number' ? port.targetPort : 8080;
    const pod = Object.values(this.state.pods).find((p) => p.gateway && p.ready && p.namespace === 'istio-system' && p.labels.istio === 'ingressgateway');
    return pod ? { ip: pod.ip, port: target } : undefined;
  }

  private enqueue(fn: () => Promise<void> | void): Promise<void> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch((e: Error) => this.o.log(`error: ${e.message}`));
    return next;
  }

  /** Adds or replaces resources, then reconciles. Returns kubectl-style lines. */
  apply(raws: Array<Record<string, unknown>>): Promise<string[]> {
    const out: string[] = [];
    return this.enqueue(async () => {
      for (const raw of raws) {
        const r = toResource(raw);
        const key = resourceKey(r);
        const prev = this.resources.get(key);
        this.resources.set(key, r);
        out.push(`${r.kind.toLowerCase()}/${r.name} ${!prev ? 'created' : JSON.stringify(prev.raw) === JSON.stringify(raw) ? 'unchanged' : 'configured'}`);
      }
      await this.reconcileNow();
    }).then(() => out);
  }

  delete(raws: Array<Record<string, unknown>>): Promise<string[]> {
    const out: string[] = [];
    return this.enqueue(async () => {
      for (const raw of raws) {
        const r = toResource(raw);
        if (this.resources.delete(resourceKey(r))) out.push(`${r.kind.toLowerCase()} "${r.name}" deleted`);
        else out.push(`${r.kind.toLowerCase()} "${r.name}" not found`);
      }
      await this.reconcileNow();
    }).then(() => out);
  }

  private namespaceLabels(ns: string): Record<string, string> | undefined {
    const r = this.resources.get(`Namespace//${ns}`);
    if (r) return r.metadata.labels ?? {};
    if (ns === 'default' && this.o.injectDefault) return { 'istio-injection': 'enabled' };
    return undefined;
  }

  private desiredPods(): Map<string, PodSpecLocal> {
    const out = new Map<string, PodSpecLocal>();
    for (const r of this.resources.values()) {
      if (r.kind !== 'Deployment') continue;
      for (const p of podsOfDeployment(r, this.namespaceLabels(r.namespace))) {
        if (p.annotations['inject.istio.io/templates'] === 'gateway') {
          p.gateway = true;
          p.sidecar = false;
        }
        out.set(`${p.namespace}/${p.name}`, p);
      }
    }
    return out;
  }

  private allocate(used: Set<string>, cidr: string, first: number): string {
    const [base, bits] = cidr.split('/') as [string, string];
    const start = ipToInt(base);
    const size = 2 ** (32 - Number(bits));
    for (let i = first; i < size - 1; i++) {
      const ip = intToIp(start + i);
      if (!used.has(ip)) return ip;
    }
    throw new Error(`no free address left in ${cidr}`);
  }

  private syncServices(): void {
    const services: Record<string, ServiceRecord> = {};
    const used = new Set(Object.values(this.state.services).map((s) => s.vip));
    for (const r of this.resources.values()) {
      if (r.kind !== 'Service' || r.group !== '') continue;
      const spec = r.spec as K8sServiceSpec;
      if (spec.type === 'ExternalName' || spec.clusterIP === 'None') continue;
      const key = `${r.namespace}/${r.name}`;
      const vip = this.state.services[key]?.vip ?? this.allocate(used, this.o.network.serviceCidr, 10);
      used.add(vip);
      services[key] = {
        name: r.name, namespace: r.namespace, vip, selector: spec.selector,
        ports: (spec.ports ?? []).map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort, protocol: p.protocol ?? 'TCP' })),
      };
    }
    this.state.services = services;
  }

  /** Service entries with ready endpoints, as the pod network resolves them. */
  private serviceEntries(): ServiceEntryLocal[] {
    return Object.values(this.state.services).map((s) => ({
      name: s.name, namespace: s.namespace, vip: s.vip,
      ports: s.ports.map((p) => ({
        port: p.port,
        protocol: p.protocol,
        endpoints: !s.selector ? [] : Object.values(this.state.pods)
          .filter((pod) => pod.ready && pod.namespace === s.namespace && selectorMatches(s.selector!, pod.labels))
          .map((pod) => ({ ip: pod.ip, port: this.targetPort(pod, p.targetPort, p.port) }))
          .filter((e): e is { ip: string; port: number } => e.port !== undefined),
      })),
    }));
  }

  private targetPort(pod: PodRecord, target: number | string | undefined, port: number): number | undefined {
    if (target === undefined) return port;
    if (typeof target === 'number' || /^\d+$/.test(target)) return Number(target);
    const spec = this.pods.get(`${pod.namespace}/${pod.name}`)?.spec;
    for (const c of spec?.containers ?? []) for (const p of c.ports ?? []) if (p.name === target) return p.containerPort;
    return undefined;
  }

  private async reconcileNow(): Promise<void> {
    if (this.stopped) return;
    this.syncServices();
    const desired = this.desiredPods();
    // Stop what is no longer wanted.
    const gone = [...this.pods.entries()].filter(([k]) => !desired.has(k));
    await Promise.all(gone.map(async ([k, pod]) => {
      this.o.log(`pod ${k}: stopping`);
      await pod.stop();
      deletePodNetwork({ netns: pod.record.netns, veth: pod.record.veth });
      this.pods.delete(k);
      delete this.state.pods[k];
      delete this.state.netns[pod.record.netns];
      this.save();
    }));
    // Start what is new.
    const usedIps = new Set([this.o.network.gateway, ...Object.values(this.state.pods).map((p) => p.ip)]);
    for (const [k, spec] of desired) {
      if (this.pods.has(k)) continue;
      const ip = this.allocate(usedIps, this.o.network.podCidr, 10);
      usedIps.add(ip);
      const record: PodRecord = {
        name: spec.name, namespace: spec.namespace, deployment: spec.deployment, ip,
        netns: netnsName(this.state.instance, spec.namespace, spec.name), veth: vethName(this.state.instance, spec.namespace, spec.name),
        sidecar: spec.sidecar, gateway: !!spec.gateway, labels: spec.labels, containers: spec.gateway ? ['istio-proxy'] : [...spec.containers.map((c) => c.name), ...(spec.sidecar ? ['istio-proxy'] : [])],
        templateHash: spec.templateHash, pids: [], phase: 'Pending', ready: false, restarts: 0, createdAt: Date.now(),
      };
      // Written before anything is made, so that `spar down` finds it even after a crash.
      this.state.pods[k] = record;
      this.state.netns[record.netns] = record.veth;
      this.save();
      const pod = new LocalPod({ stateDir: this.o.stateDir, network: this.o.network, proxy: this.o.proxy, xdsUds: this.xdsUds, envoyBin: this.envoyBin, fromSource: this.o.fromSource, log: this.o.log }, spec, record, () => this.save());
      this.pods.set(k, pod);
      try {
        writeEtcNetns(record.netns, hostsFile(this.o.network, { name: spec.name, namespace: spec.namespace, ip }, this.serviceEntries()), { name: spec.name });
        pod.start();
        if (record.phase === 'Pending') record.phase = 'Running';
        this.o.log(`pod ${k}: started (${ip}, netns ${record.netns}${spec.sidecar ? ', sidecar' : spec.gateway ? ', gateway' : ''})`);
      } catch (e) {
        record.phase = 'Failed';
        record.message = (e as Error).message;
        this.o.log(`pod ${k}: ${record.message}`);
      }
      this.save();
    }
    this.refreshNetwork();
    this.writePilotConfig();
  }

  /** Hosts files and service rules of every pod. */
  private refreshNetwork(): void {
    const entries = this.serviceEntries();
    for (const p of Object.values(this.state.pods)) {
      if (p.phase === 'Failed' && !existsSync(`/var/run/netns/${p.netns}`)) continue;
      try {
        writeEtcNetns(p.netns, hostsFile(this.o.network, p, entries), p);
        updateServiceRules(p.netns, entries);
      } catch (e) {
        this.o.log(`pod ${p.namespace}/${p.name}: network update: ${(e as Error).message}`);
      }
    }
  }

  private writePilotConfig(): void {
    const keep = new Set<string>();
    for (const [key, r] of this.resources) {
      let raw = r.raw as Record<string, unknown>;
      if (r.kind === 'Service' && r.group === '') {
        const svc = this.state.services[`${r.namespace}/${r.name}`];
        if (svc) raw = { ...raw, spec: { ...(raw.spec as object), clusterIP: svc.vip, clusterIPs: [svc.vip] } };
      }
      if (r.kind === 'Namespace' && !raw.metadata) continue;
      keep.add(key);
      this.pilotDir.put(key, raw);
    }
    for (const [k, pod] of this.pods) {
      if (pod.record.phase !== 'Running') continue;
      const key = `Pod/${k}`;
      keep.add(key);
      this.pilotDir.put(key, pod.manifest(pod.record.ready));
    }
    this.pilotDir.prune(keep);
  }

  /** One round of readiness probes; a change refreshes endpoints (pilot and DNAT rules). */
  private async probe(): Promise<void> {
    if (this.stopped) return;
    let changed = false;
    await Promise.all([...this.pods.values()].map(async (pod) => {
      if (pod.record.phase !== 'Running') return;
      await pod.probeLive();
      const ready = await pod.probeReady();
      if (ready !== pod.record.ready) {
        pod.record.ready = ready;
        if (ready && !pod.record.readyAt) pod.record.readyAt = Date.now();
        changed = true;
        this.o.log(`pod ${pod.spec.namespace}/${pod.spec.name}: ${ready ? `ready after ${((Date.now() - pod.record.createdAt) / 1000).toFixed(1)} s` : 'not ready'}`);
      }
    }));
    if (changed) {
      this.save();
      this.refreshNetwork();
      this.writePilotConfig();
    }
  }

  status(): { pods: PodStatus[]; services: ServiceRecord[]; resources: Array<{ kind: string; namespace: string; name: string }>; ingress?: { host: string; port: number }; proxy: string; startedAt: number; pilotDebugPort: number; pilot: string } {
    return {
      resources: [...this.resources.values()].map((r) => ({ kind: r.kind, namespace: r.namespace, name: r.name })),
      pilot: this.pilotStatus,
      pods: Object.entries(this.state.pods).map(([key, p]) => ({ key, ...p })),
      services: Object.values(this.state.services),
      ingress: this.state.ingress,
      proxy: this.o.proxy,
      startedAt: this.state.startedAt,
      pilotDebugPort: this.debugPort,
    };
  }

  /** Stops every pod, the pilot and the forwarder, and removes the network. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.probeTimer) clearInterval(this.probeTimer);
    await this.queue.catch(() => undefined);
    await Promise.all([...this.pods.values()].map((p) => p.stop(3000)));
    for (const p of this.pods.values()) deletePodNetwork({ netns: p.record.netns, veth: p.record.veth });
    this.pods.clear();
    if (this.pilot?.pid && this.pilot.exitCode === null) {
      const exited = new Promise((r) => this.pilot!.once('exit', r));
      killGroup(this.pilot.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      killGroup(this.pilot.pid, 'SIGKILL');
    }
    for (const s of this.forwarded) s.destroy();
    await new Promise<void>((r) => (this.forwarder ? this.forwarder.close(() => r()) : r()));
    if (linkExists(this.o.network.bridge)) shQuiet('ip', ['link', 'del', this.o.network.bridge]);
    if (this.state.forwardRule) shQuiet('iptables', ['-D', 'FORWARD', '-i', this.o.network.bridge, '-o', this.o.network.bridge, '-m', 'comment', '--comment', 'spar', '-j', 'ACCEPT']);
    this.o.log('runtime stopped');
  }

  /** The folder of a pod (logs). */
  podDir(ns: string, name: string): string {
    return podDir(this.o.stateDir, ns, name);
  }
}
