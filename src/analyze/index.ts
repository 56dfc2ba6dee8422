/**
 * `analyze()`: runs the registered analyzers over one snapshot of resources and returns
 * istioctl's message list: deduplicated, sorted (level, code, resource, text), filtered to the
 * namespace asked for, with `galley.istio.io/analyze-suppress` annotations honoured.
 *
 * Analyzers that need the service registry (Services, pods) are skipped when the input has none:
 * without a cluster those would report every host and selector as missing. istioctl made the same
 * choice with its "service discovery" switch; the skipped analyzers are returned so the CLI can say so.
 */
import type { Diagnostic } from '../api/diagnostics.js';
import type { ConfigResource } from '../config/resource.js';
import { allAnalyzers, type Analyzer } from './analyzer.js';
import { Snapshot, type SnapshotOptions } from './snapshot.js';
import { CLUSTER_SCOPED, MSG, render } from './messages.js';
import './analyzers/annotations.js';
import './analyzers/destinationrule.js';
import './analyzers/envoyfilter.js';
import './analyzers/gateway.js';
import './analyzers/webhooks.js';
import './analyzers/pods.js';
import './analyzers/schema.js';
import './analyzers/security.js';
import './analyzers/serviceentry.js';
import './analyzers/status.js';
import './analyzers/telemetry.js';
import './analyzers/virtualservice.js';
import './analyzers/vsrules.js';
import './analyzers/workloads.js';

export { allAnalyzers, findAnalyzer, type Analyzer } from './analyzer.js';
export { Snapshot } from './snapshot.js';

export interface AnalyzeOptions extends SnapshotOptions {
  /** Only messages about resources in this namespace (cluster-scoped ones always); undefined for all. */
  namespace?: string;
  /** Run only these analyzers (Istio names); default all. */
  analyzers?: readonly string[];
  /** Run analyzers that need Services or pods even when the input has none. */
  forceRegistry?: boolean;
}

export interface AnalyzeResult {
  messages: Diagnostic[];
  /** Messages dropped because their resource is outside `namespace`. */
  hiddenByNamespace: number;
  snapshot: Snapshot;
  executed: string[];
  /** Analyzers skipped, with what the input lacks (`no Kubernetes Service`). */
  skipped: { name: string; reason: string }[];
}

const LEVEL_ORDER = { Error: 0, Warning: 1, Info: 2 } as const;

/** One line per message, as istioctl prints it (without the origin's file). */
export function messageKey(d: Diagnostic): string {
  const ref = d.resource ? `${d.resource.kind} ${d.resource.namespace ? `${d.resource.namespace}/` : ''}${d.resource.name}` : '';
  const where = d.pos ? ` ${d.pos.file}:${d.pos.line}` : '';
  return `${d.level} [${d.code}] (${ref}${where}) ${d.message}`;
}

export function analyze(resources: readonly ConfigResource[], opts: AnalyzeOptions = {}): AnalyzeResult {
  const snapshot = new Snapshot(resources, opts);
  const wanted = opts.analyzers ? new Set(opts.analyzers) : undefined;
  const executed: string[] = [];
  const skipped: { name: string; reason: string }[] = [];
  const raw: Diagnostic[] = [];
  for (const a of allAnalyzers()) {
    if (wanted ? !wanted.has(a.name) : a.optIn) continue;
    const missing = missingInputs(a, snapshot);
    if (missing && !opts.forceRegistry) {
      skipped.push({ name: a.name, reason: missing });
      continue;
    }
    executed.push(a.name);
    try {
      a.analyze({ snapshot, report: (d) => raw.push(d) });
    } catch (e) {
      // An analyzer bug must not hide what the others found; istioctl reports it as IST0001 with no resource.
      const t = MSG.InternalError;
      raw.push({ level: t.level, code: t.code, codeName: t.name, message: render(t.template, [`analyzer ${a.name}: ${(e as Error).message}`]) });
    }
  }
  const byRef = new Map(snapshot.resources.map((r) => [`${r.kind}/${CLUSTER_SCOPED.has(r.kind) ? '' : r.namespace}/${r.name}`, r]));
  let hidden = 0;
  const kept: Diagnostic[] = [];
  for (const d of raw) {
    const r = d.resource ? byRef.get(`${d.resource.kind}/${d.resource.namespace ?? ''}/${d.resource.name}`) : undefined;
    if (r && suppressed(r, d.code ?? '')) continue;
    // istioctl's stand-in gateway is not the user's to fix.
    if (r && !r.source) continue;
    const ns = r?.kind === 'Namespace' ? r.name : d.resource?.namespace;
    if (opts.namespace !== undefined && ns && ns !== opts.namespace) {
      hidden++;
      continue;
    }
    kept.push(d);
  }
  return { messages: sortDedupe(kept), hiddenByNamespace: hidden, snapshot, executed, skipped };
}

function missingInputs(a: Analyzer, s: Snapshot): string | undefined {
  if (a.needs?.services && !s.has.services) return 'no Kubernetes Service';
  if (a.needs?.pods && !s.has.pods) return 'no Pod or workload (Deployment ...)';
  return undefined;
}

function suppressed(r: ConfigResource, code: string): boolean {
  const v = r.metadata.annotations?.['galley.istio.io/analyze-suppress'];
  if (typeof v !== 'string' || v === '') return false;
  return v.split(',').some((c) => c.trim() === '*' || c.trim() === code);
}

/** istioctl's SortedDedupedCopy: by level, code, resource (kind/name/namespace), then text. */
export function sortDedupe(ds: Diagnostic[]): Diagnostic[] {
  const cmp = (d: Diagnostic) => (d.resource ? `${d.resource.kind}/${d.resource.name}/${d.resource.namespace ?? ''}` : '');
  // Byte order, as Go compares strings (`details-admin` sorts before `details/`).
  const order = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  const sorted = [...ds].sort((a, b) =>
    LEVEL_ORDER[a.level] - LEVEL_ORDER[b.level] ||
    order(a.code ?? '', b.code ?? '') ||
    (a.resource ? 1 : 0) - (b.resource ? 1 : 0) ||
    order(cmp(a), cmp(b)) ||
    order(messageKey(a), messageKey(b)));
  const out: Diagnostic[] = [];
  let last = '';
  for (const d of sorted) {
    const k = messageKey(d);
    if (k === last) continue;
    out.push(d);
    last = k;
  }
  return out;
}
