/**
 * Traffic capture inside a pod's network namespace, with the chains and rules Istio's
 * `istio-iptables` writes for a sidecar in REDIRECT mode (tools/istio-iptables/pkg/capture):
 *
 * - nat PREROUTING → ISTIO_INBOUND → ISTIO_IN_REDIRECT (REDIRECT to 15006) for inbound TCP, except
 *   the tunnel port 15008 and the excluded ports (15090, 15021, 15020 and the pod's annotation);
 * - nat OUTPUT → ISTIO_OUTPUT → ISTIO_REDIRECT (REDIRECT to 15001) for outbound TCP, except traffic
 *   of the proxy's UID/GID 1337 (`-m owner --uid-owner 1337 -j RETURN`), loopback traffic of the app,
 *   127.0.0.6 (the inbound passthrough source), excluded ports and CIDRs; the proxy's own calls to
 *   the pod over `lo` (app → VIP → proxy → proxy inbound) go to ISTIO_IN_REDIRECT as in Istio.
 *
 * The rules are written as an `iptables-restore --noflush` input (one transaction, as Istio does)
 * and removed by deleting the jumps from PREROUTING/OUTPUT and then the ISTIO_* chains. IPv4 only:
 * the local runtime's pods have no IPv6 addresses (Istio adds the ip6tables set only for those).
 */
import { execFileSync } from 'node:child_process';

/** The istio-iptables flags a sidecar is started with (the injector's defaults in comments). */
export interface CaptureConfig {
  /** -p: outbound capture port (15001). */
  proxyPort: number;
  /** -z: inbound capture port (15006). */
  inboundCapturePort: number;
  /** The HBONE tunnel port, never captured inbound (15008). */
  inboundTunnelPort: number;
  /** -u / -g: the proxy's UID and GID (1337). */
  proxyUid: string;
  proxyGid: string;
  /** -b: inbound ports to capture, `*` for all (traffic.sidecar.istio.io/includeInboundPorts, default `*`). */
  inboundPortsInclude: string;
  /** -d: inbound ports left alone (15090,15021,15020 + traffic.sidecar.istio.io/excludeInboundPorts). */
  inboundPortsExclude: string;
  /** -i: outbound CIDRs to capture, `*` for all (traffic.sidecar.istio.io/includeOutboundIPRanges). */
  outboundIpRangesInclude: string;
  /** -x: outbound CIDRs left alone (traffic.sidecar.istio.io/excludeOutboundIPRanges). */
  outboundIpRangesExclude: string;
  /** -q: outbound ports always captured (traffic.sidecar.istio.io/includeOutboundPorts). */
  outboundPortsInclude: string;
  /** -o: outbound ports left alone (traffic.sidecar.istio.io/excludeOutboundPorts). */
  outboundPortsExclude: string;
}

export const ANNOTATIONS = {
  includeInboundPorts: 'traffic.sidecar.istio.io/includeInboundPorts',
  excludeInboundPorts: 'traffic.sidecar.istio.io/excludeInboundPorts',
  includeOutboundIPRanges: 'traffic.sidecar.istio.io/includeOutboundIPRanges',
  excludeOutboundIPRanges: 'traffic.sidecar.istio.io/excludeOutboundIPRanges',
  includeOutboundPorts: 'traffic.sidecar.istio.io/includeOutboundPorts',
  excludeOutboundPorts: 'traffic.sidecar.istio.io/excludeOutboundPorts',
  statusPort: 'status.sidecar.istio.io/port',
} as const;

/** Ports of the sidecar itself that inbound capture never takes: Envoy's Prometheus, readiness, the agent. */
export const SIDECAR_INBOUND_EXCLUDES = ['15090', '15021'];

const splitList = (s: string | undefined): string[] => (s ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '');

/**
 * The capture config the sidecar injector derives from a pod's annotations (Istio's injection
 * template: `-b {{includeInboundPorts "*"}} -d 15090,15021,<statusPort>,{{excludeInboundPorts}}`,
 * `-i {{includeOutboundIPRanges "*"}} -x {{excludeOutboundIPRanges}} -o/-q ...`).
 */
export function captureConfigFromAnnotations(annotations: Record<string, string> = {}): CaptureConfig {
  const statusPort = annotations[ANNOTATIONS.statusPort] ?? '15020';
  const inboundExclude = [...SIDECAR_INBOUND_EXCLUDES, ...(statusPort !== '0' ? [statusPort] : []), ...splitList(annotations[ANNOTATIONS.excludeInboundPorts])];
  return {
    proxyPort: 15001,
    inboundCapturePort: 15006,
    inboundTunnelPort: 15008,
    proxyUid: '1337',
    proxyGid: '1337',
    inboundPortsInclude: (annotations[ANNOTATIONS.includeInboundPorts] ?? '*').trim(),
    inboundPortsExclude: [...new Set(inboundExclude)].join(','),
    outboundIpRangesInclude: (annotations[ANNOTATIONS.includeOutboundIPRanges] ?? '*').trim(),
    outboundIpRangesExclude: splitList(annotations[ANNOTATIONS.excludeOutboundIPRanges]).join(','),
    outboundPortsInclude: splitList(annotations[ANNOTATIONS.includeOutboundPorts]).join(','),
    outboundPortsExclude: splitList(annotations[ANNOTATIONS.excludeOutboundPorts]).join(','),
  };
}

/** A rule as Istio's builder emits it: the chain it is appended to and its arguments. */
export interface IptablesRule {
  table: 'nat';
  chain: string;
  args: string[];
}

export const ISTIO_CHAINS = ['ISTIO_INBOUND', 'ISTIO_REDIRECT', 'ISTIO_IN_REDIRECT', 'ISTIO_OUTPUT'] as const;

const isIPv4Cidr = (c: string) => /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/.test(c);
const isLoopback = (c: string) => c.startsWith('127.');
const withMask = (c: string) => (c.includes('/') ? c : `${c}/32`);

/** Matches for a port list: one `--dport`, or `-m multiport --dports a,b` (as istio-iptables does). */
function dports(ports: string[]): string[] {
  return ports.length === 1 ? ['--dport', ports[0]!] : ['-m', 'multiport', '--dports', ports.join(',')];
}

/** The nat rules, in the order istio-iptables appends them (the jumps into PREROUTING/OUTPUT included). */
export function buildCaptureRules(cfg: CaptureConfig): IptablesRule[] {
  const rules: IptablesRule[] = [];
  const add = (chain: string, ...args: string[]) => rules.push({ table: 'nat', chain, args });
  const tunnel = String(cfg.inboundTunnelPort);
  const excludeV4 = splitList(cfg.outboundIpRangesExclude).filter(isIPv4Cidr).map(withMask);
  if (cfg.outboundIpRangesExclude.trim() === '*') throw new Error('excludeOutboundIPRanges: "*" is not a valid value (istio-iptables refuses it too)');
  const includeAll = cfg.outboundIpRangesInclude.trim() === '*';
  const includeV4 = includeAll ? [] : splitList(cfg.outboundIpRangesInclude).filter(isIPv4Cidr).map(withMask);
  const includesLoopback = includeV4.some(isLoopback);

  add('ISTIO_INBOUND', '-p', 'tcp', '--dport', tunnel, '-j', 'RETURN');
  add('ISTIO_REDIRECT', '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(cfg.proxyPort));
  add('ISTIO_IN_REDIRECT', '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(cfg.inboundCapturePort));

  // Inbound.
  const inInclude = cfg.inboundPortsInclude.trim();
  if (inInclude !== '') {
    add('PREROUTING', '-p', 'tcp', '-j', 'ISTIO_INBOUND');
    if (inInclude === '*') {
      const excl = splitList(cfg.inboundPortsExclude);
      if (excl.length > 0) add('ISTIO_INBOUND', '-p', 'tcp', ...dports(excl), '-j', 'RETURN');
      add('ISTIO_INBOUND', '-p', 'tcp', '-j', 'ISTIO_IN_REDIRECT');
    } else {
      for (const port of splitList(inInclude)) add('ISTIO_INBOUND', '-p', 'tcp', '--dport', port, '-j', 'ISTIO_IN_REDIRECT');
    }
  }

  // Outbound.
  add('OUTPUT', '-j', 'ISTIO_OUTPUT');
  const outExclude = splitList(cfg.outboundPortsExclude);
  if (outExclude.length > 0) {
    add('ISTIO_OUTPUT', '-p', 'tcp', ...dports(outExclude), '-j', 'RETURN');
    add('ISTIO_OUTPUT', '-p', 'udp', ...dports(outExclude), '-j', 'RETURN');
  }
  add('ISTIO_OUTPUT', '-o', 'lo', '-s', '127.0.0.6/32', '-j', 'RETURN');
  for (const [flag, ids] of [['--uid-owner', cfg.proxyUid], ['--gid-owner', cfg.proxyGid]] as const) {
    for (const id of splitList(ids)) {
      // The proxy calling the pod itself over lo (app → VIP → proxy → this pod): back through inbound.
      add('ISTIO_OUTPUT', '-o', 'lo', '!', '-d', '127.0.0.1/32', '-p', 'tcp', '!', '--dport', tunnel, '-m', 'owner', flag, id, '-j', 'ISTIO_IN_REDIRECT');
      // The app calling itself by its endpoint address: never through the proxy.
      if (!includesLoopback) add('ISTIO_OUTPUT', '-o', 'lo', '-m', 'owner', '!', flag, id, '-j', 'RETURN');
      // The proxy's own traffic is never captured.
      add('ISTIO_OUTPUT', '-m', 'owner', flag, id, '-j', 'RETURN');
    }
  }
  add('ISTIO_OUTPUT', '-d', '127.0.0.1/32', '-j', 'RETURN');
  for (const cidr of excludeV4) add('ISTIO_OUTPUT', '-d', cidr, '-j', 'RETURN');
  for (const port of splitList(cfg.outboundPortsInclude)) add('ISTIO_OUTPUT', '-p', 'tcp', '--dport', port, '-j', 'ISTIO_REDIRECT');
  if (includeAll) add('ISTIO_OUTPUT', '-j', 'ISTIO_REDIRECT');
  else for (const cidr of includeV4) add('ISTIO_OUTPUT', '-d', cidr, '-j', 'ISTIO_REDIRECT');
  return rules;
}

/** The rules as `iptables -t nat -A ...` lines (the form of istio-iptables' goldens and dry runs). */
export function formatRules(rules: readonly IptablesRule[]): string[] {
  return rules.map((r) => `iptables -t ${r.table} -A ${r.chain} ${r.args.join(' ')}`);
}

/** The `iptables-restore --noflush` input that creates the chains and appends the rules. */
export function restoreInput(rules: readonly IptablesRule[]): string {
  const lines = ['*nat', ...ISTIO_CHAINS.map((c) => `:${c} - [0:0]`)];
  for (const r of rules) lines.push(`-A ${r.chain} ${r.args.map(quoteArg).join(' ')}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

const quoteArg = (a: string) => (/^[\w./:,*!-]+$/.test(a) ? a : `"${a.replace(/"/g, '\\"')}"`);

/** Runs a command, inside `netns` when given (`ip netns exec`), returning stdout. */
export type CommandRunner = (cmd: string, args: string[], input?: string) => string;

export function netnsRunner(netns?: string): CommandRunner {
  return (cmd, args, input) => {
    const argv = netns ? ['netns', 'exec', netns, cmd, ...args] : args;
    try {
      return execFileSync(netns ? 'ip' : cmd, argv, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`${cmd} ${args.join(' ')}${netns ? ` (netns ${netns})` : ''}: ${(err.stderr || err.message).trim()}`, { cause: e });
    }
  };
}

/** True when the ISTIO_OUTPUT chain already exists (capture installed by an init step). */
export function captureInstalled(run: CommandRunner): boolean {
  return /^:ISTIO_OUTPUT /m.test(run('iptables-save', ['-t', 'nat']));
}

/** Installs the capture rules in one iptables-restore transaction. */
export function applyCapture(cfg: CaptureConfig, run: CommandRunner = netnsRunner()): IptablesRule[] {
  const rules = buildCaptureRules(cfg);
  run('iptables-restore', ['--noflush'], restoreInput(rules));
  return rules;
}

/**
 * Removes what applyCapture installed: every rule in PREROUTING/OUTPUT that jumps to an ISTIO_*
 * chain, then the ISTIO_* chains themselves (flush, delete). Rules of others are left alone.
 */
export function removeCapture(run: CommandRunner = netnsRunner()): void {
  const saved = run('iptables-save', ['-t', 'nat']);
  const lines = ['*nat'];
  for (const l of saved.split('\n')) {
    const m = /^-A (PREROUTING|OUTPUT) (.*-j ISTIO_\w+)\s*$/.exec(l);
    if (m) lines.push(`-D ${m[1]} ${m[2]}`);
  }
  const present = ISTIO_CHAINS.filter((c) => new RegExp(`^:${c} `, 'm').test(saved));
  for (const c of present) lines.push(`-F ${c}`);
  for (const c of present) lines.push(`-X ${c}`);
  lines.push('COMMIT', '');
  if (lines.length > 3) run('iptables-restore', ['--noflush'], lines.join('\n'));
}
