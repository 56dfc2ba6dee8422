/**
 * `x-kubernetes-validations`: the CEL rules in Istio's CRDs, evaluated as the API server does
 * (apiextensions-apiserver `schema/cel/validation.go`) with `@bufbuild/cel`.
 *
 * - Each rule is evaluated with `self` bound to the value at the schema node that carries it,
 *   for every such value in the object (list items, map values); null values are skipped.
 * - A false result is `<path>: Invalid value: "<type>": <message>` (or Forbidden / Required /
 *   Duplicate per `reason`), at `fieldPath` under the node when the rule gives one; the message is
 *   `messageExpression`'s result, else `message`, else `failed rule: <rule>`.
 * - An evaluation error is `Invalid value: "<type>": <error> evaluating rule: <message>`.
 * - Transition rules (those reading `oldSelf`) are skipped: validation here is always a create.
 *
 * Programs are compiled once per distinct rule text (196 of the 398 rules in Istio's 345
 * `x-kubernetes-validations` lists are the same duration check) and kept for the process's life.
 */
import { celEnv, celError, isCelError, parse, plan, type CelInput, type CelResult } from '@bufbuild/cel';
import type { JsonSchema, ValidationRule } from './crds.js';
import { kubernetesCelFunctions } from './cel-lib.js';
import { childPath, indexPath, keyPath, type FieldError } from './field-error.js';

type Program = (bindings: Record<string, CelInput>) => CelResult;

interface CompiledRule {
  rule: ValidationRule;
  program?: Program;
  message?: Program;
  /** Why the rule could not be compiled (a gap in the CEL library, reported once per use). */
  error?: string;
  transition: boolean;
}

let env: ReturnType<typeof celEnv> | undefined;
const programs = new Map<string, Program | string>();
const rulesBySchema = new WeakMap<JsonSchema, CompiledRule[]>();

/** Compiles one CEL expression (cached by text); a string is the compile error. */
export function compileCel(expr: string): Program | string {
  const hit = programs.get(expr);
  if (hit) return hit;
  env ??= celEnv({ funcs: kubernetesCelFunctions });
  let out: Program | string;
  try {
    const parsed = parse(expr);
    const bound = (name: string) => SPECIAL_FORMS.has(name) || env?.funcs.find(name) !== undefined;
    const unbound = calledFunctions(parsed.expr).filter((c) => !bound(c.name) && !(c.qualified && bound(c.qualified))).map((c) => c.name);
    if (unbound.length > 0) throw new Error(`unbound function: ${unbound.join(', ')}`);
    const p = plan(env, parsed);
    out = (b) => {
      try {
        return p(b);
      } catch (e) {
        return celError(e);
      }
    };
  } catch (e) {
    out = (e as Error).message || String(e);
  }
  programs.set(expr, out);
  return out;
}

/** Operators the planner evaluates itself (short-circuiting), not through the function table. */
const SPECIAL_FORMS = new Set(['_&&_', '_||_', '_?_:_', '_[_]', '_[?_]', '_?._', '@not_strictly_false', '__not_strictly_false__']);

interface Call {
  name: string;
  /** `ip.isCanonical` for `ip.isCanonical(x)`: a namespaced function, if the target is an identifier. */
  qualified?: string;
}

/** Every function an expression calls (the AST is plain protobuf-es message objects). */
function calledFunctions(node: unknown, out: Call[] = []): Call[] {
  if (Array.isArray(node)) {
    for (const n of node) calledFunctions(n, out);
  } else if (node && typeof node === 'object' && !(node instanceof Uint8Array)) {
    const o = node as { case?: unknown; value?: { function?: unknown; target?: { exprKind?: { case?: unknown; value?: { name?: unknown } } } } };
    if (o.case === 'callExpr' && typeof o.value?.function === 'string') {
      const t = o.value.target?.exprKind;
      const ns = t?.case === 'identExpr' && typeof t.value?.name === 'string' ? t.value.name : undefined;
      out.push({ name: o.value.function, qualified: ns ? `${ns}.${o.value.function}` : undefined });
    }
    for (const v of Object.values(node)) if (typeof v === 'object') calledFunctions(v, out);
  }
  return out;
}

function rulesOf(schema: JsonSchema): CompiledRule[] {
  let rules = rulesBySchema.get(schema);
  if (rules) return rules;
  rules = (schema['x-kubernetes-validations'] ?? []).map((rule) => {
    const transition = /\boldSelf\b/.test(rule.rule);
    if (transition) return { rule, transition };
    const program = compileCel(rule.rule);
    const message = rule.messageExpression ? compileCel(rule.messageExpression) : undefined;
    return {
      rule,
      transition,
      program: typeof program === 'string' ? undefined : program,
      message: typeof message === 'function' ? message : undefined,
      error: typeof program === 'string' ? program : undefined,
    };
  });
  rulesBySchema.set(schema, rules);
  return rules;
}

/** Every failed CEL rule in `value` (the pruned resource) under `schema`. */
export function celErrors(value: unknown, schema: JsonSchema, path: string, out: FieldError[] = []): FieldError[] {
  if (value === null || value === undefined) return out;
  const rules = rulesOf(schema);
  if (rules.length > 0) {
    const self = toCel(value, schema);
    for (const r of rules) if (!r.transition) evaluate(r, self, schema, path, out);
  }
  if (Array.isArray(value)) {
    const items = schema.items;
    if (items) value.forEach((v, i) => celErrors(v, items, indexPath(path, i), out));
  } else if (typeof value === 'object') {
    const additional = typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const prop = schema.properties?.[k];
      if (prop) celErrors(v, prop, childPath(path, k), out);
      else if (additional) celErrors(v, additional, keyPath(path, k), out);
    }
  }
  return out;
}

function evaluate(r: CompiledRule, self: CelInput, schema: JsonSchema, path: string, out: FieldError[]): void {
  const type = schema.type ?? '';
  const ruleText = (r.rule.message ?? '').trim() || r.rule.rule.trim();
  if (!r.program) {
    // The API server would have refused the CRD; here it means Spar's CEL library lacks something
    // the rule needs. Say so, without blocking the resource.
    out.push({ type: 'Unchecked', path, detail: `Spar cannot evaluate the CRD rule ${JSON.stringify(r.rule.rule.trim())} (${r.error ?? 'compile error'})` });
    return;
  }
  const result = r.program({ self });
  if (isCelError(result)) {
    out.push({ type: 'Invalid', path, value: type, detail: `${celErrorText(result.message)} evaluating rule: ${ruleText}` });
    return;
  }
  if (result === true) return;
  let message = r.rule.message?.trim() ? r.rule.message.trim() : `failed rule: ${r.rule.rule.trim()}`;
  if (r.message) {
    const m = r.message({ self });
    if (typeof m === 'string' && m.trim() !== '' && !m.includes('\n')) message = m.trim();
  }
  const at = r.rule.fieldPath ? joinFieldPath(path, r.rule.fieldPath) : path;
  switch (r.rule.reason) {
    case 'FieldValueForbidden':
      out.push({ type: 'Forbidden', path: at, detail: message });
      break;
    case 'FieldValueRequired':
      out.push({ type: 'Required', path: at, detail: message });
      break;
    case 'FieldValueDuplicate':
      out.push({ type: 'Duplicate', path: at, value: type });
      break;
    default:
      out.push({ type: 'Invalid', path: at, value: type, detail: message });
  }
}

/** cel-go's wording for the runtime errors users see (bufbuild words some differently). */
function celErrorText(msg: string): string {
  if (msg.startsWith('found no matching overload')) return `no such overload: ${msg}`;
  const missing = /^field not found: (.*)$/.exec(msg);
  if (missing) return `no such key: ${missing[1]}`;
  return msg;
}

/** `fieldPath: .spec.foo['bar'][0]` appended to the rule's own path. */
function joinFieldPath(base: string, rel: string): string {
  let path = base;
  const re = /\.([A-Za-z_$][\w$-]*)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(rel))) {
    if (m[1] !== undefined) path = childPath(path, m[1]);
    else if (m[2] !== undefined) path = childPath(path, m[2]);
    else if (m[3] !== undefined) path = indexPath(path, Number(m[3]));
  }
  return path;
}

/**
 * A JSON value as CEL sees it under its schema: `integer` fields are CEL ints (bigint), `number`
 * fields doubles, objects maps, arrays lists. Untyped values (preserved unknown fields,
 * int-or-string) are ints when integral.
 */
export function toCel(v: unknown, s: JsonSchema | undefined): CelInput {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') {
    if (s?.type === 'number' || !Number.isSafeInteger(v)) return v;
    return BigInt(v);
  }
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map((x) => toCel(x, s?.items));
  if (typeof v === 'object') {
    const additional = typeof s?.additionalProperties === 'object' ? s.additionalProperties : undefined;
    const m = new Map<string, CelInput>();
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) m.set(k, toCel(x, s?.properties?.[k] ?? additional));
    return m;
  }
  return null;
}
