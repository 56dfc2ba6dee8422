/**
 * The agent's capture rules against Istio's: the expected rule lists below are istio-iptables'
 * output for the same flags (its testdata/*.golden, in `iptables -t nat -A` form), applied one by
 * one with `iptables` in a reference namespace; the agent's iptables-restore transaction in another
 * namespace must give the same `iptables-save`. Then capture itself: a pod namespace with the rules,
 * a pod IP, and a second namespace on a veth pair as "another pod": an app UID's connection to a
 * service VIP:9080 lands on the 15001 listener with the VIP as original destination, UID 1337's
 * does not, inbound connections land on 15006 except for 15021, and removal leaves no ISTIO_ chain.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../src/common/paths.js';
import { applyCapture, buildCaptureRules, captureConfigFromAnnotations, captureInstalled, formatRules, netnsRunner, removeCapture } from '../../src/agent/iptables.js';
import { captureSkipReason, createNetns, netnsExists, type TestNetns } from '../proxy/iptables-netns.js';

const skip = captureSkipReason();

/** istio-iptables -p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x '' -b '*' -d 15090,15021,15020 (the injector's defaults). */
const ISTIO_DEFAULT = [
  'iptables -t nat -A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN',
  'iptables -t nat -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001',
  'iptables -t nat -A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006',
  'iptables -t nat -A PREROUTING -p tcp -j ISTIO_INBOUND',
  'iptables -t nat -A ISTIO_INBOUND -p tcp -m multiport --dports 15090,15021,15020 -j RETURN',
  'iptables -t nat -A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT',
  'iptables -t nat -A OUTPUT -j ISTIO_OUTPUT',
  'iptables -t nat -A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN',
  'iptables -t nat -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT',
  'iptables -t nat -A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN',
  'iptables -t nat -A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN',
  'iptables -t nat -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT',
  'iptables -t nat -A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN',
  'iptables -t nat -A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN',
  'iptables -t nat -A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN',
  'iptables -t nat -A ISTIO_OUTPUT -j ISTIO_REDIRECT',
];

/** With every annotation set (ip-range.golden, outbound-ports-exclude.golden, inbound-ports-include.golden together). */
const ANNOTATED = {
  'traffic.sidecar.istio.io/includeInboundPorts': '9080,9081',
  'traffic.sidecar.istio.io/excludeInboundPorts': '9999',
  'traffic.sidecar.istio.io/includeOutboundIPRanges': '10.96.0.0/16,10.88.0.0/16',
  'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.96.0.1/32',
  'traffic.sidecar.istio.io/excludeOutboundPorts': '22,80,443',
  'traffic.sidecar.istio.io/includeOutboundPorts': '3306',
};
const ISTIO_ANNOTATED = [
  'iptables -t nat -A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN',
  'iptables -t nat -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001',
  'iptables -t nat -A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006',
  'iptables -t nat -A PREROUTING -p tcp -j ISTIO_INBOUND',
  'iptables -t nat -A ISTIO_INBOUND -p tcp --dport 9080 -j ISTIO_IN_REDIRECT',
  'iptables -t nat -A ISTIO_INBOUND -p tcp --dport 9081 -j ISTIO_IN_REDIRECT',
  'iptables -t nat -A OUTPUT -j ISTIO_OUTPUT',
  'iptables -t nat -A ISTIO_OUTPUT -p tcp -m multiport --dports 22,80,443 -j RETURN',
  'iptables -t nat -A ISTIO_OUTPUT -p udp -m multiport --dports 22,80,443 -j RETURN',
  'iptables -t nat -A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN',
  'iptables -t nat -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT',
  'iptables -t nat -A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN',
  'iptables -t nat -A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN',
  'iptables -t nat -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT',
  'iptables -t nat -A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN',
  'iptables -t nat -A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN',
  'iptables -t nat -A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN',
  'iptables -t nat -A ISTIO_OUTPUT -d 10.96.0.1/32 -j RETURN',
  'iptables -t nat -A ISTIO_OUTPUT -p tcp --dport 3306 -j ISTIO_REDIRECT',
  'iptables -t nat -A ISTIO_OUTPUT -d 10.96.0.0/16 -j ISTIO_REDIRECT',
  'iptables -t nat -A ISTIO_OUTPUT -d 10.88.0.0/16 -j ISTIO_REDIRECT',
];

describe('capture rules: the same list as istio-iptables', () => {
  test('default sidecar (no annotations)', () => {
    assert.deepEqual(formatRules(buildCaptureRules(captureConfigFromAnnotations({}))), ISTIO_DEFAULT);
  });
  test('every traffic.sidecar.istio.io annotation', () => {
    assert.deepEqual(formatRules(buildCaptureRules(captureConfigFromAnnotations(ANNOTATED))), ISTIO_ANNOTATED);
  });
  test('a loopback include keeps app loopback traffic captured (no `-o lo ! --uid-owner` RETURN)', () => {
    const rules = formatRules(buildCaptureRules(captureConfigFromAnnotations({ 'traffic.sidecar.istio.io/includeOutboundIPRanges': '127.0.0.1/32' })));
    assert.ok(!rules.some((r) => r.includes('-o lo -m owner !')));
  });
});

/** `iptables-save -t nat` without counters and comments: the rules as the kernel holds them. */
function savedRules(ns: TestNetns): string[] {
  return ns.run('iptables-save', ['-t', 'nat']).split('\n').filter((l) => l.startsWith('-A ') || l.startsWith(':')).map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
}

describe('capture rules in a network namespace', { skip }, () => {
  const spaces: TestNetns[] = [];
  after(() => {
    for (const ns of spaces) {
      ns.destroy();
      assert.equal(netnsExists(ns.name), false);
    }
  });

  for (const [what, annotations, expected] of [['default', {}, ISTIO_DEFAULT], ['annotated', ANNOTATED, ISTIO_ANNOTATED]] as const) {
    test(`${what}: iptables-save after iptables-restore equals iptables-save after Istio's commands`, () => {
      const ref = createNetns();
      const agent = createNetns();
      spaces.push(ref, agent);
      for (const c of ['ISTIO_INBOUND', 'ISTIO_REDIRECT', 'ISTIO_IN_REDIRECT', 'ISTIO_OUTPUT']) ref.run('iptables', ['-t', 'nat', '-N', c]);
      for (const line of expected) ref.run('iptables', line.split(' ').slice(1));
      const run = netnsRunner(agent.name);
      assert.equal(captureInstalled(run), false);
      applyCapture(captureConfigFromAnnotations(annotations), run);
      assert.equal(captureInstalled(run), true);
      assert.deepEqual(savedRules(agent), savedRules(ref));
      removeCapture(run);
      assert.equal(captureInstalled(run), false);
      assert.deepEqual(savedRules(agent).filter((l) => /ISTIO/.test(l)), []);
    });
  }
});

const fromSource = import.meta.url.endsWith('.ts');
const originalDstModule = join(repoRoot, ...(fromSource ? ['src', 'proxy', 'listener', 'original-dst.ts'] : ['dist', 'src', 'proxy', 'listener', 'original-dst.js']));

/** Listens on each port and answers each connection with one JSON line: which listener, and the original dst. */
const serverScript = `
import net from 'node:net';
const { getOriginalDst } = await import(process.env.SPAR_OD_MODULE);
const ports = JSON.parse(process.env.SPAR_PORTS);
let ready = 0;
for (const port of ports) {
  net.createServer((sock) => {
    let od = null;
    try { od = getOriginalDst(sock) ?? null; } catch {}
    sock.end(JSON.stringify({ listener: port, od }) + '\\n');
  }).listen(port, '0.0.0.0', () => { if (++ready === ports.length) process.stdout.write('ready\\n'); });
}
`;
const clientScript = `
import net from 'node:net';
const sock = net.connect({ host: process.env.SPAR_HOST, port: Number(process.env.SPAR_PORT) });
let data = '';
sock.setEncoding('utf8');
sock.on('data', (d) => { data += d; });
sock.on('end', () => { process.stdout.write(data); process.exit(0); });
sock.on('error', (e) => { process.stdout.write(JSON.stringify({ error: e.code || e.message })); process.exit(0); });
setTimeout(() => { process.stdout.write(JSON.stringify({ error: 'timeout' })); process.exit(0); }, 1500).unref();
`;

interface Reply { listener?: number; od?: { address: string; port: number } | null; error?: string }

describe('capture in a pod namespace: outbound to 15001, inbound to 15006, UID 1337 escapes', { skip }, () => {
  let pod: TestNetns;
  let peer: TestNetns;
  const suffix = Math.random().toString(16).slice(2, 6);

  before(async () => {
    pod = createNetns();
    peer = createNetns();
    // A veth pair between "this pod" (10.88.0.5) and "another pod" (10.88.0.6); VIPs routed to the peer.
    pod.run('ip', ['link', 'add', `spar-a${suffix}`, 'type', 'veth', 'peer', 'name', `spar-b${suffix}`, 'netns', peer.name]);
    pod.run('ip', ['addr', 'add', '10.88.0.5/24', 'dev', `spar-a${suffix}`]);
    pod.run('ip', ['link', 'set', `spar-a${suffix}`, 'up']);
    pod.run('ip', ['route', 'add', '10.96.0.0/16', 'via', '10.88.0.6']);
    peer.run('ip', ['addr', 'add', '10.88.0.6/24', 'dev', `spar-b${suffix}`]);
    peer.run('ip', ['link', 'set', `spar-b${suffix}`, 'up']);
    applyCapture(captureConfigFromAnnotations({}), netnsRunner(pod.name));
    const server = pod.spawn(process.execPath, [...(fromSource ? ['--import', 'tsx'] : []), '--input-type=module', '-e', serverScript], {
      cwd: repoRoot,
      env: { ...process.env, SPAR_OD_MODULE: originalDstModule, SPAR_PORTS: JSON.stringify([15001, 15006, 15021, 9080]) },
    });
    await new Promise<void>((resolve, reject) => {
      let err = '';
      server.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
      server.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      server.on('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
      setTimeout(() => reject(new Error(`server not ready: ${err}`)), 20_000).unref();
    });
  });

  after(() => {
    for (const ns of [pod, peer]) {
      if (!ns) continue;
      ns.destroy();
      assert.equal(netnsExists(ns.name), false);
    }
  });

  function dial(ns: TestNetns, uid: number, host: string, port: number): Promise<Reply> {
    const argv = ['netns', 'exec', ns.name, 'setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, '--input-type=module', '-e', clientScript];
    return new Promise((resolve, reject) => {
      execFile('ip', argv, { env: { ...process.env, SPAR_HOST: host, SPAR_PORT: String(port) }, timeout: 10_000 }, (err, stdout, stderr) => {
        if (err) return reject(new Error(`${stderr || err.message}`));
        resolve(JSON.parse(stdout) as Reply);
      });
    });
  }

  test('an app UID dialling a service VIP:9080 lands on 15001 with the VIP as original destination', async () => {
    const r = await dial(pod, 1000, '10.96.0.10', 9080);
    assert.equal(r.listener, 15001);
    assert.deepEqual(r.od, { address: '10.96.0.10', port: 9080 });
  });

  test('an app UID dialling another pod lands on 15001 too', async () => {
    const r = await dial(pod, 1000, '10.88.0.6', 9080);
    assert.equal(r.listener, 15001);
    assert.deepEqual(r.od, { address: '10.88.0.6', port: 9080 });
  });

  test('UID 1337 (the proxy) is not captured: its connection goes to the real destination', async () => {
    const r = await dial(pod, 1337, '10.88.0.6', 9080);
    assert.notEqual(r.listener, 15001);
    assert.ok(r.error, `expected the peer (nothing listening) to refuse, got ${JSON.stringify(r)}`);
  });

  test('an app dialling its own pod IP goes straight to the app (loopback RETURN)', async () => {
    const r = await dial(pod, 1000, '10.88.0.5', 9080);
    assert.equal(r.listener, 9080);
  });

  test('inbound from another pod to 9080 lands on 15006; 15021 is excluded', async () => {
    const r = await dial(peer, 1000, '10.88.0.5', 9080);
    assert.equal(r.listener, 15006);
    assert.deepEqual(r.od, { address: '10.88.0.5', port: 9080 });
    const s = await dial(peer, 1000, '10.88.0.5', 15021);
    assert.equal(s.listener, 15021);
  });

  test('removeCapture: nothing of Istio left, traffic flows directly again', async () => {
    removeCapture(netnsRunner(pod.name));
    assert.equal(captureInstalled(netnsRunner(pod.name)), false);
    const r = await dial(peer, 1000, '10.88.0.5', 9080);
    assert.equal(r.listener, 9080);
  });
});
