/**
 * Regular expressions the way Envoy runs them: Google RE2 (through the `re2-wasm` package, the
 * real RE2 compiled to WebAssembly), so that a JavaScript-only construct such as a lookahead
 * `(?=...)`, a lookbehind or a backreference `\1` is refused here rather than NACKed by a proxy.
 *
 * Compiling is the expensive part and the same pattern recurs across a config set, so each
 * pattern's verdict is cached (bounded, oldest first out).
 */
import { RE2 } from 're2-wasm';

/** Istio's limit on a regex in a match or rewrite. */
export const MAX_REGEX_LENGTH = 1024;
const CACHE_MAX = 4096;
const cache = new Map<string, string | null>();

/** RE2's complaint about `pattern`, or undefined when RE2 accepts it. Never throws. */
export function re2Error(pattern: string): string | undefined {
  const hit = cache.get(pattern);
  if (hit !== undefined) return hit ?? undefined;
  let verdict: string | null = null;
  try {
    new RE2(pattern, 'u');
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    // "Invalid regular expression: /(?=a)/u: invalid perl operator: (?=" → the RE2 part.
    const i = msg.lastIndexOf('/u: ');
    verdict = i >= 0 ? msg.slice(i + 4) : msg;
  }
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(pattern, verdict);
  return verdict ?? undefined;
}

/**
 * Istio's validateStringRegexp: the length limit, then RE2 compilation. `where` names the match
 * (`uri`, `headers` ...) as Istio does, quoted.
 */
export function validateRegex(pattern: string, where: string): string | undefined {
  if (pattern.length > MAX_REGEX_LENGTH) return `"${where}": regex is too large, max length allowed is ${MAX_REGEX_LENGTH}`;
  const err = re2Error(pattern);
  if (err === undefined) return undefined;
  return `"${where}": error parsing regexp: ${err}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)`;
}
