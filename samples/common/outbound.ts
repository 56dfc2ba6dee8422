/**
 * The samples' outbound HTTP client: one GET, a fresh connection each time (productpage says it
 * "intentionally does not pool so that we can easily test load distribution across many versions"),
 * and a timeout that works like the clients Istio's apps use: Python `requests` (`timeout=3.0`) and
 * the JAX-RS client in reviews (connection + receive timeout) both bound the connect and each wait
 * for bytes, so the timeout here is the socket's idle time, not a deadline for the whole exchange.
 */
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface OutboundResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Why a call produced no response (the apps treat all of these alike). */
export class OutboundError extends Error {
  constructor(
    readonly url: string,
    readonly reason: 'timeout' | 'connect' | 'reset' | 'bad-url',
    detail: string,
  ) {
    super(`GET ${url}: ${reason}: ${detail}`);
  }
}

/** GET `url` with `headers`; rejects with OutboundError if no response arrives within the idle timeout. */
export function httpGet(url: string, headers: OutgoingHttpHeaders, timeoutMs: number): Promise<OutboundResponse> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      reject(new OutboundError(url, 'bad-url', 'not a URL'));
      return;
    }
    const requester = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = requester(target, { method: 'GET', headers, agent: false, timeout: timeoutMs }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', (err) => reject(new OutboundError(url, 'reset', err.message)));
    });
    req.on('timeout', () => {
      req.destroy(new OutboundError(url, 'timeout', `no data for ${timeoutMs} ms`));
    });
    req.on('error', (err) => {
      if (err instanceof OutboundError) reject(err);
      else {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        reject(new OutboundError(url, /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)$/.test(code) ? 'connect' : 'reset', err.message));
      }
    });
    req.end();
  });
}
