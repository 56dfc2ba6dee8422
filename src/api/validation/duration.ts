/**
 * Durations as Istio's resources write them: Go's `time.ParseDuration` syntax (`1h30m`, `15m`,
 * `250ms`, `1.5s`) which also covers protobuf JSON (`3.000000042s`), and the webhook's rule for
 * every timeout-like field (agent.ValidateDuration): at least 1ms, and a whole number of
 * milliseconds, since Envoy's timers have millisecond resolution.
 *
 * Parsing is exact (BigInt nanoseconds): `3.000000042s` must be told apart from `3s`.
 */
import { goParseDuration } from '../go-duration.js';

const MS = 1_000_000n;

/** Nanoseconds of a duration string (Go's time.ParseDuration), or undefined when it is not valid. */
export function parseDuration(s: string): bigint | undefined {
  const r = goParseDuration(s);
  return 'nanos' in r ? r.nanos : undefined;
}

/**
 * Istio's agent.ValidateDuration: `duration must be greater than 1ms` and `only durations to ms
 * precision are supported`. Undefined when fine.
 */
export function validateDuration(s: unknown): string | undefined {
  if (typeof s !== 'string') return undefined; // the schema reports a wrong type
  const ns = parseDuration(s);
  if (ns === undefined) return `invalid duration "${s}": use a number and a unit, e.g. 500ms, 10s, 1m, 1h`;
  if (ns < MS) return 'duration must be greater than 1ms';
  if (ns % MS !== 0n) return 'only durations to ms precision are supported';
  return undefined;
}

/** Whether a duration has a sub-second part (CORS maxAge is accurate only to seconds). */
export function hasSubSecond(s: string): boolean {
  const ns = parseDuration(s);
  return ns !== undefined && ns % 1_000_000_000n !== 0n;
}

/** Whether the duration is exactly zero ms when truncated (Istio skips idleTimeout: 0s). */
export function isZeroMillis(s: string): boolean {
  const ns = parseDuration(s);
  return ns !== undefined && ns / MS === 0n;
}
