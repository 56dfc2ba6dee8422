/**
 * Labels and workload selectors (pkg/config/labels, validateWorkloadSelector): Kubernetes label
 * keys (`prefix/name`) and values, and the selectors of policies and sidecars — no empty key, no
 * `*` anywhere (selectors are exact), and a warning for a selector with no labels, which selects
 * every workload in the namespace.
 */
import { at, entries, has, isObj, key, type Report } from './report.js';

const DNS1123_LABEL_FMT = '[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?';
const QUALIFIED_NAME_FMT = '(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const TAG_KEY = new RegExp(`^(${DNS1123_LABEL_FMT}(?:\\.${DNS1123_LABEL_FMT})*/)?(${QUALIFIED_NAME_FMT})$`);
const LABEL_VALUE = new RegExp(`^(${QUALIFIED_NAME_FMT})?$`);

/** Istio's labels.Instance.Validate message for one key, or undefined. */
export function validateLabelKey(k: string): string | undefined {
  const m = TAG_KEY.exec(k);
  if (!m) return `invalid tag key: "${k}"`;
  if (m[1] && m[1].length - 1 > 253) return `invalid tag key: "${k}" (DNS prefix is too long)`;
  if (m[2].length > 63) return `invalid tag key: "${k}" (name is too long)`;
  return undefined;
}

export function validateLabelValue(v: string): string | undefined {
  return LABEL_VALUE.test(v) ? undefined : `invalid tag value: "${v}"`;
}

/** Every key and value of a label map (subset labels, endpoint labels, sourceLabels). */
export function validateLabels(rep: Report, path: string, labels: unknown): void {
  for (const [k, v] of entries(labels)) {
    const p = key(path, k);
    rep.check(p, validateLabelKey(k));
    rep.check(p, validateLabelValue(typeof v === 'string' ? v : String(v)));
  }
}

/**
 * A `selector: {matchLabels: ...}` of the security and telemetry kinds (type.v1beta1.WorkloadSelector).
 * `path` is the selector's own path.
 */
export function validateWorkloadSelector(rep: Report, path: string, selector: unknown): void {
  if (!has(selector)) return;
  const labelsPath = at(path, 'matchLabels');
  const labels = isObj(selector) ? selector.matchLabels : undefined;
  selectorLabelRules(rep, labelsPath, labels);
  if (entries(labels).length === 0) rep.warn(path, 'workload selector specified without labels');
}

/**
 * A `workloadSelector: {labels: ...}` of Sidecar, ServiceEntry, EnvoyFilter, DestinationRule
 * (networking WorkloadSelector). Returns true when it had no labels (callers word the warning).
 */
export function validateAlphaWorkloadSelector(rep: Report, path: string, selector: unknown): { empty: boolean } {
  if (!has(selector)) return { empty: false };
  const labels = isObj(selector) ? selector.labels : undefined;
  selectorLabelRules(rep, at(path, 'labels'), labels);
  return { empty: entries(labels).length === 0 };
}

function selectorLabelRules(rep: Report, path: string, labels: unknown): void {
  for (const [k, raw] of entries(labels)) {
    const v = typeof raw === 'string' ? raw : String(raw);
    const p = key(path, k);
    if (k === '') rep.error(p, `empty key is not supported in selector: "${k}=${v}"`);
    if (k.includes('*') || v.includes('*')) rep.error(p, `wildcard is not supported in selector: "${k}=${v}"`);
  }
}
