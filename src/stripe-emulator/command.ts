// `ledgerline stripe-emulator`: wired into src/cli.ts with registerStripeEmulatorCommand(program).
import type { Command } from 'commander';
import { addSettingOptions, loadConfig } from '../platform/config.ts';
import { shutdownOnSignals } from '../platform/http-server.ts';
import { createLogger } from '../platform/log.ts';
import { startStripeEmulator } from './index.ts';
import { stripeEmulatorSettings } from './settings.ts';

export function registerStripeEmulatorCommand(program: Command): Command {
  const command = addSettingOptions(
    program.command('stripe-emulator').description('A stateful, offline Stripe API (2023-08-16) seeded with a deterministic account'),
    stripeEmulatorSettings,
  );
  // --api-key may be repeated: collect every value (the setting also splits commas).
  const apiKey = command.options.find((o) => o.long === '--api-key');
  apiKey?.argParser((value: string, previous: unknown) => (previous === undefined ? [value] : [...(previous as string[]), value]));
  return command.action(async (flags: Record<string, unknown>) => {
    const config = loadConfig(stripeEmulatorSettings, flags);
    const logger = createLogger({ name: 'stripe-emulator' });
    const emulator = await startStripeEmulator({
      port: config.port,
      host: config.host,
      apiKeys: config.apiKey,
      rateLimit: config.rateLimit,
      concurrencyLimit: config.concurrencyLimit,
      latency: config.latency,
      faultRate: config.faultRate,
      seed: config.seed,
      customers: config.customers,
      scale: config.scale,
      months: config.months,
      now: config.now,
      accountId: config.accountId,
      logger,
    });
    const stats = emulator.stats();
    logger.info({ url: emulator.url, objects: stats.total, seedMs: Math.round(emulator.seedMs) }, 'stripe emulator listening');
    shutdownOnSignals(logger, [() => emulator.stop()]);
  });
}
