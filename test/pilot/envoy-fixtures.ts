/**
 * Running `spar pilot` as a child process for real-peer tests (Envoy, proxyless gRPC), the way a
 * user runs it: `spar pilot --config DIR --port 0 --debug-port 0`, ports read from its "pilot
 * ready" log line; helpers to wait for a push and for every proxy to be in sync.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../src/common/paths.js';
import type { ProxySyncStatus } from '../../src/xds/server/status.js';
import type { EnvoyJson } from '../../src/xds/codec.js';

export interface SparPilot {
  xdsPort: number;
  debugPort: number;
  debugUrl: string;
  /** `unix://<path>` when started with a socket. */
  uds?: string;
  process: ChildProcess;
  log(): string;
  get<T>(path: string): Promise<T>;
  syncz(): Promise<ProxySyncStatus[]>;
  /** Number of pushes so far (for waitPush). */
  pushCount(): Promise<number>;
  /** Waits until a push after `count` happened and no proxy is STALE; returns the statuses. */
  waitSynced(afterPushCount?: number, proxies?: number, timeoutMs?: number): Promise<ProxySyncStatus[]>;
  stop(): Promise<void>;
}

export async function startSparPilot(configDir: string, opts: { uds?: string; args?: string[] } = {}): Promise<SparPilot> {
  const args = [join(repoRoot, 'bin', 'spar.js'), 'pilot', '--config', configDir, '--port', '0', '--debug-port', '0', '--host', '127.0.0.1', '--debounce', '100ms', ...(opts.uds ? ['--xds-uds', opts.uds] : []), ...(opts.args ?? [])];
  const child = spawn(process.execPath, args, { env: { ...process.env, SPAR_TSX: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  const ready = new Promise<{ xdsPort: number; debugPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`spar pilot did not start in 30 s:\n${text.slice(-3000)}`)), 30_000);
    child.stderr!.on('data', (b: Buffer) => {
      text += b.toString('utf8');
      if (text.length > 2_000_000) text = text.slice(-1_000_000);
      for (const line of text.split('\n')) {
        if (!line.includes('"pilot ready"')) continue;
        try {
          const j = JSON.parse(line) as { xdsPort: number; debugPort: number };
          clearTimeout(timer);
          resolve(j);
        } catch {
          // partial line
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`spar pilot exited (${code}):\n${text.slice(-3000)}`));
    });
  });
  const { xdsPort, debugPort } = await ready;
  const debugUrl = `http://127.0.0.1:${debugPort}`;
  const get = async <T>(path: string): Promise<T> => (await (await fetch(debugUrl + path)).json()) as T;
  const pushCount = async () => (await get<{ totalPushes: number }>('/debug/push_status')).totalPushes;
  const pilot: SparPilot = {
    xdsPort,
    debugPort,
    debugUrl,
    uds: opts.uds ? `unix://${opts.uds}` : undefined,
    process: child,
    log: () => text,
    get,
    syncz: () => get<ProxySyncStatus[]>('/debug/syncz'),
    pushCount,
    async waitSynced(afterPushCount, proxies, timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const pushed = afterPushCount === undefined || (await pushCount()) > afterPushCount;
        const s = await pilot.syncz();
        if (pushed && (proxies === undefined || s.length >= proxies) && s.every((p) => Object.values(p.types).every((t) => t.status !== 'STALE'))) return s;
        if (Date.now() > end) throw new Error(`proxies not in sync after ${timeoutMs} ms: ${JSON.stringify(s.map((p) => [p.proxy, Object.fromEntries(Object.entries(p.types).map(([k, v]) => [k, v.status]))]))}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
  return pilot;
}

/** The ingress gateway's Service, as Istio's default profile installs it (ports 80→8080, 443→8443, 31400). */
export const INGRESS_GATEWAY_SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-system
  labels: {app: istio-ingressgateway, istio: ingressgateway}
spec:
  selector: {app: istio-ingressgateway, istio: ingressgateway}
  ports:
  - {name: status-port, port: 15021, targetPort: 15021}
  - {name: http2, port: 80, targetPort: 8080}
  - {name: https, port: 443, targetPort: 8443}
  - {name: tcp, port: 31400, targetPort: 31400}
`;

/**
 * What pilot-agent's SDS server gives Envoy: the workload certificate (`default`) and the root
 * (`ROOTCA`), here Istio's sample workload certificate, served over SDS on a Unix socket with
 * Spar's own xDS server (Envoy's sidecar clusters do not warm until these arrive).
 */
export async function startTestSds(udsPath: string): Promise<{ stop(): Promise<void> }> {
  const { readFileSync } = await import('node:fs');
  const { XdsServer } = await import('../../src/xds/server/server.js');
  const { TypeUrl } = await import('../../src/xds/resource-types.js');
  const { samplesDir } = await import('../helpers/shared.js');
  const pem = (f: string) => readFileSync(join(samplesDir, 'certs', f), 'utf8');
  const secrets: EnvoyJson[] = [
    { '@type': TypeUrl.Secret, name: 'default', tls_certificate: { certificate_chain: { inline_string: pem('workload-foo-cert.pem') }, private_key: { inline_string: pem('workload-foo-key.pem') } } },
    { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: pem('root-cert.pem') } } },
  ];
  const server = new XdsServer<object, object>({
    generator: {
      proxyFromNode: () => ({}),
      generate: (_p, _push, typeUrl, names) => (typeUrl === TypeUrl.Secret ? secrets.filter((s) => !names || names.includes(String(s.name))) : []),
      configKindsAffecting: () => new Set(),
    },
  });
  server.setPushContext({});
  await server.listen(0, '127.0.0.1', udsPath);
  return { stop: () => server.close() };
}
