/**
 * Istio's health-probe rewrite: the sidecar injector replaces each container's HTTP/TCP/gRPC
 * liveness, readiness and startup probe with `httpGet /app-health/<container>/<livez|readyz|startupz>`
 * on the agent's status port 15020, and hands the original probes to the agent as
 * ISTIO_KUBE_APP_PROBERS (a JSON map from that path to the original probe). The agent runs the
 * original probe against the app when the kubelet (here: the local runtime) asks — so probes work
 * with mTLS and capture, where a kubelet's plain request to the app port would be refused.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';

/** The parts of a Kubernetes probe the agent runs. */
export interface KubeProbe {
  httpGet?: { path?: string; port: number | string; host?: string; scheme?: string; httpHeaders?: Array<{ name: string; value: string }> };
  tcpSocket?: { port: number | string; host?: string };
  grpc?: { port: number; service?: string };
  timeoutSeconds?: number;
  periodSeconds?: number;
  initialDelaySeconds?: number;
  failureThreshold?: number;
  successThreshold?: number;
}

export interface KubeContainer {
  name: string;
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  livenessProbe?: KubeProbe;
  readinessProbe?: KubeProbe;
  startupProbe?: KubeProbe;
}

/** ISTIO_KUBE_APP_PROBERS: `/app-health/<container>/livez` → the original probe. */
export type AppProbers = Record<string, KubeProbe>;

const KINDS = [['livenessProbe', 'livez'], ['readinessProbe', 'readyz'], ['startupProbe', 'startupz']] as const;

/**
 * What the injector does to a pod's containers: returns the probers for the agent and the
 * containers with their probes pointing at the agent. Probes with an `exec` action are left alone
 * (Istio does too); named ports resolve against the container's ports.
 */
export function rewriteAppProbes(containers: readonly KubeContainer[], statusPort = 15020): { probers: AppProbers; containers: KubeContainer[] } {
  const probers: AppProbers = {};
  const out = containers.map((c) => {
    const copy: KubeContainer = { ...c };
    for (const [field, suffix] of KINDS) {
      const p = c[field];
      if (!p || (!p.httpGet && !p.tcpSocket && !p.grpc)) continue;
      const path = `/app-health/${c.name}/${suffix}`;
      const resolved: KubeProbe = { ...p };
      const named = (port: number | string) => (typeof port === 'string' && !/^\d+$/.test(port) ? c.ports?.find((x) => x.name === port)?.containerPort ?? port : Number(port));
      if (p.httpGet) resolved.httpGet = { ...p.httpGet, port: named(p.httpGet.port) };
      if (p.tcpSocket) resolved.tcpSocket = { ...p.tcpSocket, port: named(p.tcpSocket.port) };
      probers[path] = stripTiming(resolved);
      const { httpGet: _h, tcpSocket: _t, grpc: _g, ...timing } = p;
      copy[field] = { ...timing, httpGet: { path, port: statusPort, scheme: 'HTTP' } };
    }
    return copy;
  });
  return { probers, containers: out };
}

function stripTiming(p: KubeProbe): KubeProbe {
  const out: KubeProbe = {};
  if (p.httpGet) out.httpGet = p.httpGet;
  if (p.tcpSocket) out.tcpSocket = p.tcpSocket;
  if (p.grpc) out.grpc = p.grpc;
  out.timeoutSeconds = p.timeoutSeconds ?? 1;
  return out;
}

export interface ProbeResult {
  ok: boolean;
  /** The app's HTTP status (HTTP probes). */
  status?: number;
  error?: string;
}

/**
 * Runs one original probe against the app at `podIp` (as the kubelet would: the pod IP, unless
 * the probe names a host). HTTP: 200-399 is success; TCP: a connection.
 */
export function runProbe(probe: KubeProbe, podIp: string): Promise<ProbeResult> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  return new Promise((resolve) => {
    if (probe.httpGet) {
      const g = probe.httpGet;
      if ((g.scheme ?? 'HTTP').toUpperCase() === 'HTTPS') {
        resolve({ ok: false, error: 'HTTPS probes are not supported yet' });
        return;
      }
      const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.31', 'connection': 'close' };
      for (const h of g.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
      const req = httpRequest({ host: g.host ?? podIp, port: Number(g.port), path: g.path ?? '/', method: 'GET', headers, timeout: timeoutMs }, (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        resolve({ ok: status >= 200 && status < 400, status });
      });
      req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
      req.on('error', (e) => resolve({ ok: false, error: e.message }));
      req.end();
      return;
    }
    const port = Number(probe.tcpSocket?.port ?? probe.grpc?.port);
    const sock = connect({ host: probe.tcpSocket?.host ?? podIp, port, timeout: timeoutMs }, () => {
      sock.destroy();
      resolve({ ok: true });
    });
    sock.on('timeout', () => sock.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    sock.on('error', (e) => resolve({ ok: false, error: e.message }));
  });
}

/** Reads ISTIO_KUBE_APP_PROBERS (empty or absent: no probers). */
export function parseAppProbers(text: string | undefined): AppProbers {
  if (!text || text.trim() === '') return {};
  const v = JSON.parse(text) as unknown;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('ISTIO_KUBE_APP_PROBERS: expected a JSON object of path → probe');
  for (const k of Object.keys(v)) if (!/^\/app-health\/[^/]+\/(livez|readyz|startupz)$/.test(k)) throw new Error(`ISTIO_KUBE_APP_PROBERS: ${JSON.stringify(k)} is not /app-health/<container>/livez|readyz|startupz`);
  return v as AppProbers;
}
