/**
 * Envoy's local replies: the status, body text and response flag Envoy produces when it answers a
 * request itself (no route, no healthy upstream, connect failure, timeout ...). Bodies match Envoy's
 * text so clients and tests see the same thing from either proxy.
 */
import type { ResponseFlagName } from '../stream-info.js';

export interface LocalReplySpec {
  status: number;
  body: string | Buffer;
  flag?: ResponseFlagName;
  details: string;
  /** For gRPC requests: the grpc-status to send (default: mapped from `status`). */
  grpcStatus?: number;
}

export const LocalReply = {
  noRoute: { status: 404, body: '', flag: 'NR', details: 'route_not_found' },
  noCluster: { status: 503, body: '', flag: 'NC', details: 'cluster_not_found' },
  noHealthyUpstream: { status: 503, body: 'no healthy upstream', flag: 'UH', details: 'no_healthy_upstream' },
  overflow: { status: 503, body: 'upstream connect error or disconnect/reset before headers. reset reason: overflow', flag: 'UO', details: 'upstream_reset_before_response_started{overflow}' },
  timeout: { status: 504, body: 'upstream request timeout', flag: 'UT', details: 'upstream_response_timeout' },
} as const satisfies Record<string, LocalReplySpec>;

/** The 503 text for an upstream failure before response headers (Envoy's wording). */
export function resetBeforeHeaders(reason: string, transportFailure: string, retried: boolean): string {
  return `upstream connect error or disconnect/reset before headers. ${retried ? 'retried and the latest ' : ''}reset reason: ${reason}${transportFailure ? `, transport failure reason: ${transportFailure}` : ''}`;
}
