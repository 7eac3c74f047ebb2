// A `stripe-sync backfill` in its own process, for the kill -9 test: argv[2] is the engine's
// configuration as JSON. Prints "done <requests>" when the backfill finished.
import { createLogger } from '../../../src/platform/log.ts';
import { startStripeSync } from '../../../src/stripe-sync/command.ts';
import type { SyncConfig } from '../../../src/stripe-sync/settings.ts';

const config = JSON.parse(process.argv[2]!) as SyncConfig;
const sync = await startStripeSync('backfill', config, { logger: createLogger({ name: 'backfill-child', level: 'warn' }) });
await sync.done;
const requests = sync.engine.accounts.reduce((s, a) => s + a.client.requests, 0);
await sync.stop();
process.stdout.write(`done ${requests}\n`);
