// The engines the bus contract suite runs against, each on a real server it can restart:
// Redis Streams on a private redis-server (AOF on), Kafka on KAFKA_BROKERS or the managed broker.
// BUS_ENGINES=redis (or kafka) limits the run; otherwise both run and a Kafka that cannot be
// reached fails the Kafka tests instead of skipping them.
import { randomBytes } from 'node:crypto';
import { Admin } from '@platformatic/kafka';
import { createBus, type Bus, type CreateBusOptions } from '../../src/platform/bus/index.ts';
import { createLogger } from '../../src/platform/log.ts';
import { projectRoot } from '../../src/platform/project-root.ts';
import { kafkaDown, kafkaStatus, kafkaUp } from '../../src/platform/services/kafka.ts';
import { startPrivateRedis } from './redis-instance.ts';

export type EngineName = 'redis' | 'kafka';

/** createBus options without the logger: what a child process needs to join the same bus. */
export type BusConfig = Omit<CreateBusOptions, 'logger'>;

export interface BusEngine {
  name: EngineName;
  /** Options for a bus on this engine; every bus of one engine fixture shares a unique prefix. */
  config(clientId: string): BusConfig;
  /** A bus closed by teardown(). */
  newBus(clientId: string): Bus;
  /** Stops and starts the server, resolving once it answers again; undefined when it cannot. */
  restart: (() => Promise<void>) | undefined;
  /** deliveryCount counts redeliveries to other consumers too (not only in-place retries). */
  exactDeliveryCount: boolean;
  teardown(): Promise<void>;
}

export function selectedEngines(): EngineName[] {
  const raw = process.env.BUS_ENGINES?.trim();
  if (!raw) return ['redis', 'kafka'];
  const names = raw.split(',').map((s) => s.trim());
  for (const n of names) if (n !== 'redis' && n !== 'kafka') throw new Error(`BUS_ENGINES: unknown engine "${n}" (expected redis, kafka)`);
  return names as EngineName[];
}

export const uniqueName = (name: string) => `${name}-${randomBytes(4).toString('hex')}`;

const logger = createLogger({ name: 'bus-test', level: process.env.LOG_LEVEL ?? 'error' });
// Short timings so takeovers happen in seconds; fast retries.
const retry = { baseMs: 20, maxMs: 500 };

function fixture(name: EngineName, base: () => Omit<BusConfig, 'clientId'>, extra: Pick<BusEngine, 'restart' | 'exactDeliveryCount'>, cleanup: () => Promise<void>): BusEngine {
  const buses: Bus[] = [];
  return {
    name,
    ...extra,
    config: (clientId) => ({ ...base(), clientId }),
    newBus(clientId) {
      const bus = createBus({ ...base(), clientId, logger });
      buses.push(bus);
      return bus;
    },
    async teardown() {
      await Promise.allSettled(buses.map((b) => b.close()));
      await cleanup();
    },
  };
}

async function redisEngine(): Promise<BusEngine> {
  const redis = await startPrivateRedis();
  const prefix = `${uniqueName('bustest')}:`;
  return fixture(
    'redis',
    () => ({ redisUrl: redis.url, prefix, retry, redis: { leaseMs: 2_000, blockMs: 500 } }),
    {
      exactDeliveryCount: true,
      async restart() {
        await redis.stop();
        await redis.start();
      },
    },
    () => redis.destroy(),
  );
}

async function kafkaEngine(): Promise<BusEngine> {
  const root = projectRoot;
  const given = process.env.KAFKA_BROKERS?.trim();
  const managed = await kafkaStatus({ root });
  // Restartable when we talk to the broker this checkout manages (scripts/test exports its address)
  // and it was started by kafkaUp (pid file), not by someone else on the same port.
  const pointsAtManaged = !given || given.split(',').map((b) => b.trim().replace('localhost', '127.0.0.1')).includes(managed.url);
  const ours = pointsAtManaged && !(managed.running && !managed.detail?.startsWith('pid'));
  const startedHere = ours && !managed.running;
  // Starts the managed broker, or only checks that the given one answers (throws if not).
  const up = await kafkaUp(ours ? { root } : { root, brokers: given });
  const brokers = given || up.url;
  const prefix = `${uniqueName('bustest')}.`;
  return fixture(
    'kafka',
    () => ({ kafkaBrokers: brokers, redisUrl: 'redis://unused', prefix, retry, kafka: { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500 } }),
    {
      exactDeliveryCount: false,
      restart: ours
        ? async () => {
            await kafkaDown({ root });
            await kafkaUp({ root });
          }
        : undefined,
    },
    async () => {
      // Leave the broker as we found it, minus this run's topics.
      const admin = new Admin({ clientId: 'bus-test-cleanup', bootstrapBrokers: brokers.split(','), retries: 1 });
      try {
        const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
        if (topics.length) await admin.deleteTopics({ topics });
      } catch (err) {
        logger.warn({ err }, 'could not delete test topics');
      } finally {
        await admin.close().catch(() => {});
      }
      if (startedHere) await kafkaDown({ root });
    },
  );
}

export function startEngine(name: EngineName): Promise<BusEngine> {
  return name === 'redis' ? redisEngine() : kafkaEngine();
}
