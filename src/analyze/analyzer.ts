/**
 * The analyzer registry. Each analyzer registers itself under Istio's analyzer name
 * (`virtualservice.DestinationHostAnalyzer` ...), declares the kinds it reads and the message
 * codes it can emit, and is a pure function of the snapshot: adding one touches one file.
 */
import type { Diagnostic } from '../api/diagnostics.js';
import type { MessageType } from './messages.js';
import type { Snapshot } from './snapshot.js';

export interface AnalysisContext {
  snapshot: Snapshot;
  report(d: Diagnostic): void;
}

export interface Analyzer {
  /** Istio's name for the analyzer (`istioctl analyze --list-analyzers`). */
  name: string;
  description: string;
  /** Kinds read (KubernetesGateway for Gateway API Gateways). */
  inputs: readonly string[];
  /** Messages it can emit. */
  emits: readonly MessageType[];
  /**
   * What the analyzer needs from the service registry: with `services`, it only runs when the
   * input holds Kubernetes Services (or ServiceEntries); with `pods`, when it holds Pods or
   * workloads. Without them, every host or selector would look missing.
   */
  needs?: { services?: boolean; pods?: boolean };
  /** Runs only when asked for by name (`--analyzer`), as istioctl leaves it out of its default set. */
  optIn?: boolean;
  analyze(ctx: AnalysisContext): void;
}

const registry = new Map<string, Analyzer>();

/** Adds an analyzer; a second one under the same name is a programming error caught by tests. */
export function register(a: Analyzer): Analyzer {
  if (registry.has(a.name)) throw new Error(`analyzer ${a.name} registered twice`);
  registry.set(a.name, a);
  return a;
}

/** Every registered analyzer, by name. */
export function allAnalyzers(): Analyzer[] {
  return [...registry.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export function findAnalyzer(name: string): Analyzer | undefined {
  return registry.get(name);
}
