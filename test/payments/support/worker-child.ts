// `ledgerline payments worker <flags>` through the real command registration, as the CLI runs it:
// the chaos and restart tests spawn (and SIGKILL) these.
import { Command } from 'commander';
import { registerPaymentsCommand } from '../../../src/payments/command.ts';

const program = new Command('ledgerline');
registerPaymentsCommand(program);
await program.parseAsync(['node', 'ledgerline', 'payments', 'worker', ...process.argv.slice(2)]);
