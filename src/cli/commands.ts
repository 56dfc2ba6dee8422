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
  program
    .command('analyze')
    .description('analyze Istio configuration across resources and report Istio\'s messages (IST0101 ...), like istioctl analyze')
    .argument('[files...]', 'files or folders of YAML (same as -f)')
    .option('-f, --filename <path...>', 'files or folders of YAML, or - for stdin')
    .option('-o, --output <format>', 'output format: text, json or yaml (json and yaml always exit 0, as in istioctl)', 'text')
    .option('-n, --namespace <namespace>', 'namespace to report on, and of resources that name none', 'default')
    .option('-A, --all-namespaces', 'report on every namespace')
    .option('--failure-threshold <level>', 'lowest level (Error, Warning, Info) that makes the exit code 79', 'Error')
    .option('--output-threshold <level>', 'lowest level (Error, Warning, Info) printed', 'Info')
    .option('-S, --suppress <code=resource...>', 'hide a code on resources matching a glob, e.g. "IST0102=Namespace *"')
    .option('--analyzer <name...>', 'run only these analyzers (see --list-analyzers)')
    .option('-L, --list-analyzers', 'list the analyzers and exit')
    .option('-v, --verbose', 'say which analyzers ran')
    .action(async (files, opts) => (await import('./analyze.js')).run(files, opts));
}
