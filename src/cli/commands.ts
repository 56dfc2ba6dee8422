/**
 * The table of `spar` subcommands. Each entry declares its arguments here (so `--help` needs no
 * other module) and loads its implementation lazily.
 */
import type { Command } from 'commander';

export function registerCommands(program: Command): void {
  program
    .command('validate')
    .description('check Istio and Kubernetes YAML against Istio\'s schemas and validation rules')
    .requiredOption('-f, --filename <path...>', 'files or folders of YAML, or - for stdin')
    .option('-o, --output <format>', 'output format: text, json or yaml', 'text')
    .action(async (opts) => (await import('./validate.js')).run(opts));
}
