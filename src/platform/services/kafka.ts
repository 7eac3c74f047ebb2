// A real single-node Apache Kafka 4 broker (KRaft, combined broker+controller) for development
// and tests. The broker jars come from Maven Central through scripts/kafka/pom.xml, so the only
// prerequisites are Java 17+ and Maven. Given external brokers (KAFKA_BROKERS), nothing is
// started: the given cluster is only checked.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Admin } from '@platformatic/kafka';
import type { ServiceStatus } from './status.ts';

export type { ServiceStatus };

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// EMBEDDED_KAFKA_PORT lets CI run its own broker beside a developer's (controller on port + 1).
const DEFAULT_PORT = Number(process.env.EMBEDDED_KAFKA_PORT || 9092);
const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 30_000;

function paths(root: string) {
  const data = join(root, '.data', 'kafka');
  const libs = join(root, '.cache', 'kafka', 'libs');
  return {
    pom: join(root, 'scripts', 'kafka', 'pom.xml'),
    log4j: join(root, 'scripts', 'kafka', 'log4j2.yaml'),
    libs,
    // Inside libs/, so deleting the jars also invalidates the stamp.
    stamp: join(libs, '.pom.sha256'),
    data,
    config: join(data, 'server.properties'),
    logDirs: join(data, 'logs'),
    pidFile: join(data, 'kafka.pid'),
    serverLog: join(data, 'server.log'),
    // JVM-level stdout/stderr (crashes, GC warnings); the broker itself logs to server.log.
    stdoutLog: join(data, 'kafka.out'),
  };
}

const java = () => (process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java');

/** Resolves when a metadata request answers, rejects with the client's error otherwise. */
async function probe(brokers: string[], timeoutMs = 2000): Promise<void> {
  const admin = new Admin({ clientId: 'ledgerline-probe', bootstrapBrokers: brokers, retries: 0, connectTimeout: timeoutMs, timeout: timeoutMs });
  try {
    await admin.metadata({ topics: [] });
  } finally {
    await admin.close();
  }
}

const answers = (brokers: string[]) => probe(brokers).then(() => true, () => false);

function describe(error: unknown): string {
  const e = error as Error & { errors?: Error[] };
  const inner = e.errors?.map((x) => x.message).join('; ');
  return inner ? `${e.message} (${inner})` : String(e.message ?? error);
}

/** The pid from kafka.pid when that process is alive and is a Kafka broker. */
async function brokerPid(pidFile: string): Promise<number | undefined> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  // After a reboot the pid may belong to something else; a zombie has an empty cmdline.
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline !== undefined && !cmdline.includes('kafka.Kafka')) return undefined;
  return pid;
}

/** Last lines of a log. Indented lines (stack frames, config dumps) are dropped so the messages and "Caused by:" lines fit. */
async function tail(file: string, lines = 40): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const kept = text.split('\n').filter((line) => !/^\s/.test(line));
  return kept.slice(-lines - 1).join('\n').trim();
}

/** Downloads the broker classpath into .cache/kafka/libs unless it matches the current pom. */
async function ensureLibs(p: ReturnType<typeof paths>, log: (msg: string) => void): Promise<void> {
  const sha = createHash('sha256').update(await readFile(p.pom)).digest('hex');
  if ((await readFile(p.stamp, 'utf8').catch(() => '')).trim() === sha) return;
  log('downloading the Kafka broker jars from Maven Central (once, into .cache/kafka/libs)');
  // Fresh directory: jars of an older version left next to new ones would clash on the classpath.
  const tmp = `${p.libs}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  try {
    await run('mvn', ['-q', '-B', '-f', p.pom, 'dependency:copy-dependencies', `-DoutputDirectory=${tmp}`, '-DincludeScope=runtime'], {
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    const e = error as Error & { code?: string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('Maven (mvn) is needed to download the Kafka broker; install it or set KAFKA_BROKERS', { cause: error });
    throw new Error(`downloading the Kafka broker jars failed:\n${`${e.stdout ?? ''}${e.stderr ?? ''}`.trim() || e.message}`, { cause: error });
  }
  await rm(p.libs, { recursive: true, force: true });
  await rename(tmp, p.libs);
  await writeFile(p.stamp, `${sha}\n`);
}

function serverProperties(p: ReturnType<typeof paths>, port: number): string {
  const controllerPort = port + 1;
  const props: Record<string, string | number | boolean> = {
    // KRaft combined mode: one JVM is both the controller quorum (of one) and the broker.
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'log.dirs': p.logDirs,
    // A single node cannot replicate: every internal topic gets replication factor 1.
    'num.partitions': 4,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'offsets.topic.replication.factor': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    // Fewer internal partitions than the production defaults (50) so the first consumer group
    // and the first transaction do not wait for dozens of partitions to be created.
    'offsets.topic.num.partitions': 4,
    'transaction.state.log.num.partitions': 4,
    'auto.create.topics.enable': true,
    // Consumer groups form/rebalance at once instead of waiting 3 s for more members, and tests
    // may use short session timeouts.
    'group.initial.rebalance.delay.ms': 0,
    'group.min.session.timeout.ms': 1000,
    // Same for the KIP-848 `consumer` group protocol: assignments travel on heartbeats (5 s by
    // default) and a dead member is only noticed after the session timeout (45 s by default).
    'group.consumer.heartbeat.interval.ms': 500,
    'group.consumer.min.heartbeat.interval.ms': 500,
    'group.consumer.session.timeout.ms': 10_000,
    'group.consumer.min.session.timeout.ms': 6000,
    // Sized for a laptop / 2-core CI box rather than a server.
    'num.network.threads': 2,
    'num.io.threads': 4,
    'num.recovery.threads.per.data.dir': 1,
    'background.threads': 2,
  };
  const lines = Object.entries(props).map(([k, v]) => `${k}=${v}`);
  return `# Generated by src/platform/services/kafka.ts on every start; edits are overwritten.\n${lines.join('\n')}\n`;
}

/** Formats the KRaft storage once; a formatted log dir has meta.properties. */
async function formatOnce(p: ReturnType<typeof paths>, log: (msg: string) => void): Promise<void> {
  if (await access(join(p.logDirs, 'meta.properties')).then(() => true, () => false)) return;
  // A Kafka cluster id is a base64url-encoded 16-byte UUID.
  const clusterId = randomBytes(16).toString('base64url');
  log(`formatting Kafka storage in .data/kafka/logs (cluster id ${clusterId})`);
  try {
    await run(java(), [...jvmLogging(p), '-cp', join(p.libs, '*'), 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', p.config], {
      cwd: p.data,
    });
  } catch (error) {
    const e = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`formatting Kafka storage failed:\n${`${e.stdout ?? ''}${e.stderr ?? ''}`.trim() || e.message}`, { cause: error });
  }
}

const jvmLogging = (p: ReturnType<typeof paths>) => [`-Dlog4j2.configurationFile=${p.log4j}`, `-Dkafka.logs.dir=${p.data}`];

export interface KafkaOptions {
  root: string;
  port?: number;
  /** KAFKA_BROKERS: an external cluster to check instead of starting one. */
  brokers?: string;
  log?: (msg: string) => void;
}

export async function kafkaUp(options: KafkaOptions): Promise<ServiceStatus> {
  const { root, port = DEFAULT_PORT, log = () => {} } = options;
  const external = options.brokers;
  if (external) {
    try {
      await probe(external.split(',').map((b) => b.trim()), 5000);
    } catch (error) {
      throw new Error(`KAFKA_BROKERS=${external} does not answer: ${describe(error)}`, { cause: error });
    }
    return { name: 'kafka', url: external, managed: false, running: true };
  }

  const p = paths(root);
  const url = `127.0.0.1:${port}`;
  const running = await brokerPid(p.pidFile);
  if (running === undefined) {
    if (await answers([url])) {
      throw new Error(`something else already answers as Kafka on ${url}; stop it, or point KAFKA_BROKERS at it`);
    }
    await mkdir(p.data, { recursive: true });
    await ensureLibs(p, log);
    await writeFile(p.config, serverProperties(p, port));
    await formatOnce(p, log);
    log(`starting Kafka on ${url} (data in .data/kafka, log in .data/kafka/server.log)`);
    const out = await open(p.stdoutLog, 'a');
    const child = spawn(
      java(),
      [
        '-Xms256m',
        '-Xmx512m',
        // Kafka's own defaults (kafka-run-class.sh): short GC pauses keep the broker responsive.
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        '-XX:InitiatingHeapOccupancyPercent=35',
        '-Djava.awt.headless=true',
        ...jvmLogging(p),
        '-cp',
        join(p.libs, '*'),
        'kafka.Kafka',
        p.config,
      ],
      // Detached in its own process group so it outlives this CLI and ignores its Ctrl-C.
      { cwd: p.data, detached: true, stdio: ['ignore', out.fd, out.fd] },
    );
    // Listen before any await: 'spawn'/'error' fire on the next tick.
    const spawned = new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid ?? 0));
      child.once('error', (error) => reject(new Error(`cannot start java (${describe(error)}); Java 17+ is needed for Kafka`, { cause: error })));
    });
    const pid = await spawned.finally(() => out.close());
    child.unref();
    await writeFile(p.pidFile, `${pid}\n`);
  } else {
    log(`Kafka already running (pid ${running})`);
  }

  // Also covers a broker started by another process that is still booting.
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const pid = await brokerPid(p.pidFile);
    if (pid === undefined) {
      await rm(p.pidFile, { force: true });
      throw new Error(`Kafka exited during startup. Last lines of .data/kafka/server.log:\n${await tail(p.serverLog)}\n${await tail(p.stdoutLog, 10)}`);
    }
    if (await answers([url])) return { name: 'kafka', url, managed: true, running: true, detail: `pid ${pid}` };
    if (Date.now() > deadline) {
      throw new Error(
        `Kafka (pid ${pid}) did not answer on ${url} within ${START_TIMEOUT_MS / 1000}s; it is left running (stop it with kafkaDown). ` +
          `Last lines of .data/kafka/server.log:\n${await tail(p.serverLog)}`,
      );
    }
    await sleep(500);
  }
}

async function exited(pidFile: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while ((await brokerPid(pidFile)) !== undefined) {
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
  return true;
}

export async function kafkaDown(options: { root: string; log?: (msg: string) => void }): Promise<void> {
  const { log = () => {} } = options;
  const p = paths(options.root);
  const pid = await brokerPid(p.pidFile);
  if (pid !== undefined) {
    log(`stopping Kafka (pid ${pid})`);
    // SIGTERM runs the broker's controlled shutdown, which flushes logs and writes a clean-shutdown
    // marker so the next start skips log recovery.
    process.kill(pid, 'SIGTERM');
    if (!(await exited(p.pidFile, STOP_TIMEOUT_MS))) {
      log(`Kafka (pid ${pid}) did not stop within ${STOP_TIMEOUT_MS / 1000}s; killing it`);
      process.kill(pid, 'SIGKILL');
      await exited(p.pidFile, 5000);
    }
  }
  await rm(p.pidFile, { force: true });
}

export async function kafkaStatus(options: Omit<KafkaOptions, 'log'>): Promise<ServiceStatus> {
  const external = options.brokers;
  if (external) {
    const error = await probe(external.split(',').map((b) => b.trim())).then(() => undefined, (e: unknown) => e);
    return { name: 'kafka', url: external, managed: false, running: !error, ...(error ? { detail: describe(error) } : {}) };
  }
  const url = `127.0.0.1:${options.port ?? DEFAULT_PORT}`;
  const pid = await brokerPid(paths(options.root).pidFile);
  const running = await answers([url]);
  const detail = pid !== undefined ? `pid ${pid}` : running ? 'not started by ledgerline' : undefined;
  return { name: 'kafka', url, managed: true, running, ...(detail ? { detail } : {}) };
}
