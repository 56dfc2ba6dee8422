/**
 * Which request headers the Bookinfo apps copy onto their outbound calls, so that a mesh can stitch
 * one trace together and route on `end-user`. The lists are Istio's (productpage.py
 * `getForwardHeaders`, details.rb `get_forward_headers`, reviews `headers_to_propagate`, kept in
 * sync upstream); productpage alone hands the b3 headers to OpenTelemetry's B3 multi-header
 * propagator instead of copying them, which is why it re-encodes them (see `b3Forward`).
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Copied verbatim by productpage (b3 goes through `b3Forward`, `end-user` comes from the session). */
export const PRODUCTPAGE_FORWARDED: readonly string[] = [
  'x-request-id',
  'x-ot-span-context',
  'x-datadog-trace-id',
  'x-datadog-parent-id',
  'x-datadog-sampling-priority',
  'traceparent',
  'tracestate',
  'x-cloud-trace-context',
  'grpc-trace-bin',
  'sw8',
  'user-agent',
  'cookie',
  'authorization',
  'jwt',
];

/** Copied verbatim by details (to its external book service) and reviews (to ratings). */
export const BACKEND_FORWARDED: readonly string[] = [
  'x-request-id',
  'x-ot-span-context',
  'x-datadog-trace-id',
  'x-datadog-parent-id',
  'x-datadog-sampling-priority',
  'traceparent',
  'tracestate',
  'x-cloud-trace-context',
  'grpc-trace-bin',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'sw8',
  'end-user',
  'user-agent',
  'cookie',
  'authorization',
  'jwt',
];

/** The incoming headers named in `names` that are present, in the list's order (first value of repeats). */
export function pickHeaders(incoming: IncomingHttpHeaders, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const v = incoming[name];
    if (v === undefined) continue;
    out[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

const TRACE_ID = /^(?:[0-9a-fA-F]{16}|[0-9a-fA-F]{32})$/;
const SPAN_ID = /^[0-9a-fA-F]{16}$/;
const SAMPLED_VALUES = new Set(['1', 'True', 'true', 'd']);

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * What OpenTelemetry's `B3MultiFormat` extract-then-inject does to a request's b3 context, as
 * productpage uses it: read the single `b3` header if present, else the `x-b3-*` headers; if the
 * trace and span ids are valid, emit `x-b3-traceid` (zero-padded to 32 hex digits), `x-b3-spanid`
 * and `x-b3-sampled` (`1` when sampled, `d`ebug or `x-b3-flags: 1`, else `0`). The parent span id,
 * the flags and the single `b3` header are not passed on; invalid or absent ids emit nothing.
 */
export function b3Forward(incoming: IncomingHttpHeaders): Record<string, string> {
  let traceId: string | undefined;
  let spanId: string | undefined;
  let sampled: string;
  let flags: string | undefined;
  const single = first(incoming['b3']);
  if (single) {
    sampled = '1'; // the spec's "deferred" decision; OpenTelemetry records it as sampled
    const fields = single.split('-');
    if (fields.length === 1) sampled = fields[0]!;
    else if (fields.length >= 2 && fields.length <= 4) {
      traceId = fields[0];
      spanId = fields[1];
      if (fields.length >= 3) sampled = fields[2]!;
    } else return {};
  } else {
    traceId = first(incoming['x-b3-traceid']);
    spanId = first(incoming['x-b3-spanid']);
    sampled = first(incoming['x-b3-sampled']) || '0';
    flags = first(incoming['x-b3-flags']);
  }
  if (traceId === undefined || spanId === undefined || !TRACE_ID.test(traceId) || !SPAN_ID.test(spanId)) return {};
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return {}; // OpenTelemetry's INVALID ids
  const isSampled = SAMPLED_VALUES.has(sampled) || flags === '1';
  return {
    'x-b3-traceid': traceId.toLowerCase().padStart(32, '0'),
    'x-b3-spanid': spanId.toLowerCase(),
    'x-b3-sampled': isSampled ? '1' : '0',
  };
}
