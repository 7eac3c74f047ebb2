// A bus consumer in its own process, for the "killed mid-handler" test. Reads BUS_CHILD_CONFIG
// ({ bus, group, topic }), subscribes, sends { type: 'ready' } over IPC, and from inside the
// handler sends { type: 'handling', message } and then never returns, until it is killed.
import { createBus } from '../../src/platform/bus/index.ts';
import { createLogger } from '../../src/platform/log.ts';
import type { BusConfig } from './bus-engines.ts';

const config = JSON.parse(process.env.BUS_CHILD_CONFIG ?? '{}') as { bus: BusConfig; group: string; topic: string };
const send = (message: unknown) => process.send?.(message);

const bus = createBus({ ...config.bus, logger: createLogger({ name: 'bus-child', level: process.env.LOG_LEVEL ?? 'error' }) });
await bus.subscribe({
  group: config.group,
  topics: [config.topic],
  handler: async (message) => {
    send({ type: 'handling', message });
    await new Promise(() => {});
  },
});
send({ type: 'ready' });
