/**
 * `spar validate -f PATH...`: every resource checked against Istio's schemas and validation
 * rules. Exit 0 when all is valid; otherwise every error, then exit 1.
 */
import { parsePaths } from '../config/parse.js';
import { validateResource } from '../api/validate.js';
import type { Diagnostic } from '../api/diagnostics.js';
import { checkFormat, printDiagnostics } from './output.js';

export async function run(opts: { filename: string[]; output: string }): Promise<void> {
  const format = checkFormat(opts.output);
  const parsed = parsePaths(opts.filename);
  const diags: Diagnostic[] = [...parsed.diagnostics];
  for (const r of parsed.resources) diags.push(...validateResource(r));
  const errors = diags.filter((d) => d.level === 'Error').length;
  printDiagnostics(diags, format, (s) => process.stdout.write(s));
  if (format === 'text') {
    const n = parsed.resources.length;
    if (errors === 0) process.stderr.write(`✔ ${n} resource${n === 1 ? '' : 's'} in ${parsed.files.length} file${parsed.files.length === 1 ? '' : 's'} valid\n`);
    else process.stderr.write(`✘ ${errors} error${errors === 1 ? '' : 's'} in ${n} resource${n === 1 ? '' : 's'}\n`);
  }
  if (errors > 0) process.exitCode = 1;
}
