/**
 * Go's `time.ParseDuration`, which cel-go's `duration(string)` uses and therefore what decides
 * the 196 `duration(self) >= duration('1ms')` rules in Istio's CRDs: `""` and a bare number are
 * errors, `µs`/`μs` are microseconds, and the error texts are Go's (`time: invalid duration
 * "apple"`, `time: missing unit in duration "5"`, `time: unknown unit "d" in duration "1d"`).
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
const MAX = 1n << 63n;

/** Nanoseconds, or Go's error text. */
export function goParseDuration(orig: string): { nanos: bigint } | { error: string } {
  const invalid = { error: `time: invalid duration ${quote(orig)}` };
  let s = orig;
  let neg = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return { nanos: 0n };
  if (s === '') return invalid;
  let total = 0n;
  while (s !== '') {
    if (!/^[0-9.]/.test(s)) return invalid;
    const int = /^[0-9]*/.exec(s)![0];
    s = s.slice(int.length);
    let v = int === '' ? 0n : BigInt(int);
    if (v > MAX) return invalid;
    let frac = '';
    let post = false;
    if (s.startsWith('.')) {
      frac = /^[0-9]*/.exec(s.slice(1))![0];
      s = s.slice(1 + frac.length);
      post = frac.length > 0;
    }
    if (int === '' && !post) return invalid;
    const unitLen = s.search(/[0-9.]/);
    const unit = unitLen < 0 ? s : s.slice(0, unitLen);
    if (unit === '') return { error: `time: missing unit in duration ${quote(orig)}` };
    s = s.slice(unit.length);
    const scale = UNIT_NANOS[unit];
    if (scale === undefined) return { error: `time: unknown unit ${quote(unit)} in duration ${quote(orig)}` };
    if (v > MAX / scale) return invalid;
    v *= scale;
    if (frac !== '') {
      // Go accumulates the fraction as an integer and scales it in float64; so does this.
      const digits = frac.slice(0, 18);
      v += BigInt(Math.trunc(Number(digits) * (Number(scale) / 10 ** digits.length)));
      if (v > MAX) return invalid;
    }
    total += v;
    if (total > MAX) return invalid;
  }
  if (!neg && total > MAX - 1n) return invalid;
  return { nanos: neg ? -total : total };
}

/** Go's `quote` in the time package: a double-quoted string. */
function quote(s: string): string {
  return JSON.stringify(s);
}
