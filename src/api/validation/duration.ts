/**
 * Durations as Istio's resources write them: Go's `time.ParseDuration` syntax (`1h30m`, `15m`,
 * `250ms`, `1.5s`) which also covers protobuf JSON (`3.000000042s`), and the webhook's rule for
 * every timeout-like field (agent.ValidateDuration): at least 1ms, and a whole number of
 * milliseconds, since Envoy's timers have millisecond resolution.
 *
 * Parsing is exact (BigInt nanoseconds): `3.000000042s` must be told apart from `3s`.
 */

const UNIT_NANOS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 micro sign
  'μs': 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const PART = /^(\d*)(?:\.(\d*))?([a-zµμ]+)/;
const MS = 1_000_000n;

/** Nanoseconds of a duration string, or undefined when it is not a valid duration. */
export function parseDuration(s: string): bigint | undefined {
  let rest = s;
  let sign = 1n;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1n;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0n;
  if (rest === '') return undefined;
  let total = 0n;
  while (rest.length > 0) {
    const m = PART.exec(rest);
    if (!m) return undefined;
    const [whole, intPart, frac = '', unit] = m;
    if (intPart === '' && frac === '') return undefined;
    const per = UNIT_NANOS[unit];
    if (per === undefined) return undefined;
    total += BigInt(intPart || '0') * per;
    if (frac) {
      // Go truncates a fraction finer than a nanosecond.
      const scale = 10n ** BigInt(frac.length);
      total += (BigInt(frac) * per) / scale;
    }
    rest = rest.slice(whole.length);
  }
  return sign * total;
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
