/**
 * One pod of the local runtime, kubelet-style: its network (network.ts), the init step (Istio's
 * capture rules, as istio-init would install them, then the service chain after them), the agent
 * (`spar agent`, as root in the pod's namespace; it starts the proxy under UID 1337) and the app
 * containers (the image map's commands), each process in its own process group with its log in the
 * pod's folder, restarted with backoff when it exits (restartPolicy Always). Readiness is probed
 * from the host: the sidecar's 15021 `/healthz/ready`, and each container's readiness probe —
 * through the agent's rewritten `/app-health/<c>/readyz` when there is a sidecar.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveContainer } from '../../samples/images.js';
import { repoRoot } from '../common/paths.js';
import { applyCapture, captureConfigFromAnnotations, netnsRunner } from '../agent/iptables.js';
import { rewriteAppProbes, runProbe, type AppProbers, type KubeContainer, type KubeProbe } from '../agent/probes.js';
import type { PodSpecLocal } from './manifests.js';
import { createPodNetwork, installServiceChain, killNetnsProcesses, type NetworkConfig } from './network.js';
import { killGroup, podDir, type PodRecord } from './state.js';

export interface PodContext {
  stateDir: string;
  network: NetworkConfig;
  proxy: 'spar' | 'envoy';
  /** The pilot's ADS socket. */
  xdsUds: string;
  /** An envoy binary UID 1337 can run (for proxy: 'envoy'). */
  envoyBin?: string;
  fromSource: boolean;
  log: (msg: string) => void;
}

const fromSourceEnv = (fromSource: boolean) => (fromSource ? { SPAR_TSX: '1' } : {});

/** The containers' env as Kubernetes gives it (literal values; valueFrom is not resolved). */
function containerEnv(c: KubeContainer & { env?: Array<{ name: string; value?: string }> }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of c.env ?? []) if (e.value !== undefined) out[e.name] = e.value;
  return out;
}

/** Readiness probers: the container's own, else (Spar) a TCP check on each declared port. */
function readinessProbes(containers: readonly KubeContainer[]): KubeContainer[] {
  return containers.map((c) => {
    if (c.readinessProbe || !c.ports?.length) return c;
    return { ...c, readinessProbe: { tcpSocket: { port: c.ports[0]!.containerPort }, timeoutSeconds: 1 } };
  });
}

export class LocalPod {
  private readonly children = new Map<string, ChildProcess>();
  private stopping = false;
  private readonly dir: string;
  private readonly probed: KubeContainer[];
  private readonly probers: AppProbers;

  constructor(private readonly ctx: PodContext, readonly spec: PodSpecLocal, readonly record: PodRecord, private readonly onChange: () => void) {
    this.dir = podDir(ctx.stateDir, spec.namespace, spec.name);
    this.probed = readinessProbes(spec.containers as KubeContainer[]);
    this.probers = rewriteAppProbes(this.probed).probers;
  }

  /** The Pod manifest as the API server would hold it (the agent and the pilot read it). */
  manifest(ready: boolean): Record<string, unknown> {
    const s = this.spec;
    const labels = { ...s.labels, ...(s.sidecar || s.gateway ? { 'security.istio.io/tlsMode': 'istio', 'service.istio.io/canonical-name': s.labels.app ?? s.deployment } : { 'security.istio.io/tlsMode': 'disabled' }) };
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: s.name,
        namespace: s.namespace,
        labels,
        annotations: { ...s.annotations, ...(s.sidecar ? { 'sidecar.istio.io/status': JSON.stringify({ initContainers: ['istio-init'], containers: ['istio-proxy'] }) } : {}) },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: s.replicaSet, controller: true }],
      },
      spec: { serviceAccountName: s.serviceAccount, containers: s.containers },
      status: { phase: 'Running', podIP: this.record.ip, podIPs: [{ ip: this.record.ip }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    };
  }

  /** Network, init step, agent, containers. Throws (with the pod left for stop()) on failure. */
  start(): void {
    const { ctx, spec, record } = this;
    mkdirSync(this.dir, { recursive: true });
    chmodSync(this.dir, 0o755);
    createPodNetwork(ctx.network, { netns: record.netns, veth: record.veth, ip: record.ip });
    if (spec.sidecar) applyCapture(captureConfigFromAnnotations(spec.annotations), netnsRunner(record.netns));
    installServiceChain(record.netns, ctx.network);
    writeFileSync(join(this.dir, 'pod.json'), JSON.stringify(this.manifest(false), null, 1));
    if (spec.sidecar || spec.gateway) this.startAgent();
    if (!spec.gateway) for (const c of spec.containers) this.startContainer(c as KubeContainer & { image?: string; command?: string[]; args?: string[] });
  }

  private spawnLogged(key: string, logName: string, argv: string[], env: NodeJS.ProcessEnv): void {
    const fd = openSync(join(this.dir, logName), 'a');
    const child = spawn('ip', ['netns', 'exec', this.record.netns, ...argv], { cwd: repoRoot, env, stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    this.children.set(key, child);
    if (child.pid) this.record.pids.push(child.pid);
    const started = Date.now();
    child.on('exit', (code, signal) => {
      this.record.pids = this.record.pids.filter((p) => p !== child.pid);
      if (this.stopping) return;
      this.record.restarts++;
      const delay = Date.now() - started > 30_000 ? 500 : Math.min(10_000, 500 * 2 ** Math.min(this.record.restarts, 5));
      this.ctx.log(`${this.spec.namespace}/${this.spec.name}: ${key} exited (${signal ?? `code ${code}`}); restarting in ${delay} ms`);
      this.record.ready = false;
      this.onChange();
      setTimeout(() => {
        if (!this.stopping) this.spawnLogged(key, logName, argv, env);
      }, delay).unref();
    });
    this.onChange();
  }

  private startAgent(): void {
    const { ctx, spec } = this;
    const argv = [process.execPath, join(repoRoot, 'bin', 'spar.js'), 'agent', '--type', spec.gateway ? 'router' : 'sidecar', '--pod', join(this.dir, 'pod.json'),
      '--discovery-address', `unix://${ctx.xdsUds}`, '--proxy', ctx.proxy, '--work-dir', join(this.dir, 'proxy'), '--drain-duration', '1s',
      ...(ctx.envoyBin ? ['--envoy-bin', ctx.envoyBin] : [])];
    const env = { ...process.env, ...fromSourceEnv(ctx.fromSource), ISTIO_KUBE_APP_PROBERS: JSON.stringify(this.probers) };
    this.spawnLogged('istio-proxy', 'istio-proxy.log', argv, env);
  }

  private startContainer(c: KubeContainer & { image?: string; command?: string[]; args?: string[] }): void {
    const env = containerEnv(c as KubeContainer & { env?: Array<{ name: string; value?: string }> });
    const r = resolveContainer({ image: c.image ?? '', command: c.command, args: c.args, env }, { repoRoot, fromSource: this.ctx.fromSource });
    if (!r.ok) {
      this.record.phase = 'Failed';
      this.record.message = r.error;
      this.ctx.log(`${this.spec.namespace}/${this.spec.name}: ${c.name}: ${r.error}`);
      return;
    }
    const base: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME ?? '/root', HOSTNAME: this.spec.name };
    this.spawnLogged(c.name, `${c.name}.log`, r.command.argv, { ...base, ...r.command.env });
  }

  /** Whether every container (through the agent when there is a sidecar) and the sidecar are ready. */
  async probeReady(): Promise<boolean> {
    const ip = this.record.ip;
    if (this.spec.sidecar || this.spec.gateway) {
      const r = await runProbe({ httpGet: { path: '/healthz/ready', port: 15021 }, timeoutSeconds: 1 }, ip);
      if (!r.ok) return false;
    }
    if (this.spec.gateway) return true;
    for (const c of this.probed) {
      if (!c.readinessProbe) continue;
      const probe: KubeProbe = this.spec.sidecar ? { httpGet: { path: `/app-health/${c.name}/readyz`, port: 15020 }, timeoutSeconds: 2 } : c.readinessProbe;
      if (!(await runProbe(probe, ip)).ok) return false;
    }
    return true;
  }

  private readonly liveness = new Map<string, { last: number; failures: number }>();

  /**
   * The kubelet's liveness check: each container's livenessProbe (through the agent when there is a
   * sidecar) every periodSeconds after initialDelaySeconds; failureThreshold failures in a row kill
   * the container, which restarts it.
   */
  async probeLive(): Promise<void> {
    const now = Date.now();
    for (const c of this.spec.containers as KubeContainer[]) {
      const p = c.livenessProbe;
      const child = this.children.get(c.name);
      if (!p || !child?.pid || child.exitCode !== null) continue;
      const st = this.liveness.get(c.name) ?? { last: this.record.createdAt + (p.initialDelaySeconds ?? 0) * 1000 - (p.periodSeconds ?? 10) * 1000, failures: 0 };
      this.liveness.set(c.name, st);
      if (now - st.last < (p.periodSeconds ?? 10) * 1000) continue;
      st.last = now;
      const probe: KubeProbe = this.spec.sidecar ? { httpGet: { path: `/app-health/${c.name}/livez`, port: 15020 }, timeoutSeconds: (p.timeoutSeconds ?? 1) + 1 } : p;
      if ((await runProbe(probe, this.record.ip)).ok) {
        st.failures = 0;
        continue;
      }
      if (++st.failures >= (p.failureThreshold ?? 3)) {
        this.ctx.log(`${this.spec.namespace}/${this.spec.name}: ${c.name} failed its liveness probe ${st.failures} times; restarting it`);
        st.failures = 0;
        killGroup(child.pid, 'SIGKILL');
      }
    }
  }

  /** SIGTERM to every process group (the agent drains its proxy), SIGKILL after `graceMs`. */
  async stop(graceMs = 4000): Promise<void> {
    this.stopping = true;
    this.record.phase = 'Terminating';
    const live = [...this.children.values()].filter((c) => c.exitCode === null && c.signalCode === null);
    const exited = live.map((c) => new Promise<void>((r) => c.once('exit', () => r())));
    for (const c of live) if (c.pid) killGroup(c.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      for (const c of live) if (c.pid) killGroup(c.pid, 'SIGKILL');
    }, graceMs);
    await Promise.all(exited);
    clearTimeout(timer);
    // Anything still in the namespace (a proxy whose agent was killed) goes too.
    killNetnsProcesses(this.record.netns);
  }
}
