/**
 * Reading YAML into ConfigResources: multi-document files, folders (recursively, *.yaml|*.yml|*.json)
 * and stdin (`-`), keeping source positions.
 *
 * Hostile input is refused with a clear diagnostic rather than a crash or a hang: binary data, files
 * over MAX_FILE_BYTES, alias bombs (yaml's maxAliasCount), nesting deeper than MAX_DEPTH.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { LineCounter, parseAllDocuments, isMap, isSeq, isCollection, isScalar, visit, Scalar, type Document, type Node } from 'yaml';
import type { Diagnostic } from '../api/diagnostics.js';
import { splitApiVersion, type ConfigResource, type ObjectMeta } from './resource.js';

export const MAX_FILE_BYTES = 16 * 1024 * 1024;
export const MAX_DEPTH = 100;
const YAML_EXT = new Set(['.yaml', '.yml', '.json']);

export interface ParseOptions {
  /** Namespace for resources that do not name one (istioctl's default: `default`). */
  defaultNamespace?: string;
}

export interface ParseResult {
  resources: ConfigResource[];
  /** Problems that stopped a file or document from being read. */
  diagnostics: Diagnostic[];
  /** Files read, in order. */
  files: string[];
}

/** Reads every path (file, folder or `-` for stdin). Never throws for bad input. */
export function parsePaths(paths: readonly string[], opts: ParseOptions = {}): ParseResult {
  const out: ParseResult = { resources: [], diagnostics: [], files: [] };
  for (const p of paths) {
    if (p === '-') {
      let text: string;
      try {
        text = readFileSync(0, 'utf8');
      } catch (e) {
        out.diagnostics.push(fileError('<stdin>', `cannot read standard input: ${(e as Error).message}`));
        continue;
      }
      out.files.push('<stdin>');
      parseInto(out, '<stdin>', Buffer.from(text, 'utf8'), opts);
      continue;
    }
    let st;
    try {
      st = statSync(p);
    } catch {
      out.diagnostics.push(fileError(p, 'no such file or directory'));
      continue;
    }
    if (st.isDirectory()) {
      for (const f of listYamlFiles(p)) readOne(out, f, opts, true);
    } else {
      readOne(out, p, opts);
    }
  }
  return out;
}

/** Parses YAML text given directly (tests, stdin, the pilot's file watcher). */
export function parseText(file: string, text: string | Buffer, opts: ParseOptions = {}): ParseResult {
  const out: ParseResult = { resources: [], diagnostics: [], files: [file] };
  parseInto(out, file, typeof text === 'string' ? Buffer.from(text, 'utf8') : text, opts);
  return out;
}

function listYamlFiles(dir: string): string[] {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile() && YAML_EXT.has(extname(e.name).toLowerCase())) files.push(full);
    }
  };
  walk(dir);
  return files;
}

function readOne(out: ParseResult, file: string, opts: ParseOptions, fromFolder = false): void {
  out.files.push(file);
  let size: number;
  try {
    size = statSync(file).size;
  } catch (e) {
    out.diagnostics.push(fileError(file, `cannot read: ${(e as Error).message}`));
    return;
  }
  if (size > MAX_FILE_BYTES) {
    out.diagnostics.push(fileError(file, `file is ${(size / 1048576).toFixed(1)} MiB, over the ${MAX_FILE_BYTES / 1048576} MiB limit for one config file; split it into smaller files`));
    return;
  }
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    out.diagnostics.push(fileError(file, `cannot read: ${(e as Error).message}`));
    return;
  }
  parseInto(out, file, buf, opts, fromFolder && extname(file).toLowerCase() === '.json');
}

function fileError(file: string, message: string): Diagnostic {
  return { level: 'Error', message, pos: { file, line: 1, col: 1 } };
}

/**
 * `lenientJson`: a .json file met while walking a folder may be data rather than a resource (a JWKS
 * key set beside the YAML, as in Istio's samples); such a file is skipped with a note, as long as it
 * has no apiVersion or kind at all. Named explicitly, it is an error like any other.
 */
function parseInto(out: ParseResult, file: string, buf: Buffer, opts: ParseOptions, lenientJson = false): void {
  if (buf.length > MAX_FILE_BYTES) {
    out.diagnostics.push(fileError(file, `input is over the ${MAX_FILE_BYTES / 1048576} MiB limit for one config file`));
    return;
  }
  const nul = buf.indexOf(0);
  if (nul >= 0) {
    out.diagnostics.push(fileError(file, `not a YAML file: binary data (a NUL byte at offset ${nul})`));
    return;
  }
  const text = buf.toString('utf8');
  if (text.includes('\uFFFD')) {
    out.diagnostics.push(fileError(file, 'not a YAML file: the bytes are not valid UTF-8'));
    return;
  }
  const lineCounter = new LineCounter();
  let docs;
  try {
    docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  } catch (e) {
    out.diagnostics.push(fileError(file, `cannot parse YAML: ${(e as Error).message}`));
    return;
  }
  if (!Array.isArray(docs)) docs = [docs as never];
  docs.forEach((doc, docIndex) => {
    const pos = (offset: number) => {
      const lp = lineCounter.linePos(offset);
      return { file, line: lp.line, col: lp.col };
    };
    if (doc.errors.length > 0) {
      for (const err of doc.errors) out.diagnostics.push({ level: 'Error', message: `invalid YAML: ${firstLine(err.message)}`, pos: pos(err.pos[0]) });
      return;
    }
    if (doc.contents == null) return; // empty document ("---" alone, comments only)
    const start = (doc.contents as Node).range?.[0] ?? 0;
    const depth = nodeDepth(doc.contents as Node, 0);
    if (depth > MAX_DEPTH) {
      out.diagnostics.push({ level: 'Error', message: `YAML nested deeper than ${MAX_DEPTH} levels; no Istio resource is that deep`, pos: pos(start) });
      return;
    }
    readFlowColonsAsGo(doc, text);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      out.diagnostics.push({ level: 'Error', message: `cannot read YAML document ${docIndex + 1}: ${firstLine((e as Error).message)}`, pos: pos(start) });
      return;
    }
    if (value == null) return;
    const source = { file, docIndex, doc, lineCounter };
    if (!isPlainObject(value)) {
      out.diagnostics.push({ level: 'Error', message: `document ${docIndex + 1} is a ${Array.isArray(value) ? 'list' : typeof value}, not a Kubernetes object (apiVersion, kind, metadata, spec)`, pos: pos(start) });
      return;
    }
    if (lenientJson && value.apiVersion === undefined && value.kind === undefined) {
      out.diagnostics.push({ level: 'Info', message: 'skipped: a JSON file that is not a Kubernetes object (no apiVersion or kind)', pos: pos(start) });
      return;
    }
    if (value.kind === 'List' && Array.isArray(value.items)) {
      value.items.forEach((item, i) => addObject(out, item, { ...source, basePath: ['items', i] }, opts));
      return;
    }
    addObject(out, value, { ...source, basePath: [] }, opts);
  });
}

function addObject(out: ParseResult, value: unknown, source: ConfigResource['source'] & object, opts: ParseOptions): void {
  const where = () => {
    const node = source.basePath.length ? source.doc.getIn(source.basePath, true) : source.doc.contents;
    const lp = source.lineCounter.linePos((node as Node | null)?.range?.[0] ?? 0);
    return { file: source.file, line: lp.line, col: lp.col };
  };
  if (!isPlainObject(value)) {
    out.diagnostics.push({ level: 'Error', message: 'list item is not a Kubernetes object', pos: where() });
    return;
  }
  const apiVersion = value.apiVersion;
  const kind = value.kind;
  if (typeof apiVersion !== 'string' || apiVersion === '' || typeof kind !== 'string' || kind === '') {
    const missing = [typeof apiVersion !== 'string' || !apiVersion ? 'apiVersion' : '', typeof kind !== 'string' || !kind ? 'kind' : ''].filter(Boolean).join(' and ');
    out.diagnostics.push({ level: 'Error', message: `object has no ${missing}; every resource needs apiVersion and kind (e.g. apiVersion: networking.istio.io/v1, kind: VirtualService)`, pos: where() });
    return;
  }
  const metadata = (isPlainObject(value.metadata) ? value.metadata : {}) as ObjectMeta;
  const { group, version } = splitApiVersion(apiVersion);
  out.resources.push({
    apiVersion,
    kind,
    group,
    version,
    name: typeof metadata.name === 'string' ? metadata.name : '',
    namespace: typeof metadata.namespace === 'string' && metadata.namespace ? metadata.namespace : (opts.defaultNamespace ?? 'default'),
    metadata,
    spec: isPlainObject(value.spec) ? value.spec : {},
    raw: value,
    source,
  });
}

/**
 * Kubernetes reads YAML with go-yaml, which ends a plain scalar at ':' only before a blank. In a
 * flow sequence, `[1.2.3.4, 001:db8::]` is therefore the string "001:db8::" to the API server, while
 * YAML 1.2 reads `001:db8::]` as the single-pair map {"001:db8:": null}. Such items (one pair, empty
 * value, the ':' directly followed by ',' or ']') are turned back into the string Go would see.
 */
function readFlowColonsAsGo(doc: Document.Parsed, text: string): void {
  visit(doc, {
    Seq(_key, seq) {
      if (!seq.flow) return;
      seq.items.forEach((item, i) => {
        if (!isMap(item) || item.items.length !== 1 || !item.range) return;
        const pair = item.items[0];
        const empty = pair.value == null || (isScalar(pair.value) && pair.value.value == null && pair.value.source === '');
        const raw = text.slice(item.range[0], item.range[1]).trimEnd();
        if (!empty || raw.startsWith('{') || !raw.endsWith(':')) return;
        const next = text[item.range[0] + raw.length];
        if (next !== undefined && next !== ',' && next !== ']') return;
        const s = new Scalar(raw);
        s.range = item.range;
        seq.items[i] = s;
      });
    },
  });
}

function nodeDepth(node: Node | null | undefined, d: number): number {
  if (!node || d > MAX_DEPTH) return d;
  let max = d;
  if (isMap(node)) {
    for (const it of node.items) {
      max = Math.max(max, nodeDepth(it.value as Node, d + 1));
      if (max > MAX_DEPTH) return max;
    }
  } else if (isSeq(node)) {
    for (const it of node.items) {
      max = Math.max(max, nodeDepth(it as Node, d + 1));
      if (max > MAX_DEPTH) return max;
    }
  } else if (isCollection(node)) {
    return d + 1;
  }
  return max;
}

function firstLine(s: string): string {
  if (s.includes('Maximum call stack size exceeded')) return `YAML nested too deeply to read (over ${MAX_DEPTH} levels); no Istio resource is that deep`;
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
