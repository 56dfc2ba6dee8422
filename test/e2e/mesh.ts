/**
 * One `spar up` mesh per e2e test file, as test/local does it (its own state dir, bridge, pod subnet
 * and ingress port 0, so it never collides with another test's mesh or a user's `spar0`), plus
 * what Istio's tasks do to it: `kubectl apply/delete -f` (here `spar apply/delete -f`), `kubectl
 * exec` (`spar exec`), page loads through the ingress gateway, and a bounded poll for config to
 * arrive. The e2e files also take a lock (/run/lock/spar-e2e.lock) so that two of them never run
 * their meshes at once on a 2-core machine (`npm test` runs files two at a time).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { istioDir } from '../../src/common/paths.js';
import { cleanupState, readState, type RuntimeState } from '../../src/local/state.js';
import { runSpar, type CliResult } from '../helpers/cli.js';

export const samples = join(istioDir, 'samples');
export const bookinfoNet = join(samples, 'bookinfo', 'networking');
export const fixtures = join(import.meta.dirname, 'fixtures');

const LOCK = '/run/lock/spar-e2e.lock';

function lockHolderAlive(): boolean {
  try {
    const pid = Number(readFileSync(LOCK, 'utf8'));
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Waits (bounded) until no other e2e file holds the mesh lock, then takes it. */
async function takeLock(timeoutMs: number): Promise<void> {
  mkdirSync('/run/lock', { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (!lockHolderAlive()) {
        rmSync(LOCK, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${LOCK} still held by pid ${readFileSync(LOCK, 'utf8')}`, { cause: e });
      await sleep(500);
    }
  }
}

function releaseLock(): void {
  try {
    if (readFileSync(LOCK, 'utf8') === String(process.pid)) unlinkSync(LOCK);
  } catch {
    // not ours, or gone
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Mesh {
  readonly dir: string;
  readonly stateDir: string;
  readonly bridge: string;
  /** The host's address on the bridge (pods reach the host here). */
  readonly hostIp: string;
  readonly ingress: string;
  readonly state: RuntimeState;
  spar(args: string[], timeoutMs?: number): Promise<CliResult>;
  apply(...files: string[]): Promise<string>;
  delete(...files: string[]): Promise<string>;
  /** `spar exec POD -n NS -- CMD`. */
  exec(pod: string, cmd: string[], ns?: string, timeoutMs?: number): Promise<CliResult>;
  podIp(prefix: string, ns?: string): string;
  down(): Promise<void>;
}

/** `spar up` with the given files; throws with the runtime's log when it fails. */
export async function meshUp(proxy: 'spar' | 'envoy', files: string[], waitS = 150): Promise<Mesh> {
  await takeLock(600_000);
  const dir = mkdtempSync(join(tmpdir(), `spar-e2e-${proxy}-`));
  chmodSync(dir, 0o755); // sidecars (UID 1337) read below it
  const stateDir = join(dir, 'state');
  const bridge = `spar-e${Math.random().toString(16).slice(2, 6)}`;
  const subnet = 100 + Math.floor(Math.random() * 150);
  const common = ['--state-dir', stateDir];
  // The state dir right after the verb: for `exec`, everything after `--` belongs to the command.
  const spar = (args: string[], timeoutMs = 60_000) => runSpar([args[0]!, ...common, ...args.slice(1)], { timeoutMs });
  let state: RuntimeState | undefined;
  const down = async () => {
    try {
      if (existsSync(stateDir)) {
        const r = await spar(['down'], 60_000);
        if (r.code !== 0) await cleanupState(stateDir);
      }
      if (state) assertNothingLeft(state, stateDir, bridge);
    } finally {
      if (existsSync(stateDir)) await cleanupState(stateDir);
      rmSync(dir, { recursive: true, force: true });
      releaseLock();
    }
  };
  try {
    const r = await spar(['up', '--proxy', proxy, '--port', '0', '--bridge', bridge, '--pod-cidr', `10.88.${subnet}.0/24`, '--pilot-debug-port', '0', '--wait', String(waitS),
      '-f', ...files], (waitS + 60) * 1000);
    const log = existsSync(join(stateDir, 'runtime.log')) ? readFileSync(join(stateDir, 'runtime.log'), 'utf8').slice(-3000) : '';
    assert.equal(r.code, 0, `spar up failed:\n${r.stdout}\n${r.stderr}\n${log}`);
    const port = Number(/ingress gateway on 127\.0\.0\.1:(\d+)/.exec(r.stdout)?.[1]);
    assert.ok(port > 0, r.stdout);
    state = readState(stateDir);
    assert.ok(state);
    const st = state;
    return {
      dir, stateDir, bridge, hostIp: `10.88.${subnet}.1`, ingress: `http://127.0.0.1:${port}`, state: st, spar, down,
      async apply(...f) {
        const a = await spar(['apply', '-f', ...f]);
        assert.equal(a.code, 0, `spar apply ${f.join(' ')}: ${a.stderr}`);
        return a.stdout;
      },
      async delete(...f) {
        const a = await spar(['delete', '-f', ...f]);
        assert.equal(a.code, 0, `spar delete ${f.join(' ')}: ${a.stderr}`);
        return a.stdout;
      },
      exec: (pod, cmd, ns = 'default', timeoutMs = 60_000) => spar(['exec', pod, '-n', ns, '--', ...cmd], timeoutMs),
      podIp(prefix, ns = 'default') {
        const s = readState(stateDir)!;
        const p = Object.values(s.pods).find((x) => x.namespace === ns && x.name.startsWith(prefix));
        assert.ok(p, `no pod ${ns}/${prefix}*`);
        return p.ip;
      },
    };
  } catch (e) {
    await down().catch(() => undefined);
    throw e;
  }
}

/** After `spar down`: no namespace, link, /etc/netns entry, process or host rule of this mesh. */
function assertNothingLeft(s: RuntimeState, stateDir: string, bridge: string): void {
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
  for (const [name, veth] of Object.entries(s.netns)) {
    assert.ok(!netns.includes(name), `netns ${name} left`);
    assert.ok(!links.includes(veth), `veth ${veth} left`);
    assert.ok(!existsSync(join('/etc/netns', name)), `/etc/netns/${name} left`);
  }
  assert.ok(!links.includes(bridge), `bridge ${bridge} left`);
  const procs = execFileSync('ps', ['-eo', 'pid,stat,args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(stateDir) && !/\sZ/.test(l));
  assert.deepEqual(procs, [], 'processes left');
  assert.ok(!execFileSync('iptables-save', { encoding: 'utf8' }).includes(bridge), 'host rules left');
}

/**
 * Polls `probe` until it returns true (config arrived), at most `timeoutMs`; the assertion message
 * names what was last seen.
 */
export async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await probe()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) assert.fail(`${what}: not seen within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

/** A product page visitor: anonymous, or signed in (POST /login, then the session cookie). */
export class Visitor {
  private cookie = '';
  constructor(private readonly base: string) {}

  async login(user: string): Promise<void> {
    const res = await fetch(`${this.base}/login`, { method: 'POST', body: new URLSearchParams({ username: user, passwd: 'password' }), redirect: 'manual', signal: AbortSignal.timeout(15_000) });
    assert.ok(res.status === 302 || res.status === 200, `login: ${res.status}`);
    const set = res.headers.getSetCookie().find((c) => c.startsWith('session='));
    assert.ok(set, 'login sets the session cookie');
    this.cookie = set.split(';')[0]!;
    await res.arrayBuffer();
  }

  /** GET /productpage: status, body and how long it took. */
  async page(timeoutMs = 20_000): Promise<{ status: number; html: string; ms: number }> {
    const t0 = Date.now();
    const res = await fetch(`${this.base}/productpage`, { headers: this.cookie ? { cookie: this.cookie } : {}, signal: AbortSignal.timeout(timeoutMs) });
    const html = await res.text();
    return { status: res.status, html, ms: Date.now() - t0 };
  }
}

/**
 * One HTTP/1.1 request with node:http (fetch cannot set Host, which the ingress task needs):
 * status, headers, body and how long it took.
 */
export function httpRequest(url: string, o: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { method: o.method ?? 'GET', headers: o.headers, timeout: o.timeoutMs ?? 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ms: Date.now() - t0 }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer in ${o.timeoutMs ?? 15_000} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export const STARS = 'glyphicon glyphicon-star';
export const REVIEWS_UNAVAILABLE = 'Sorry, product reviews are currently unavailable for this book.';
export const RATINGS_UNAVAILABLE = 'Ratings service is currently unavailable';

/** Which reviews version rendered a page: v1 (no stars), v2 (black), v3 (red). */
export function reviewsVersion(html: string): 'v1' | 'v2' | 'v3' | 'error' {
  if (html.includes(REVIEWS_UNAVAILABLE)) return 'error';
  if (!html.includes(STARS)) return html.includes(RATINGS_UNAVAILABLE) ? 'error' : 'v1';
  return html.includes('text-red-500') ? 'v3' : 'v2';
}
