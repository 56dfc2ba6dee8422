/** Printing diagnostics as text (istioctl style), JSON or YAML. */
import { stringify } from 'yaml';
import { formatDiagnostic, type Diagnostic } from '../api/diagnostics.js';
import { UserError } from '../common/errors.js';

export type OutputFormat = 'text' | 'json' | 'yaml';

export function checkFormat(f: string): OutputFormat {
  if (f === 'text' || f === 'json' || f === 'yaml') return f;
  throw new UserError(`unknown output format "${f}": use -o text, -o json or -o yaml`, 2);
}

/** Plain objects for -o json|yaml, in istioctl's field names. */
export function toJson(d: Diagnostic): Record<string, unknown> {
  return {
    code: d.code,
    level: d.level,
    message: d.message,
    ...(d.resource ? { resource: d.resource } : {}),
    ...(d.path ? { field: d.path } : {}),
    ...(d.pos ? { origin: `${d.pos.file}:${d.pos.line}:${d.pos.col}`, file: d.pos.file, line: d.pos.line, column: d.pos.col } : {}),
  };
}

export function printDiagnostics(diags: Diagnostic[], format: OutputFormat, write: (s: string) => void): void {
  if (format === 'json') write(JSON.stringify(diags.map(toJson), null, 2) + '\n');
  else if (format === 'yaml') write(diags.length ? stringify(diags.map(toJson)) : '[]\n');
  else for (const d of diags) write(formatDiagnostic(d) + '\n');
}
