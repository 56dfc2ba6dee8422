/**
 * `spar agent --pod POD.yaml --discovery-address ADDR [--proxy spar|envoy]`: pilot-agent for one
 * pod, run inside the pod's network namespace as root (capture needs iptables; the proxy is started
 * under UID 1337). The pod comes as a Kubernetes Pod manifest (what Istio's agent learns from the
 * downward API), or from flags. Runs until SIGTERM/SIGINT, then drains the proxy and exits.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../common/errors.js';
import { Agent, type PodInfo } from '../agent/agent.js';
import { parseAppProbers, type KubeContainer } from '../agent/probes.js';
import { parseMs } from './pilot.js';

export interface AgentCliOptions {
  type: string;
  pod?: string;
  podName?: string;
  namespace?: string;
  podIp?: string;
  serviceAccount?: string;
  label?: string[];
  discoveryAddress: string;
  proxy: string;
  workDir: string;
  capture: boolean;
  drainDuration: string;
  statusPort: string;
  proxyUid: string;
  proxyLogLevel: string;
  envoyBin?: string;
}

interface PodManifest {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: Array<{ kind?: string; name?: string }> };
  spec?: { serviceAccountName?: string; serviceAccount?: string; containers?: KubeContainer[] };
  status?: { podIP?: string };
}

/** PodInfo from a Pod manifest and flags (flags win). */
export function podInfoFrom(opts: AgentCliOptions): PodInfo {
  let m: PodManifest = {};
  if (opts.pod) {
    try {
      m = (parseYaml(readFileSync(opts.pod, 'utf8')) ?? {}) as PodManifest;
    } catch (e) {
      throw new UserError(`--pod ${opts.pod}: ${(e as Error).message}`, 2);
    }
  }
  const labels = { ...(m.metadata?.labels ?? {}) };
  for (const l of opts.label ?? []) {
    const i = l.indexOf('=');
    if (i <= 0) throw new UserError(`--label ${l}: expected key=value`, 2);
    labels[l.slice(0, i)] = l.slice(i + 1);
  }
  const name = opts.podName ?? m.metadata?.name;
  const ip = opts.podIp ?? m.status?.podIP;
  if (!name) throw new UserError('spar agent: the pod has no name (--pod FILE with metadata.name, or --pod-name)', 2);
  if (!ip) throw new UserError('spar agent: the pod has no IP (--pod FILE with status.podIP, or --pod-ip)', 2);
  const owner = m.metadata?.ownerReferences?.[0];
  return {
    name,
    namespace: opts.namespace ?? m.metadata?.namespace ?? 'default',
    ip,
    serviceAccount: opts.serviceAccount ?? m.spec?.serviceAccountName ?? m.spec?.serviceAccount ?? 'default',
    labels,
    annotations: m.metadata?.annotations ?? {},
    workloadName: owner?.kind === 'ReplicaSet' && owner.name ? owner.name.replace(/-[a-z0-9]+$/, '') : owner?.name,
    containers: m.spec?.containers ?? [],
  };
}

export async function run(opts: AgentCliOptions): Promise<void> {
  if (opts.type !== 'sidecar' && opts.type !== 'router') throw new UserError(`--type: ${JSON.stringify(opts.type)} is not sidecar or router`, 2);
  if (opts.proxy !== 'spar' && opts.proxy !== 'envoy') throw new UserError(`--proxy: ${JSON.stringify(opts.proxy)} is not spar or envoy`, 2);
  if (typeof process.getuid === 'function' && process.getuid() !== 0 && opts.capture && opts.type === 'sidecar') {
    throw new UserError('spar agent: traffic capture needs root (iptables in the pod\'s network namespace); run it as root, or with --no-capture', 2);
  }
  let probers;
  try {
    probers = process.env.ISTIO_KUBE_APP_PROBERS ? parseAppProbers(process.env.ISTIO_KUBE_APP_PROBERS) : undefined;
  } catch (e) {
    throw new UserError((e as Error).message, 2);
  }
  const uid = Number(opts.proxyUid);
  const agent = new Agent({
    type: opts.type,
    pod: podInfoFrom(opts),
    discoveryAddress: opts.discoveryAddress,
    proxy: opts.proxy,
    workDir: opts.workDir,
    capture: opts.capture,
    probers,
    statusPort: Number(opts.statusPort),
    drainDurationS: parseMs(opts.drainDuration, '--drain-duration') / 1000,
    proxyUid: uid,
    proxyGid: uid,
    proxyLogLevel: opts.proxyLogLevel,
    envoyBin: opts.envoyBin,
  });
  await agent.start();
  agent.log(`agent started for ${agent.nodeId}`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      agent.log('agent stopping: draining the proxy');
      void agent.stop().then(resolve, (e: Error) => {
        agent.log(`stop: ${e.message}`);
        resolve();
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
