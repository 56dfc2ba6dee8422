/**
 * envoy.type.matcher.v3.StringMatcher compiled to a predicate: exact, prefix, suffix, contains,
 * safe_regex, with ignore_case (which Envoy does not apply to safe_regex).
 */
import { Fields } from '../config/fields.js';
import { readRegexMatcher } from './regex.js';

export type StringPredicate = (s: string) => boolean;

export function compileStringMatcher(f: Fields): StringPredicate {
  const ic = f.bool('ignore_case');
  let pred: StringPredicate = () => false;
  let kinds = 0;
  if (f.has('exact')) {
    kinds++;
    const v = f.str('exact');
    const lv = v.toLowerCase();
    pred = ic ? (s) => s.toLowerCase() === lv : (s) => s === v;
  }
  if (f.has('prefix')) {
    kinds++;
    const v = f.str('prefix');
    const lv = v.toLowerCase();
    pred = ic ? (s) => s.toLowerCase().startsWith(lv) : (s) => s.startsWith(v);
  }
  if (f.has('suffix')) {
    kinds++;
    const v = f.str('suffix');
    const lv = v.toLowerCase();
    pred = ic ? (s) => s.toLowerCase().endsWith(lv) : (s) => s.endsWith(v);
  }
  if (f.has('contains')) {
    kinds++;
    const v = f.str('contains');
    const lv = v.toLowerCase();
    pred = ic ? (s) => s.toLowerCase().includes(lv) : (s) => s.includes(v);
  }
  if (f.has('safe_regex')) {
    kinds++;
    const re = readRegexMatcher(f.obj_('safe_regex'));
    if (re) pred = (s) => re.full(s);
  }
  f.unsupported('custom', 'custom string matchers are not supported by spar proxy');
  if (kinds !== 1) f.error('', 'exactly one of exact, prefix, suffix, contains, safe_regex must be set');
  f.done();
  return pred;
}
