/**
 * Printing analysis messages the way istioctl analyze does:
 * - text (istioctl's `log`): `Error [IST0101] (VirtualService default/reviews file.yaml:12) Referenced host not found: "reviews2"`
 * - json: an array of `{code, documentationUrl, level, message, origin, reference}`, tab-indented
 * - yaml: the same objects, keys sorted as Kubernetes' YAML printer sorts them
 */
import { stringify } from 'yaml';
import type { Diagnostic, Level } from '../api/diagnostics.js';

export type AnalyzeFormat = 'text' | 'json' | 'yaml';

export const DOCS_URL = 'https://istio.io/latest/docs/reference/config/analysis';

const LEVELS: Record<string, Level> = { error: 'Error', warning: 'Warning', warn: 'Warning', info: 'Info' };
const SEVERITY: Record<Level, number> = { Error: 0, Warning: 1, Info: 2 };

/** `error`/`Warning`/`INFO` -> Level; undefined for anything else. */
export function parseLevel(s: string): Level | undefined {
  return LEVELS[s.toLowerCase()];
}

/** istioctl's IsWorseThanOrEqualTo. */
export function atLeast(level: Level, threshold: Level): boolean {
  return SEVERITY[level] <= SEVERITY[threshold];
}

/** `VirtualService default/reviews` (cluster-scoped kinds without a namespace). */
export function originOf(d: Diagnostic): string {
  const r = d.resource;
  if (!r) return '';
  return `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`;
}

/** `file.yaml:12` (JSON files print without a line, as istioctl does). */
export function referenceOf(d: Diagnostic): string | undefined {
  if (!d.pos) return undefined;
  return d.pos.file.toLowerCase().endsWith('.json') ? d.pos.file : `${d.pos.file}:${d.pos.line}`;
}

export function renderText(d: Diagnostic): string {
  const ref = referenceOf(d);
  const origin = d.resource ? ` (${originOf(d)}${ref ? ` ${ref}` : ''})` : '';
  return `${d.level} [${d.code}]${origin} ${d.message}`;
}

function unstructured(d: Diagnostic): Record<string, unknown> {
  const out: Record<string, unknown> = {
    code: d.code,
    documentationUrl: `${DOCS_URL}/${(d.code ?? '').toLowerCase()}/?ref=istioctl-analyze`,
    level: d.level,
    message: d.message,
  };
  if (d.resource) {
    out.origin = originOf(d);
    const ref = referenceOf(d);
    if (ref) out.reference = ref;
  }
  return out;
}

/** The whole output for stdout, ending in a newline. */
export function formatMessages(ds: readonly Diagnostic[], format: AnalyzeFormat): string {
  if (format === 'json') return JSON.stringify(ds.map(unstructured), null, '\t') + '\n';
  if (format === 'yaml') return ds.length ? stringify(ds.map(unstructured), { sortMapEntries: true, lineWidth: 0 }) : '[]\n';
  return ds.map(renderText).join('\n') + (ds.length ? '\n' : '');
}
