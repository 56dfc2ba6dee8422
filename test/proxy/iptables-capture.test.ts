/**
 * getOriginalDst under real iptables REDIRECT, as Istio's ISTIO_REDIRECT chain does it: in a network
 * namespace this test creates, outbound TCP to port 9080 is redirected to 15001 (9081 to 15002), a
 * server in the namespace accepts on 15001/15002 and reports what getOriginalDst returns, and a
 * client in the namespace dials loopback, a "pod IP" on a dummy interface, a "service VIP" routed
 * to that interface, and their IPv6 forms. The namespace has no link out; teardown deletes it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../src/common/paths.js';
import { captureSkipReason, createNetns, netnsExists, type TestNetns } from './iptables-netns.js';

const skip = captureSkipReason();
const fromSource = import.meta.url.endsWith('.ts');
const originalDstModule = fromSource
  ? join(repoRoot, 'src', 'proxy', 'listener', 'original-dst.ts')
  : join(repoRoot, 'dist', 'src', 'proxy', 'listener', 'original-dst.js');

/** Listens as described by SPAR_LISTEN and answers each connection with one JSON line. */
const serverScript = `
import net from 'node:net';
const { getOriginalDst } = await import(process.env.SPAR_OD_MODULE);
const specs = JSON.parse(process.env.SPAR_LISTEN);
let ready = 0;
for (const s of specs) {
  const srv = net.createServer((sock) => {
    let od = null, error = null;
    try { od = getOriginalDst(sock) ?? null; } catch (e) { error = String(e && e.message || e); }
    sock.end(JSON.stringify({ listener: s.name, od, error, local: { address: sock.localAddress, port: sock.localPort } }) + '\\n');
  });
  srv.on('error', (e) => { process.stderr.write('listen ' + s.name + ': ' + e.message + '\\n'); process.exit(1); });
  srv.listen({ host: s.host, port: s.port, ipv6Only: s.ipv6Only }, () => { if (++ready === specs.length) process.stdout.write('ready\\n'); });
}
`;

/** Dials SPAR_HOST:SPAR_PORT and prints what the server says. */
const clientScript = `
import net from 'node:net';
const sock = net.connect({ host: process.env.SPAR_HOST, port: Number(process.env.SPAR_PORT) });
let data = '';
sock.setEncoding('utf8');
sock.on('data', (d) => { data += d; });
sock.on('end', () => { process.stdout.write(data); });
sock.on('error', (e) => { process.stderr.write(e.message); process.exit(1); });
setTimeout(() => { process.stderr.write('timeout'); process.exit(1); }, 5000).unref();
`;

const listeners = [
  { name: 'v4', host: '0.0.0.0', port: 15001, ipv6Only: false },
  { name: 'v6', host: '::', port: 15001, ipv6Only: true },
  { name: 'dual', host: '::', port: 15002, ipv6Only: false },
];

interface Reply {
  listener: string;
  od: { address: string; port: number } | null;
  error: string | null;
  local: { address: string; port: number };
}

describe('getOriginalDst under iptables REDIRECT in a network namespace', { skip }, () => {
  let ns: TestNetns;

  before(async () => {
    ns = createNetns();
    try {
      // A dummy interface holding a "pod IP", with the service ranges routed to it (nothing behind it).
      // Kernels built without the dummy driver (some VMs) get a veth pair whose both ends stay in the
      // namespace instead: the same thing for this purpose, a link that leads nowhere.
      try {
        ns.run('ip', ['link', 'add', 'spar-d0', 'type', 'dummy']);
      } catch {
        ns.run('ip', ['link', 'add', 'spar-d0', 'type', 'veth', 'peer', 'name', 'spar-d1']);
        ns.run('ip', ['link', 'set', 'spar-d1', 'up']);
      }
      ns.run('ip', ['link', 'set', 'spar-d0', 'up']);
      ns.run('ip', ['addr', 'add', '192.0.2.10/32', 'dev', 'spar-d0']);
      ns.run('ip', ['route', 'add', '10.96.0.0/16', 'dev', 'spar-d0']);
      ns.run('ip', ['-6', 'addr', 'add', 'fd00:88::10/128', 'dev', 'spar-d0', 'nodad']);
      ns.run('ip', ['-6', 'route', 'add', 'fd00:96::/64', 'dev', 'spar-d0']);
      ns.run('iptables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '--dport', '9080', '-j', 'REDIRECT', '--to-ports', '15001']);
      ns.run('iptables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '--dport', '9081', '-j', 'REDIRECT', '--to-ports', '15002']);
      ns.run('ip6tables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '--dport', '9080', '-j', 'REDIRECT', '--to-ports', '15001']);

      const args = [...(fromSource ? ['--import', 'tsx'] : []), '--input-type=module', '-e', serverScript];
      const server = ns.spawn(process.execPath, args, {
        cwd: repoRoot,
        env: { ...process.env, SPAR_OD_MODULE: originalDstModule, SPAR_LISTEN: JSON.stringify(listeners) },
      });
      await new Promise<void>((resolve, reject) => {
        let out = '';
        let err = '';
        server.stdout!.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('ready')) resolve();
        });
        server.stderr!.on('data', (b: Buffer) => (err += b.toString()));
        server.on('exit', (code) => reject(new Error(`server in ${ns.name} exited (${code}): ${err}`)));
        setTimeout(() => reject(new Error(`server in ${ns.name} not ready after 20 s: ${err}`)), 20_000).unref();
      });
    } catch (e) {
      ns.destroy();
      throw e;
    }
  });

  after(() => {
    const name = ns?.name;
    ns?.destroy();
    if (name) assert.equal(netnsExists(name), false, `netns ${name} still exists after teardown`);
  });

  function dial(host: string, port: number): Promise<Reply> {
    return new Promise((resolve, reject) => {
      execFile(
        'ip',
        ['netns', 'exec', ns.name, process.execPath, '--input-type=module', '-e', clientScript],
        { env: { ...process.env, SPAR_HOST: host, SPAR_PORT: String(port) }, timeout: 10_000 },
        (err, stdout, stderr) => {
          if (err) return reject(new Error(`dial ${host}:${port} in ${ns.name}: ${stderr || err.message}`));
          try {
            resolve(JSON.parse(stdout) as Reply);
          } catch {
            reject(new Error(`dial ${host}:${port}: unexpected reply ${JSON.stringify(stdout)}`));
          }
        },
      );
    });
  }

  const cases: Array<{ what: string; host: string; port: number; listener: string; want: { address: string; port: number } }> = [
    { what: 'IPv4 loopback', host: '127.0.0.1', port: 9080, listener: 'v4', want: { address: '127.0.0.1', port: 9080 } },
    { what: 'IPv4 pod IP on a dummy interface', host: '192.0.2.10', port: 9080, listener: 'v4', want: { address: '192.0.2.10', port: 9080 } },
    { what: 'IPv4 service VIP routed to a dummy interface', host: '10.96.0.10', port: 9080, listener: 'v4', want: { address: '10.96.0.10', port: 9080 } },
    { what: 'IPv6 loopback (IP6T_SO_ORIGINAL_DST)', host: '::1', port: 9080, listener: 'v6', want: { address: '::1', port: 9080 } },
    { what: 'IPv6 pod IP on a dummy interface', host: 'fd00:88::10', port: 9080, listener: 'v6', want: { address: 'fd00:88::10', port: 9080 } },
    { what: 'IPv6 service VIP routed to a dummy interface', host: 'fd00:96::10', port: 9080, listener: 'v6', want: { address: 'fd00:96::10', port: 9080 } },
    { what: 'IPv4 VIP accepted by a dual-stack listener on ::', host: '10.96.0.11', port: 9081, listener: 'dual', want: { address: '10.96.0.11', port: 9081 } },
  ];

  for (const c of cases) {
    test(`${c.what}: ${c.host}:${c.port} reports ${c.want.address}:${c.want.port}`, async () => {
      const r = await dial(c.host, c.port);
      assert.equal(r.error, null);
      assert.equal(r.listener, c.listener);
      assert.notEqual(r.local.port, c.port, 'the connection was redirected to the capture port');
      assert.deepEqual(r.od, c.want);
    });
  }

  test('a connection that was not redirected reports its own local address (or none)', async () => {
    const r = await dial('127.0.0.1', 15001);
    assert.equal(r.error, null);
    if (r.od !== null) assert.deepEqual(r.od, { address: '127.0.0.1', port: 15001 });
  });
});
