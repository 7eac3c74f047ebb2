// A throwaway Postgres server (the embedded binaries) for tests that stop and restart it.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { projectRoot } from '../../src/platform/project-root.ts';
import { embeddedUrl, startEmbeddedPostgres, stopEmbeddedPostgres } from '../../src/platform/services/postgres.ts';
import { freePort } from './ports.ts';

export interface PrivatePostgres {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const port = await freePort();
  const dataDir = join(projectRoot, '.data', 'tmp', `pg-${port}`);
  const start = () => startEmbeddedPostgres({ dataDir, port });
  const stop = () => stopEmbeddedPostgres(dataDir);
  await start();
  return {
    url: embeddedUrl(port, 'postgres'),
    start,
    stop,
    async destroy() {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
