// Backfill progress: a bar per endpoint on a terminal (cli-progress), structured log lines
// otherwise (one per active job every 10 s, and one when a job finishes).
import cliProgress from 'cli-progress';
import type { Logger } from '../platform/log.ts';

export interface JobProgress {
  rows: number;
  requests: number;
  /** 0..1 when it can be estimated. */
  fraction?: number;
  segments?: number;
  done: boolean;
}

export interface ProgressReporter {
  update(job: string, progress: JobProgress): void;
  stop(): void;
}

/** `terminal`: where bars are drawn (stderr by default). */
export function createProgress(mode: 'auto' | 'bars' | 'logs' | 'off', logger: Logger, accountId: string, terminal: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr): ProgressReporter {
  const bars = mode === 'bars' || (mode === 'auto' && terminal.isTTY === true);
  if (mode === 'off') return { update() {}, stop() {} };
  return bars ? barProgress(accountId, terminal) : logProgress(logger, accountId);
}

function barProgress(accountId: string, terminal: NodeJS.WritableStream): ProgressReporter {
  const multi = new cliProgress.MultiBar(
    {
      stream: terminal,
      format: `${accountId.slice(0, 18).padEnd(18)} {job} |{bar}| {pct} {rows} rows, {requests} req{state}`,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      barsize: 24,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    update(job, p) {
      const payload = {
        job: job.replace(/^(list|parents):/, '').slice(0, 48).padEnd(48),
        rows: String(p.rows).padStart(9),
        requests: String(p.requests).padStart(7),
        pct: p.done ? '100%' : p.fraction === undefined ? '  ? ' : `${String(Math.floor(p.fraction * 100)).padStart(3)}%`,
        state: p.done ? ' done' : p.segments ? `, ${p.segments} segments` : '',
      };
      const value = p.done ? 1000 : Math.floor((p.fraction ?? 0) * 1000);
      const bar = bars.get(job);
      if (bar) bar.update(value, payload);
      else bars.set(job, multi.create(1000, value, payload));
    },
    stop() {
      multi.stop();
    },
  };
}

function logProgress(logger: Logger, accountId: string): ProgressReporter {
  const latest = new Map<string, JobProgress>();
  const reported = new Set<string>();
  const timer = setInterval(() => {
    for (const [job, p] of latest) {
      if (p.done) continue;
      logger.info({ account: accountId, job, rows: p.rows, requests: p.requests, percent: p.fraction === undefined ? null : Math.floor(p.fraction * 100), segments: p.segments }, 'backfill progress');
    }
  }, 10_000);
  timer.unref();
  return {
    update(job, p) {
      latest.set(job, p);
      if (p.done && !reported.has(job)) {
        reported.add(job);
        logger.info({ account: accountId, job, rows: p.rows, requests: p.requests }, 'backfill job done');
      }
    },
    stop() {
      clearInterval(timer);
    },
  };
}
