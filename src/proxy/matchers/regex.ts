/**
 * RE2 regular expressions, as Envoy's `safe_regex` (RegexMatcher with google_re2) requires: linear
 * time, no backtracking. Compiled once at config time with `re2-wasm`; Envoy's regex matchers match
 * the whole value, so patterns are anchored here.
 */
import { RE2 } from 're2-wasm';
import { Fields } from '../config/fields.js';

export interface CompiledRegex {
  readonly source: string;
  /** Whole-string match (Envoy's `safe_regex` semantics). */
  full(s: string): boolean;
  /** Every match replaced by `substitution` (Envoy's `regex_rewrite`, `\1` style group references). */
  replaceAll(s: string, substitution: string): string;
}

export function compileRegex(pattern: string, f: Fields, key: string): CompiledRegex | undefined {
  try {
    const anchored = new RE2(`^(?:${pattern})$`, 'u');
    const global = new RE2(pattern, 'gu');
    return {
      source: pattern,
      full: (s) => anchored.test(s),
      replaceAll: (s, sub) => {
        global.lastIndex = 0;
        return global.replace(s, sub);
      },
    };
  } catch (e) {
    f.error(key, `invalid RE2 regex ${JSON.stringify(pattern)}: ${(e as Error).message}`);
    return undefined;
  }
}

/** envoy.type.matcher.v3.RegexMatcher: `{regex, google_re2?}`. */
export function readRegexMatcher(f: Fields): CompiledRegex | undefined {
  const g = f.opt('google_re2');
  if (g) {
    g.unsupported('max_program_size', 'deprecated and not supported by spar proxy');
    g.done();
  }
  const pattern = f.str('regex');
  f.done();
  return compileRegex(pattern, f, 'regex');
}

/** Envoy's regex substitution uses `\1`; JavaScript's replace uses `$1`. */
export function toJsSubstitution(sub: string): string {
  return sub.replace(/\$/g, '$$$$').replace(/\\(\d)/g, '$$$1');
}
