/**
 * A small rate limit service for proxy tests: a real gRPC server speaking Envoy's
 * envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit, counting hits per (domain,
 * descriptor) against limits the test sets. Each request is recorded (domain, descriptors, hits),
 * so a test can compare what Envoy and `spar proxy` send. Modes let a test make the service fail:
 * `error` answers UNAVAILABLE, `slow` answers after `delayMs`; stop() takes it away entirely.
 */
import { Server, ServerCredentials, status as GrpcStatus, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { decodeMessage, encodeMessage, type EnvoyJson } from '../../../src/xds/codec.js';

export interface RlsDescriptor {
  entries: { key: string; value: string }[];
}
export interface RlsRequest {
  domain: string;
  descriptors: RlsDescriptor[];
  hits_addend?: number;
}

/** "key=value,key=value" — how limits and counts are keyed. */
export const descriptorKey = (d: RlsDescriptor): string => d.entries.map((e) => `${e.key}=${e.value}`).join(',');

const REQ = 'envoy.service.ratelimit.v3.RateLimitRequest';
const RESP = 'envoy.service.ratelimit.v3.RateLimitResponse';

export class RlsServer {
  readonly requests: RlsRequest[] = [];
  /** Hits per "domain|descriptor". */
  readonly counts = new Map<string, number>();
  /** Limits per "domain|descriptor" (requests per minute); descriptors without one are never limited. */
  readonly limits = new Map<string, number>();
  mode: 'ok' | 'error' | 'slow' = 'ok';
  delayMs = 0;
  /** Headers the service asks the proxy to add (to the response, and to the upstream request on OK). */
  responseHeadersToAdd: { key: string; value: string }[] = [];
  requestHeadersToAdd: { key: string; value: string }[] = [];
  port = 0;
  private server: Server | undefined;

  async start(port = 0): Promise<void> {
    const server = new Server();
    const ident = (b: Uint8Array) => Buffer.from(b);
    const fromBuf = (b: Buffer) => new Uint8Array(b);
    server.addService({
      ShouldRateLimit: {
        path: '/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit',
        requestStream: false, responseStream: false,
        requestSerialize: ident, requestDeserialize: fromBuf, responseSerialize: ident, responseDeserialize: fromBuf,
      },
    } as never, {
      ShouldRateLimit: (call: ServerUnaryCall<Uint8Array, Uint8Array>, cb: sendUnaryData<Uint8Array>) => this.onCall(call, cb),
    } as never);
    this.port = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    this.server = server;
  }

  async stop(): Promise<void> {
    this.server?.forceShutdown();
    this.server = undefined;
  }

  /** Sets a limit: `limit` hits per minute for that descriptor in that domain. */
  limit(domain: string, d: RlsDescriptor, perMinute: number): void {
    this.limits.set(`${domain}|${descriptorKey(d)}`, perMinute);
  }

  /** Recorded requests whose descriptors include one with this key. */
  requestsFor(domain: string): RlsRequest[] {
    return this.requests.filter((r) => r.domain === domain);
  }

  private onCall(call: ServerUnaryCall<Uint8Array, Uint8Array>, cb: sendUnaryData<Uint8Array>): void {
    const req = decodeMessage(REQ, call.request) as unknown as RlsRequest;
    req.descriptors ??= [];
    this.requests.push(req);
    if (this.mode === 'error') return cb({ code: GrpcStatus.UNAVAILABLE, details: 'rls down (test)' });
    const answer = () => {
      const hits = req.hits_addend || 1;
      let over = false;
      const statuses = req.descriptors.map((d) => {
        const k = `${req.domain}|${descriptorKey(d)}`;
        const n = (this.counts.get(k) ?? 0) + hits;
        this.counts.set(k, n);
        const limit = this.limits.get(k);
        if (limit === undefined) return { code: 'OK' };
        const exceeded = n > limit;
        over ||= exceeded;
        return { code: exceeded ? 'OVER_LIMIT' : 'OK', current_limit: { requests_per_unit: limit, unit: 'MINUTE' }, limit_remaining: Math.max(0, limit - n), duration_until_reset: '60s' };
      });
      const resp: EnvoyJson = { overall_code: over ? 'OVER_LIMIT' : 'OK', statuses } as EnvoyJson;
      if (this.responseHeadersToAdd.length) resp.response_headers_to_add = this.responseHeadersToAdd;
      if (this.requestHeadersToAdd.length) resp.request_headers_to_add = this.requestHeadersToAdd;
      cb(null, encodeMessage(RESP, resp));
    };
    if (this.mode === 'slow') setTimeout(answer, this.delayMs);
    else answer();
  }
}
