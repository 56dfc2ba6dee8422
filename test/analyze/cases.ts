/**
 * Reads Istio's analyzer test table (ANALYZE-CASES.md, transcribed from
 * pkg/config/analysis/analyzers/analyzers_test.go): per case, its input files, the Istio analyzer
 * and the expected messages as `Name — Kind ns/name`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ExpectedMessage {
  name: string;
  origin: string;
}

export interface AnalyzeCase {
  title: string;
  inputs: string[];
  /** Istio's analyzer, e.g. `virtualservice.GatewayAnalyzer` or `schema.CollectionValidationAnalyzer(VirtualService)`. */
  analyzer: string;
  expected: ExpectedMessage[];
  /** MeshConfig file for the case, if any. */
  meshConfig?: string;
}

export function readCases(dir: string): AnalyzeCase[] {
  const text = readFileSync(join(dir, 'ANALYZE-CASES.md'), 'utf8');
  const cases: AnalyzeCase[] = [];
  let cur: AnalyzeCase | undefined;
  for (const line of text.split('\n')) {
    const h = /^### (.*)$/.exec(line);
    if (h) {
      cur = { title: h[1].trim(), inputs: [], analyzer: '', expected: [] };
      cases.push(cur);
      continue;
    }
    if (!cur) continue;
    if (line.startsWith('- input:')) {
      const mc = /\(meshConfig `testdata\/([^`]+)`\)/.exec(line);
      if (mc) cur.meshConfig = join(dir, mc[1]);
      const head = line.replace(/\(meshConfig.*\)$/, '');
      cur.inputs = [...head.matchAll(/`testdata\/([^`]+)`/g)].map((m) => join(dir, m[1]));
    } else if (line.startsWith('- analyzer:')) {
      const m = /`(.*)`/.exec(line)?.[1] ?? '';
      const coll = /CollectionValidationAnalyzer\(collections\.(\w+)\)/.exec(m);
      cur.analyzer = coll ? `schema.CollectionValidationAnalyzer(${coll[1]})` : m.replace(/^&/, '').replace(/\{\}$/, '');
    } else {
      const e = /^ {2}- (\w+) — (.+)$/.exec(line);
      if (e) cur.expected.push({ name: e[1], origin: e[2].trim() });
    }
  }
  return cases;
}
