/**
 * `spar`: one command, istioctl's verbs. Each subcommand lives in its own file under src/cli and is
 * loaded only when run, so that `spar --help` and small commands start fast.
 */
import { Command } from 'commander';
import { describeError, UserError } from '../common/errors.js';
import { registerCommands } from './commands.js';

const program = new Command();
program
  .name('spar')
  .description('Spar: an Istio-compatible service mesh. Takes Istio YAML unchanged, speaks Envoy xDS v3.')
  .version('0.1.0', '--version', 'print the Spar version')
  .showHelpAfterError('(run `spar --help` for the list of commands)')
  .configureHelp({ sortSubcommands: false });

registerCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`spar: ${describeError(err)}\n`);
  process.exit(err instanceof UserError ? err.exitCode : 1);
}
