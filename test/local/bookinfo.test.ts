/**
 * `spar up` as a user runs it: no files (Istio's Bookinfo and bookinfo-gateway.yaml, unchanged),
 * the default proxy (`spar proxy`) as sidecars and as the ingress gateway. The product page comes
 * through 127.0.0.1 with details and reviews from their pods; Istio's destination-rule-all.yaml
 * and virtual-service-reviews-v3.yaml then send every request to reviews v3 (red stars) — routing
 * done by the sidecars the pilot configures. `spar down` leaves nothing behind.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { istioDir } from '../../src/common/paths.js';
import { cleanupState, readState, type RuntimeState } from '../../src/local/state.js';
import { runSpar } from '../helpers/cli.js';
import { captureSkipReason } from '../proxy/iptables-netns.js';

const skip = captureSkipReason();
const dir = mkdtempSync(join(tmpdir(), 'spar-bookinfo-up-'));
chmodSync(dir, 0o755);
const stateDir = join(dir, 'state');
const bridge = `spar-t${Math.random().toString(16).slice(2, 6)}`;
const subnet = 100 + Math.floor(Math.random() * 150);
const common = ['--state-dir', stateDir];
let url = '';
let upOutput = '';
let snapshot: RuntimeState | undefined;

before(async () => {
  if (skip) return;
  const r = await runSpar(['up', '--port', '0', '--bridge', bridge, '--pod-cidr', `10.88.${subnet}.0/24`, '--pilot-debug-port', '0', '--wait', '100', ...common], { timeoutMs: 150_000 });
  upOutput = r.stdout;
  assert.equal(r.code, 0, `spar up failed:\n${r.stdout}\n${r.stderr}\n${existsSync(join(stateDir, 'runtime.log')) ? readFileSync(join(stateDir, 'runtime.log'), 'utf8').slice(-3000) : ''}`);
  url = /The product page:\s+(http:\/\/127\.0\.0\.1:\d+\/productpage)/.exec(r.stdout)?.[1] ?? '';
  snapshot = readState(stateDir);
});

after(async () => {
  if (!skip && existsSync(stateDir)) await cleanupState(stateDir);
  rmSync(dir, { recursive: true, force: true });
});

async function page(): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  assert.equal(res.status, 200);
  return res.text();
}

test('spar up shows progress and ends with the product page URL and what to try next', { skip }, () => {
  assert.match(upOutput, /productpage-v1-\S+ \(\+sidecar\) 10\.88\.\d+\.\d+: ready/);
  assert.match(upOutput, /istio-ingressgateway-\S+ \(gateway\)/);
  assert.match(upOutput, /All pods ready in \d+\.\d s/);
  assert.ok(url, upOutput);
  assert.match(upOutput, /Try next:[\s\S]*spar down/);
  assert.equal(snapshot?.proxy, 'spar');
});

test('the product page through the ingress gateway and the sidecars: details and reviews', { skip }, async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const html = await page();
    assert.match(html, /<title>Simple Bookstore App<\/title>/);
    assert.match(html, /Book Details/);
    assert.doesNotMatch(html, /Error fetching product (details|reviews)/);
    const by = /Reviews served by:[\s\S]*?(reviews-v\d)/.exec(html)?.[1];
    if (by) seen.add(by);
  }
  assert.ok(seen.size >= 2, `round robin over the reviews versions: ${[...seen].join(', ')}`);
});

test('Istio\'s reviews-v3 VirtualService: every page from v3, with red stars', { skip }, async () => {
  const net = join(istioDir, 'samples', 'bookinfo', 'networking');
  const r = await runSpar(['apply', '-f', join(net, 'destination-rule-all.yaml'), join(net, 'virtual-service-reviews-v3.yaml'), ...common]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /virtualservice\/reviews created/);
  // Round robin also serves v3 now and then: wait for six v3 pages in a row (the push arrived),
  // then every page must be v3.
  const deadline = Date.now() + 30_000;
  for (let streak = 0; streak < 6 && Date.now() < deadline;) {
    streak = /Reviews served by:[\s\S]*?reviews-v3/.test(await page()) ? streak + 1 : 0;
    if (streak === 0) await new Promise((res) => setTimeout(res, 300));
  }
  for (let i = 0; i < 5; i++) {
    const html = await page();
    assert.match(html, /Reviews served by:[\s\S]*?reviews-v3/);
    assert.match(html, /text-red-500/);
  }
});

test('spar down: nothing left (namespaces, links, /etc/netns, processes)', { skip }, async () => {
  const r = await runSpar(['down', ...common], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const s = snapshot!;
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
  for (const [name, veth] of Object.entries(s.netns)) {
    assert.ok(!netns.includes(name), `netns ${name} left`);
    assert.ok(!links.includes(veth), `veth ${veth} left`);
    assert.ok(!existsSync(join('/etc/netns', name)), `/etc/netns/${name} left`);
  }
  assert.ok(!links.includes(bridge));
  const procs = execFileSync('ps', ['-eo', 'pid,stat,args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(stateDir) && !/\sZ/.test(l));
  assert.deepEqual(procs, []);
});
