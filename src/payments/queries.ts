// What the API, the dashboard, the metrics and the monitor read: payments, range queries over
// the sorted sets (newest first, cursor-paged), stats, slow payments and the queue's overview.
import type { Redis } from '../platform/redis.ts';
import { FINAL_STATUSES, isFinal, paymentKeys, type FinalStatus, type Status } from './keys.ts';

const iso = (ms: string | number | undefined) => (ms === undefined || ms === '' ? undefined : new Date(Number(ms)).toISOString());

export interface PaymentSummary {
  tracking_id: string;
  status: Status;
  payer_id: string;
  recipient_id: string;
  amount: number;
  currency: string;
  attempts: number;
  txn_id?: string;
  created_at: string;
  updated_at: string;
  processed_at?: string;
}

export interface PaymentView extends PaymentSummary {
  description?: string;
  metadata?: Record<string, string>;
  worker?: string;
  next_attempt_at?: string;
  last_error?: string;
  /** Why a failed payment is on the dead letter: max_attempts, rejected or poison. */
  dead_letter_reason?: string;
  /** Times it was requeued from the dead letter. */
  requeues?: number;
  result?: unknown;
  history: Array<{ status: string; at: string } & Record<string, unknown>>;
}

function summary(h: Record<string, string>): PaymentSummary {
  return {
    tracking_id: h.tracking_id!,
    status: h.status as Status,
    payer_id: h.payer_id!,
    recipient_id: h.recipient_id!,
    amount: Number(h.amount),
    currency: h.currency!,
    attempts: Number(h.attempts ?? 0),
    ...(h.txn_id ? { txn_id: h.txn_id } : {}),
    created_at: iso(h.created_at)!,
    updated_at: iso(h.updated_at)!,
    ...(h.processed_at ? { processed_at: iso(h.processed_at)! } : {}),
  };
}

function view(h: Record<string, string>): PaymentView {
  const history = (JSON.parse(h.history ?? '[]') as Array<Record<string, unknown>>).map((e) => {
    const { status, at, ...rest } = e;
    const out: Record<string, unknown> = { status, at: iso(at as number), ...rest };
    if (typeof e.next_attempt_at === 'number') out.next_attempt_at = iso(e.next_attempt_at);
    return out as { status: string; at: string };
  });
  return {
    ...summary(h),
    ...(h.description ? { description: h.description } : {}),
    ...(h.metadata ? { metadata: JSON.parse(h.metadata) as Record<string, string> } : {}),
    ...(h.worker ? { worker: h.worker } : {}),
    ...(h.status === 'retrying' && h.next_attempt_at ? { next_attempt_at: iso(h.next_attempt_at)! } : {}),
    ...(h.last_error ? { last_error: h.last_error } : {}),
    ...(h.dead_letter_reason ? { dead_letter_reason: h.dead_letter_reason } : {}),
    ...(h.requeues ? { requeues: Number(h.requeues) } : {}),
    ...(h.result ? { result: JSON.parse(h.result) as unknown } : {}),
    history,
  };
}

export interface ListFilter {
  payerId?: string | undefined;
  recipientId?: string | undefined;
  status?: Status | undefined;
  /** Epoch ms, inclusive: time of the status for final statuses, submission time otherwise. */
  from?: number | undefined;
  to?: number | undefined;
  limit: number;
  cursor?: string | undefined;
}

export interface ListPage {
  data: PaymentSummary[];
  /** Pass as `cursor` for the next (older) page; absent on the last one. */
  next_cursor?: string;
}

const encodeCursor = (score: number, id: string) => Buffer.from(`${score}:${id}`).toString('base64url');

export function decodeCursor(cursor: string): { score: number; id: string } | undefined {
  const m = /^(\d+):(.+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return m ? { score: Number(m[1]), id: m[2]! } : undefined;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;

/**
 * [lo, hi] (epoch ms, inclusive) as the UTC hours and minutes it covers whole (bucket starts)
 * and at most two ranges shorter than a minute (or one shorter than two) to read one by one.
 */
export function splitRange(lo: number, hi: number): { hours: number[]; minutes: number[]; scans: Array<[number, number]> } {
  const out = { hours: [] as number[], minutes: [] as number[], scans: [] as Array<[number, number]> };
  if (lo > hi) return out;
  const a = Math.ceil(lo / MINUTE) * MINUTE; // first whole minute
  const b = Math.floor((hi + 1) / MINUTE) * MINUTE; // end of the last whole minute (exclusive)
  if (a >= b) {
    out.scans.push([lo, hi]);
    return out;
  }
  if (lo < a) out.scans.push([lo, a - 1]);
  if (b <= hi) out.scans.push([b, hi]);
  const ha = Math.ceil(a / HOUR) * HOUR;
  const hb = Math.floor(b / HOUR) * HOUR;
  const minutes = (start: number, end: number) => {
    for (let m = start; m < end; m += MINUTE) out.minutes.push(m);
  };
  if (ha >= hb) minutes(a, b);
  else {
    minutes(a, ha);
    for (let h = ha; h < hb; h += HOUR) out.hours.push(h);
    minutes(hb, b);
  }
  return out;
}

type Totals = Record<FinalStatus, { count: number; amounts: Record<string, number> }>;

function addAmount(totals: Totals, status: FinalStatus, currency: string, amount: number): void {
  const t = totals[status];
  if (t) t.amounts[currency] = (t.amounts[currency] ?? 0) + amount;
}

export type ReadModel = ReturnType<typeof createReadModel>;

export function createReadModel(redis: Redis, prefix: string) {
  const keys = paymentKeys(prefix);

  async function hashes(ids: string[]): Promise<Array<Record<string, string>>> {
    if (!ids.length) return [];
    const replies = (await redis.pipeline(ids.map((id) => ['hgetall', keys.payment(id)])).exec()) ?? [];
    return replies.map(([err, h]) => {
      if (err) throw err;
      return h as Record<string, string>;
    });
  }

  /** Which sorted set answers a filter, and what still has to be checked on each payment. */
  function source(f: ListFilter): { key: string; check: (h: Record<string, string>) => boolean } {
    const { payerId, recipientId, status } = f;
    const party = (h: Record<string, string>) => (!payerId || h.payer_id === payerId) && (!recipientId || h.recipient_id === recipientId);
    if (status && isFinal(status)) {
      const key = payerId ? keys.outcomeByPayer(status, payerId) : recipientId ? keys.outcomeToRecipient(status, recipientId) : keys.outcomeSet(status);
      return { key, check: party };
    }
    const key = payerId ? keys.byPayer(payerId) : recipientId ? keys.toRecipient(recipientId) : status ? keys.open : keys.payments;
    return { key, check: (h) => party(h) && (!status || h.status === status) };
  }

  async function list(f: ListFilter): Promise<ListPage> {
    const { key, check } = source(f);
    const after = f.cursor ? decodeCursor(f.cursor) : undefined;
    const max = after ? after.score : (f.to ?? '+inf');
    const min = f.from ?? '-inf';
    const data: PaymentSummary[] = [];
    // Filters other than the set's own are checked per payment: examine a bounded number, and
    // hand back a cursor where we stopped.
    const budget = f.limit * 10 + 1000;
    const chunk = Math.min(Math.max(f.limit * 2, 50), 1000);
    let examined = 0;
    let offset = 0;
    let last: { score: number; id: string } | undefined;
    for (;;) {
      const flat = (await redis.zrange(key, String(max), String(min), 'BYSCORE', 'REV', 'LIMIT', offset, chunk, 'WITHSCORES')) as string[];
      if (!flat.length) return { data };
      offset += flat.length / 2;
      const pairs: Array<{ id: string; score: number }> = [];
      for (let i = 0; i < flat.length; i += 2) {
        const item = { id: flat[i]!, score: Number(flat[i + 1]) };
        // Members with the cursor's score come in descending byte order: skip those already returned.
        if (after && item.score === after.score && item.id >= after.id) continue;
        pairs.push(item);
      }
      const rows = await hashes(pairs.map((p) => p.id));
      for (let i = 0; i < pairs.length; i++) {
        last = pairs[i]!;
        examined++;
        const h = rows[i]!;
        if (h.tracking_id && check(h)) data.push(summary(h));
        if (data.length === f.limit || examined >= budget) return { data, next_cursor: encodeCursor(last.score, last.id) };
      }
      if (flat.length / 2 < chunk) return { data };
    }
  }

  async function getPayment(id: string): Promise<PaymentView | undefined> {
    const h = await redis.hgetall(keys.payment(id));
    return h.tracking_id ? view(h) : undefined;
  }

  /** Per-currency sums of the payments in `status`'s outcome set with a score in [lo, hi], one by one. */
  async function scanAmounts(status: FinalStatus, lo: number, hi: number, into: Totals): Promise<void> {
    // Chunked, so a wide range never blocks Redis (only the edges of a range are read this way).
    for (let offset = 0; ; offset += 1000) {
      const ids = await redis.zrangebyscore(keys.outcomeSet(status), lo, hi, 'LIMIT', offset, 1000);
      if (!ids.length) break;
      const rows = (await redis.pipeline(ids.map((id) => ['hmget', keys.payment(id), 'amount', 'currency'])).exec()) ?? [];
      for (const [, row] of rows) {
        const [amount, currency] = row as [string | null, string | null];
        if (currency) addAmount(into, status, currency, Number(amount));
      }
      if (ids.length < 1000) break;
    }
  }

  /**
   * Counts (ZCOUNT) and sums per currency of each final status whose time is in [from, to], and
   * what is open now. Sums of whole hours and whole minutes come from the stats buckets the
   * outcome scripts keep (lua/lib.lua), only those of the partial minutes at the edges from the
   * payments: a year costs about as much as an hour.
   */
  async function stats(from: number | undefined, to: number | undefined) {
    const min = from ?? '-inf';
    const max = to ?? '+inf';
    const totals = Object.fromEntries(FINAL_STATUSES.map((s) => [s, { count: 0, amounts: {} }])) as Totals;
    // Open ends and wide ranges shrink to the hours that hold outcomes (whole hours: nothing lies
    // outside the outcomes, and a whole bucket is one read, an edge a scan).
    const p = redis.pipeline();
    for (const s of FINAL_STATUSES) p.zcount(keys.outcomeSet(s), min, max).zrange(keys.outcomeSet(s), '0', '0', 'WITHSCORES').zrange(keys.outcomeSet(s), '-1', '-1', 'WITHSCORES');
    const replies = ((await p.exec()) ?? []).map(([err, v]) => {
      if (err) throw err;
      return v;
    });
    const scores: number[] = [];
    FINAL_STATUSES.forEach((s, i) => {
      totals[s].count = Number(replies[i * 3]);
      for (const flat of [replies[i * 3 + 1], replies[i * 3 + 2]] as string[][]) if (flat.length) scores.push(Number(flat[1]));
    });
    if (scores.length) {
      const first = Math.floor(Math.min(...scores) / HOUR) * HOUR;
      const last = Math.floor(Math.max(...scores) / HOUR) * HOUR + HOUR - 1;
      const { hours, minutes, scans } = splitRange(Math.max(from ?? -Infinity, first), Math.min(to ?? Infinity, last));
      const buckets = redis.pipeline();
      for (const h of hours) buckets.hgetall(keys.statsHour(h));
      for (const m of minutes) buckets.hgetall(keys.statsMinute(m));
      for (const [, bucket] of (await buckets.exec()) ?? []) {
        for (const [field, value] of Object.entries(bucket as Record<string, string>)) {
          const [status, currency] = field.split('|') as [FinalStatus, string];
          addAmount(totals, status, currency, Number(value));
        }
      }
      for (const [lo, hi] of scans) for (const s of FINAL_STATUSES) await scanAmounts(s, lo, hi, totals);
    }
    const o = await overview({ recent: 0 });
    return {
      from: iso(from ?? undefined) ?? null,
      to: iso(to ?? undefined) ?? null,
      statuses: totals,
      api_errors: await redis.zcount(keys.apiErrors, min, max),
      open: { queued: o.queueDepth, processing: o.inFlight, retrying: o.retryScheduled, total: o.open },
    };
  }

  /** Payments not final `olderThanMs` after submission (any open status), oldest first. */
  async function slow(olderThanMs: number, limit: number) {
    const [seconds, micros] = await redis.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    const cutoff = now - olderThanMs;
    const [ids, total] = await Promise.all([redis.zrangebyscore(keys.open, '-inf', cutoff, 'LIMIT', 0, limit), redis.zcount(keys.open, '-inf', cutoff)]);
    const rows = await hashes(ids);
    return {
      threshold_ms: olderThanMs,
      total,
      data: rows.filter((h) => h.tracking_id).map((h) => ({ ...summary(h), age_ms: now - Number(h.created_at), ...(h.worker && h.status === 'processing' ? { worker: h.worker } : {}) })),
    };
  }

  async function deadLetters(limit: number) {
    const [ids, total] = await Promise.all([redis.lrange(keys.deadLetter, 0, limit - 1), redis.llen(keys.deadLetter)]);
    const rows = await hashes(ids);
    return { total, data: rows.filter((h) => h.tracking_id).map((h) => ({ ...summary(h), reason: h.dead_letter_reason, last_error: h.last_error })) };
  }

  /** The queue at a glance: the dashboard, the gauges and the monitor. */
  async function overview(options: { recent?: number } = {}) {
    const recent = options.recent ?? 20;
    const p = redis.pipeline();
    p.time();
    p.llen(keys.queue);
    p.zrange(keys.workers, 0, '-1', 'WITHSCORES');
    p.hgetall(keys.workerInfo);
    p.zcard(keys.retry);
    p.zrange(keys.retry, 0, String(Math.max(recent, 1) - 1), 'WITHSCORES');
    p.llen(keys.deadLetter);
    p.zcard(keys.open);
    p.zrange(keys.open, 0, '0', 'WITHSCORES');
    p.xlen(keys.outbox);
    for (const s of FINAL_STATUSES) p.zcard(keys.outcomeSet(s));
    const replies = (await p.exec()) ?? [];
    const r = replies.map(([err, v]) => {
      if (err) throw err;
      return v;
    });
    const [time, depth, workerFlat, info, retryCount, retryFlat, dead, open, oldest, outbox] = r as [
      [string, string], number, string[], Record<string, string>, number, string[], number, number, string[], number,
    ];
    const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    const outcomes = Object.fromEntries(FINAL_STATUSES.map((s, i) => [s, Number(r[10 + i])])) as Record<FinalStatus, number>;

    const workerIds: Array<{ id: string; expiresAt: number }> = [];
    for (let i = 0; i < workerFlat.length; i += 2) workerIds.push({ id: workerFlat[i]!, expiresAt: Number(workerFlat[i + 1]) });
    const lengths = workerIds.length ? ((await redis.pipeline(workerIds.map((w) => ['llen', keys.processing(w.id)])).exec()) ?? []) : [];
    const workers = workerIds.map((w, i) => ({
      id: w.id,
      alive: w.expiresAt > now,
      heartbeat_expires_in_ms: w.expiresAt - now,
      in_flight: Number(lengths[i]?.[1] ?? 0),
      ...(info[w.id] ? (JSON.parse(info[w.id]!) as Record<string, unknown>) : {}),
    }));
    const retries: Array<{ tracking_id: string; due_at: string }> = [];
    for (let i = 0; i < retryFlat.length; i += 2) retries.push({ tracking_id: retryFlat[i]!, due_at: iso(retryFlat[i + 1])! });

    let recentOutcomes: Array<{ tracking_id: string; status: FinalStatus; at: string; score: number }> = [];
    if (recent > 0) {
      const rp = redis.pipeline();
      for (const s of FINAL_STATUSES) rp.zrange(keys.outcomeSet(s), 0, String(recent - 1), 'REV', 'WITHSCORES');
      const lists = (await rp.exec()) ?? [];
      lists.forEach(([, flat], i) => {
        const f = flat as string[];
        for (let k = 0; k < f.length; k += 2) recentOutcomes.push({ tracking_id: f[k]!, status: FINAL_STATUSES[i]!, score: Number(f[k + 1]), at: iso(f[k + 1])! });
      });
      recentOutcomes = recentOutcomes.sort((a, b) => b.score - a.score).slice(0, recent);
    }
    return {
      now,
      queueDepth: depth,
      inFlight: workers.reduce((sum, w) => sum + w.in_flight, 0),
      workers,
      retryScheduled: retryCount,
      nextRetries: retries,
      deadLetters: dead,
      open,
      oldestOpenAgeMs: oldest.length ? now - Number(oldest[1]) : 0,
      outboxBacklog: outbox,
      outcomes,
      recentOutcomes: recentOutcomes.map(({ score: _score, ...o }) => o),
    };
  }

  return { getPayment, list, stats, slow, deadLetters, overview };
}

