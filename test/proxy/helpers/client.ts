/**
 * A raw-ish HTTP/1.1 client for proxy tests: full control of Host and headers, one fresh
 * connection per request (so routing and balancing are per request), and raw socket requests for
 * malformed input.
 */
import { request } from 'node:http';
import { connect } from 'node:net';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function send(port: number, o: { method?: string; path?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path ?? '/', headers: o.headers, agent: false, setHost: !o.headers || !Object.keys(o.headers).some((k) => k.toLowerCase() === 'host') }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => resolve({ status: -1, headers: {}, body: String(e.message) }));
    });
    req.setTimeout(o.timeoutMs ?? 10_000, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => (e.message === 'timeout' ? reject(e) : resolve({ status: -1, headers: {}, body: String(e.message) })));
    if (o.body) req.write(o.body);
    req.end();
  });
}

/** Writes raw bytes, collects everything until the server closes or `idleMs` of silence. */
export function raw(port: number, data: string | Buffer, idleMs = 500): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let t: NodeJS.Timeout;
    const done = () => {
      clearTimeout(t);
      s.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const arm = () => {
      clearTimeout(t);
      t = setTimeout(done, idleMs);
    };
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      arm();
    });
    s.on('close', done);
    s.on('error', done);
    s.write(data);
    arm();
  });
}

/** The status code of the first response in raw bytes (0 when none). */
export function firstStatus(text: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return m ? Number(m[1]) : 0;
}
