/**
 * The pod network of `spar up`, made with `ip` and `iptables`:
 *
 * - a bridge (`spar0`) holding the gateway address (10.88.0.1/16) on the host side; no default
 *   route out, no MASQUERADE, no ip_forward: pods reach each other at layer 2 and the host (the
 *   pilot, the port-forward) directly;
 * - per pod a network namespace `spar-<hash>`, a veth pair (`spar-v<hash>` on the bridge, `eth0`
 *   inside) with the pod IP, loopback, and one route: the service range (10.96.0.0/16) via the
 *   gateway, so that connecting to a VIP gets as far as the nat table;
 * - service VIPs resolved kube-proxy style *inside each pod's namespace*: chain SPAR-SERVICES in nat
 *   OUTPUT (after Istio's ISTIO_OUTPUT, so a sidecar still sees the VIP as the original destination)
 *   DNATs VIP:port to a ready endpoint at random; a VIP without endpoints is refused (filter OUTPUT
 *   REJECT with a TCP reset), as kube-proxy does;
 * - names in `/etc/netns/<netns>/hosts` (bind-mounted over /etc/hosts by `ip netns exec`): each
 *   service as `name.ns.svc.cluster.local`, `name.ns.svc`, `name.ns`, and `name` within its
 *   namespace. The file is rewritten in place (same inode) so running processes see changes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class CommandError extends Error {}

/** Runs a command; throws with its stderr. */
export function sh(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new CommandError(`${cmd} ${args.join(' ')}: ${(err.stderr || err.message).trim()}`, { cause: e });
  }
}

/** Like sh, ignoring failure (teardown of things that may already be gone). */
export function shQuiet(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const inNetns = (netns: string, cmd: string, args: string[], input?: string): string => sh('ip', ['netns', 'exec', netns, cmd, ...args], input);

export interface NetworkConfig {
  bridge: string;
  /** Pod CIDR, e.g. 10.88.0.0/16. */
  podCidr: string;
  /** The host's address on the bridge, e.g. 10.88.0.1. */
  gateway: string;
  /** Service VIP range, e.g. 10.96.0.0/16. */
  serviceCidr: string;
  dnsDomain: string;
}

export const prefixOf = (cidr: string): number => Number(cidr.split('/')[1]);

export function linkExists(name: string): boolean {
  return shQuiet('ip', ['link', 'show', 'dev', name]);
}

export function netnsList(): string[] {
  return sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
}

/** Creates the bridge with the gateway address (idempotent). */
export function setupBridge(cfg: NetworkConfig): void {
  if (!linkExists(cfg.bridge)) sh('ip', ['link', 'add', cfg.bridge, 'type', 'bridge']);
  const addrs = sh('ip', ['-4', 'addr', 'show', 'dev', cfg.bridge]);
  if (!addrs.includes(`${cfg.gateway}/`)) sh('ip', ['addr', 'add', `${cfg.gateway}/${prefixOf(cfg.podCidr)}`, 'dev', cfg.bridge]);
  sh('ip', ['link', 'set', cfg.bridge, 'up']);
}

export function deleteBridge(bridge: string): void {
  if (linkExists(bridge)) shQuiet('ip', ['link', 'del', bridge]);
}

export interface PodNetwork {
  netns: string;
  veth: string;
  ip: string;
}

/** The pod's namespace, veth pair on the bridge, address and the service route. */
export function createPodNetwork(cfg: NetworkConfig, p: PodNetwork): void {
  if (!netnsList().includes(p.netns)) sh('ip', ['netns', 'add', p.netns]);
  inNetns(p.netns, 'ip', ['link', 'set', 'lo', 'up']);
  if (linkExists(p.veth)) sh('ip', ['link', 'del', p.veth]);
  const peer = `${p.veth}p`.slice(0, 15);
  sh('ip', ['link', 'add', p.veth, 'type', 'veth', 'peer', 'name', peer, 'netns', p.netns]);
  inNetns(p.netns, 'ip', ['link', 'set', peer, 'name', 'eth0']);
  sh('ip', ['link', 'set', p.veth, 'master', cfg.bridge]);
  sh('ip', ['link', 'set', p.veth, 'up']);
  inNetns(p.netns, 'ip', ['addr', 'add', `${p.ip}/${prefixOf(cfg.podCidr)}`, 'dev', 'eth0']);
  inNetns(p.netns, 'ip', ['link', 'set', 'eth0', 'up']);
  inNetns(p.netns, 'ip', ['route', 'add', cfg.serviceCidr, 'via', cfg.gateway, 'dev', 'eth0']);
}

/** SIGKILLs every process inside the namespace (`ip netns pids`); returns how many. */
export function killNetnsProcesses(netns: string): number {
  let pids: number[];
  try {
    pids = sh('ip', ['netns', 'pids', netns]).split('\n').filter(Boolean).map(Number);
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  return pids.length;
}

/** Deletes the pod's namespace (its end of the veth, its rules go with it), the host end and /etc/netns. */
export function deletePodNetwork(p: { netns: string; veth: string }): void {
  killNetnsProcesses(p.netns);
  shQuiet('ip', ['netns', 'del', p.netns]);
  if (linkExists(p.veth)) shQuiet('ip', ['link', 'del', p.veth]);
  removeEtcNetns(p.netns);
}

/** A service as the pod network resolves it. */
export interface ServiceEntryLocal {
  name: string;
  namespace: string;
  vip: string;
  ports: Array<{ port: number; protocol: string; endpoints: Array<{ ip: string; port: number }> }>;
}

/** The hosts file of a pod in `namespace`. */
export function hostsFile(cfg: NetworkConfig, pod: { name: string; namespace: string; ip: string }, services: readonly ServiceEntryLocal[]): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', `${pod.ip}\t${pod.name}`];
  for (const s of services) {
    const names = [`${s.name}.${s.namespace}.svc.${cfg.dnsDomain}`, `${s.name}.${s.namespace}.svc`, `${s.name}.${s.namespace}`];
    if (s.namespace === pod.namespace) names.push(s.name);
    lines.push(`${s.vip}\t${names.join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

export const etcNetnsDir = (netns: string): string => join('/etc/netns', netns);

/** Writes /etc/netns/<netns>/{hosts,resolv.conf} (hosts in place: running processes keep its inode). */
export function writeEtcNetns(netns: string, hosts: string, pod: { name: string }): void {
  const dir = etcNetnsDir(netns);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'hosts'), hosts);
  // No DNS server: names come from hosts; unknown names fail at once instead of timing out.
  if (!existsSync(join(dir, 'resolv.conf'))) writeFileSync(join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
  if (!existsSync(join(dir, 'hostname'))) writeFileSync(join(dir, 'hostname'), `${pod.name}\n`);
}

export function removeEtcNetns(netns: string): void {
  rmSync(etcNetnsDir(netns), { recursive: true, force: true });
}

export const SERVICES_CHAIN = 'SPAR-SERVICES';

/** nat SPAR-SERVICES: each VIP:port DNATed to one of its endpoints at random (kube-proxy's iptables mode). */
export function serviceRules(services: readonly ServiceEntryLocal[]): string[] {
  const rules: string[] = [];
  for (const s of services) {
    for (const p of s.ports) {
      if (p.protocol !== 'TCP' || p.endpoints.length === 0) continue;
      const n = p.endpoints.length;
      p.endpoints.forEach((ep, i) => {
        const stat = i < n - 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', (1 / (n - i)).toFixed(5)] : [];
        rules.push(['-A', SERVICES_CHAIN, '-d', `${s.vip}/32`, '-p', 'tcp', '-m', 'tcp', '--dport', String(p.port), ...stat, '-j', 'DNAT', '--to-destination', `${ep.ip}:${ep.port}`].join(' '));
      });
    }
  }
  return rules;
}

/** Creates SPAR-SERVICES and its jump (after ISTIO_OUTPUT, if capture is installed), and the REJECT for VIPs without endpoints. */
export function installServiceChain(netns: string, cfg: NetworkConfig): void {
  const input = [
    '*nat', `:${SERVICES_CHAIN} - [0:0]`, `-A OUTPUT -j ${SERVICES_CHAIN}`, 'COMMIT',
    '*filter', `:${SERVICES_CHAIN} - [0:0]`, `-A OUTPUT -j ${SERVICES_CHAIN}`, `-A ${SERVICES_CHAIN} -d ${cfg.serviceCidr} -p tcp -j REJECT --reject-with tcp-reset`, 'COMMIT', '',
  ].join('\n');
  inNetns(netns, 'iptables-restore', ['--noflush'], input);
}

/** Replaces the DNAT rules of SPAR-SERVICES in one transaction. */
export function updateServiceRules(netns: string, services: readonly ServiceEntryLocal[]): void {
  const input = ['*nat', `:${SERVICES_CHAIN} - [0:0]`, ...serviceRules(services), 'COMMIT', ''].join('\n');
  inNetns(netns, 'iptables-restore', ['--noflush'], input);
}
