/**
 * `spar analyze [-f] PATH...`: istioctl analyze on files. Reads every resource, runs the
 * registered analyzers over them together and prints Istio's messages (IST0101 ...).
 *
 * Exit codes are istioctl's: 79 when a message is at or above --failure-threshold (default
 * Error), 65 when some input could not be read and nothing else failed, 0 otherwise. As in
 * istioctl, only the text output sets them: `-o json|yaml` always exits 0 (the output is data for
 * another program to judge).
 *
 * Spar has no cluster to ask, so it analyzes the files alone (istioctl's `--use-kube=false`),
 * adding istioctl's stand-in ingress gateway, and using the Services, Pods and Namespaces in the
 * files. Checks that need Services or pods are skipped, with a note, when the files have none.
 */
import type { Diagnostic, Level } from '../api/diagnostics.js';
import { analyze, allAnalyzers, findAnalyzer, type AnalyzeResult } from '../analyze/index.js';
import { atLeast, DOCS_URL, formatMessages, originOf, parseLevel, type AnalyzeFormat } from '../analyze/format.js';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parsePaths } from '../config/parse.js';
import { UserError } from '../common/errors.js';

export interface AnalyzeCliOptions {
  filename?: string[];
  output: string;
  namespace?: string;
  allNamespaces?: boolean;
  failureThreshold: string;
  outputThreshold: string;
  suppress?: string[];
  analyzer?: string[];
  listAnalyzers?: boolean;
  verbose?: boolean;
  meshConfigFile?: string;
}

export const EXIT_ANALYZER_FOUND_ISSUES = 79;
export const EXIT_DATA_ERROR = 65;

function levelOption(name: string, v: string): Level {
  const l = parseLevel(v);
  if (!l) throw new UserError(`${name} "${v}" is not a level: use Error, Warning or Info`, 64);
  return l;
}

function formatOption(v: string): AnalyzeFormat {
  const f = v.toLowerCase();
  if (f === 'text' || f === 'log') return 'text';
  if (f === 'json' || f === 'yaml') return f;
  throw new UserError(`unknown output format "${v}": use -o text, -o json or -o yaml`, 64);
}

/** istioctl's --meshConfigFile: a MeshConfig as YAML (the `mesh` key of Istio's ConfigMap). */
function readMeshConfig(file: string | undefined): Record<string, unknown> | undefined {
  if (!file) return undefined;
  let v: unknown;
  try {
    v = parseYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`cannot read mesh config ${file}: ${(e as Error).message.split('\n')[0]}`, 65);
  }
  if (v == null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new UserError(`mesh config ${file} is not a YAML mapping (e.g. defaultConfig: ..., rootNamespace: istio-system)`, 65);
  return v as Record<string, unknown>;
}

/** `--suppress CODE=RESOURCE`, RESOURCE a glob over `Kind ns/name` (istioctl's older `Kind name.ns` also works). */
function parseSuppressions(list: string[]): { code: string; match: RegExp }[] {
  return list.map((s) => {
    const i = s.indexOf('=');
    if (i <= 0 || i === s.length - 1) throw new UserError(`${s} is not a valid suppression value: use CODE=RESOURCE, e.g. --suppress "IST0102=Namespace default"`, 64);
    const glob = s.slice(i + 1).replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
    return { code: s.slice(0, i), match: new RegExp(`^${glob}$`) };
  });
}

function suppressedBy(d: Diagnostic, rules: { code: string; match: RegExp }[]): boolean {
  if (!d.resource) return false;
  const r = d.resource;
  const names = [originOf(d), r.namespace ? `${r.kind} ${r.name}.${r.namespace}` : `${r.kind} ${r.name}`];
  return rules.some((s) => s.code === d.code && names.some((n) => s.match.test(n)));
}

/** What the reader should know about the input itself: redefined resources, checks that could not run. */
function inputNotes(result: AnalyzeResult, verbose: boolean): string[] {
  const notes: string[] = [];
  const dups = result.snapshot.duplicates;
  if (dups.length > 0) {
    const ids = new Map<string, Set<string>>();
    for (const [old, winner] of dups) {
      const id = `${winner.kind} ${winner.namespace}/${winner.name}`;
      if (!ids.has(id)) ids.set(id, new Set());
      ids.get(id)!.add(old.source?.file ?? '').add(winner.source?.file ?? '');
    }
    const [firstId, firstFiles] = [...ids.entries()].sort((a, b) => b[1].size - a[1].size)[0];
    notes.push(`${ids.size} resource${ids.size === 1 ? ' is' : 's are'} defined more than once (e.g. ${firstId} in ${firstFiles.size} file${firstFiles.size === 1 ? '' : 's'}); ` +
      'only the last definition of each is analyzed, as `kubectl apply` of these files in order would leave it.' +
      (verbose ? '' : ' Run with -v to list them.'));
    if (verbose) for (const [id, files] of ids) notes.push(`  ${id}: ${[...files].join(', ')} (last one kept)`);
  }
  // Only skips that cost something: analyzers with config of their own kinds in the input.
  const registryKinds = new Set(['Service', 'Pod', 'Namespace', 'Node', 'Secret', 'ConfigMap', 'MeshConfig']);
  const present = new Set(result.snapshot.resources.filter((r) => r.source).map((r) => r.kind));
  const skipped = result.skipped.filter((s) => findAnalyzer(s.name)?.inputs.some((k) => !registryKinds.has(k) && present.has(k)));
  if (skipped.length > 0) {
    const reasons = [...new Set(skipped.map((s) => s.reason))].sort().join(' and ');
    notes.push(`the input has ${reasons}, so checks that look services or workloads up were skipped (${skipped.map((s) => s.name).join(', ')}): ` +
      'without them every host would look missing. Add the Kubernetes resources (e.g. samples/bookinfo/platform/kube/bookinfo.yaml) to run them.');
  }
  return notes;
}

export async function run(files: string[], opts: AnalyzeCliOptions): Promise<void> {
  const err = (s: string) => process.stderr.write(s);
  if (opts.listAnalyzers) {
    const out = allAnalyzers().map((a) => `* ${a.name}:\n    ${a.description}\n`).join('');
    process.stdout.write(`Available analyzers:\n${out}`);
    return;
  }
  const format = formatOption(opts.output);
  const failAt = levelOption('--failure-threshold', opts.failureThreshold);
  const showAt = levelOption('--output-threshold', opts.outputThreshold);
  const suppressions = parseSuppressions(opts.suppress ?? []);
  const paths = [...(opts.filename ?? []), ...files];
  if (paths.length === 0) throw new UserError('no input: give files or folders of YAML with -f (or - for stdin), e.g. spar analyze -f samples/bookinfo/networking', 64);
  const namespace = opts.allNamespaces ? undefined : (opts.namespace || 'default');
  const target = namespace === undefined ? 'all namespaces' : `namespace: ${namespace}`;
  for (const a of opts.analyzer ?? []) {
    if (!allAnalyzers().some((x) => x.name === a)) throw new UserError(`unknown analyzer "${a}"; spar analyze --list-analyzers lists them`, 64);
  }

  // Resources without a namespace are in the namespace analyzed (istioctl's default namespace).
  const parsed = parsePaths(paths, { defaultNamespace: namespace ?? 'default' });
  // Notes from the reader (a JSON file that is not a Kubernetes object ...) are not failures to read.
  const readErrors = parsed.diagnostics.filter((d) => d.level === 'Error');
  for (const d of parsed.diagnostics) {
    const where = d.pos ? `${d.pos.file}:${d.pos.line}` : 'input';
    err(d.level === 'Error' ? `Error reading ${where}: ${d.message}\n` : `Note: ${where}: ${d.message}\n`);
  }
  const meshConfig = readMeshConfig(opts.meshConfigFile);
  const result = analyze(parsed.resources, { namespace, defaults: true, analyzers: opts.analyzer?.length ? opts.analyzer : undefined, meshConfig });
  const messages = result.messages.filter((m) => !suppressedBy(m, suppressions));
  const shown = messages.filter((m) => atLeast(m.level, showAt));

  process.stdout.write(formatMessages(shown, format));

  if (format === 'text') {
    for (const n of inputNotes(result, opts.verbose === true)) err(`Note: ${n}\n`);
    if (result.hiddenByNamespace > 0) err(`Note: ${result.hiddenByNamespace} message${result.hiddenByNamespace === 1 ? ' is' : 's are'} about resources outside ${target}; run with -A (--all-namespaces) or -n NAMESPACE to see ${result.hiddenByNamespace === 1 ? 'it' : 'them'}.\n`);
    if (opts.verbose) {
      if (result.skipped.length) err(`Skipped analyzers:\n${result.skipped.map((a) => `\t ${a.name}: the input has ${a.reason}\n`).join('')}`);
      err(`Analyzed ${parsed.resources.length} resources in ${parsed.files.length} files (${target})\nExecuted analyzers:\n${result.executed.map((a) => `\t ${a}\n`).join('')}`);
    }
    if (shown.length === 0 && parsed.files.length === 0) {
      err(`No YAML files (.yaml, .yml, .json) found in ${paths.join(', ')}.\n`);
    } else if (shown.length === 0) {
      const list = parsed.files.length > 1 ? `:\n  - ${parsed.files.slice(0, 10).join('\n  - ')}${parsed.files.length > 10 ? `\n  (and ${parsed.files.length - 10} more files)` : ''}` : ` ${parsed.files.join('')}.`;
      if (readErrors.length === 0) err(`\u2714 No validation issues found when analyzing${list}\n`);
      else err(`No validation issues found when analyzing ${target} (but ${readErrors.length} ${readErrors.length === 1 ? 'problem' : 'problems'} reading the input).\n`);
    }
    if (shown.length > 0) {
      const count = (l: Level, word: string) => {
        const n = shown.filter((m) => m.level === l).length;
        return `${n} ${word}${n === 1 ? '' : 's'}`;
      };
      err(`${count('Error', 'error')}, ${count('Warning', 'warning')}, ${count('Info', 'info message')} in ${parsed.resources.length} resources (${target}).\n`);
    }
    const failing = messages.filter((m) => atLeast(m.level, failAt));
    if (failing.length > 0) {
      err(`Error: Analyzers found issues when analyzing ${target}.\nSee ${DOCS_URL} for more information about causes and resolutions.\n`);
      process.exitCode = EXIT_ANALYZER_FOUND_ISSUES;
    } else if (readErrors.length > 0) {
      err('Error: Some files couldn\'t be parsed.\n');
      process.exitCode = EXIT_DATA_ERROR;
    }
  }
}
