// `ledgerline` with only the chronicles command registered, exactly as src/cli.ts wires it
// (registerChroniclesCommand(program)), so the tests run the real roles as processes.
import { Command } from 'commander';
import { registerChroniclesCommand } from '../../../src/chronicles/command.ts';
import { ConfigError } from '../../../src/platform/config.ts';

const program = new Command('ledgerline');
registerChroniclesCommand(program);
program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`${err instanceof ConfigError ? err.message : `error: ${err.message}`}\n`);
  process.exit(1);
});
