// `ledgerline` with only the billing command registered, exactly as src/cli.ts wires it
// (registerBillingCommand(program)), so the tests run the real roles as processes.
import { Command } from 'commander';
import { registerBillingCommand } from '../../../src/billing/command.ts';
import { ConfigError } from '../../../src/platform/config.ts';

const program = new Command('ledgerline');
registerBillingCommand(program);
program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`${err instanceof ConfigError ? err.message : `error: ${err.message}`}\n`);
  process.exit(1);
});
