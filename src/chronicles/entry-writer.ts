// Writes validated entries, their taggings and dead letters — many jobs' worth in one
// transaction ("group commit"): a job hands its part to write() and is acknowledged to BullMQ only
// when the transaction holding it has committed. While transactions run (two at a time by
// default), the parts of the jobs that finish validating meanwhile queue up and go together in the
// next one.
//
// Duplicates: the statement first inserts the batch's sequence codes into
// chronicles.sequence_codes (on conflict do nothing, returning the new ones) and inserts only
// those entries and their taggings. A job re-run after a crash therefore writes nothing twice,
// whether its first run committed or not; repeats inside one batch are dropped before that.
import type { Sql } from '../platform/db.ts';
import type { EntryInput } from './message-mappings.ts';
import type { PartitionCache } from './partitions.ts';
import { TAG_KINDS, tagsFromRules, type RuleCache, type TagDirectory } from './tag-rules.ts';

export interface DeadLetter {
  topic: string;
  message_id: string;
  item: number;
  reason: string;
  raw: string;
}

/** An entry and where it came from (for a dead letter should Postgres refuse it). */
export type SourcedEntry = EntryInput & { source: Omit<DeadLetter, 'reason' | 'raw'> };

export interface WritePart {
  entries: SourcedEntry[];
  deadLetters: DeadLetter[];
}

export interface WriteResult {
  inserted: number;
  duplicates: number;
}

export interface EntryWriterOptions {
  sql: Sql;
  rules: RuleCache;
  tags: TagDirectory;
  partitions: PartitionCache;
  /** Most entries in one transaction (whole parts; a bigger part goes alone). 1 = one per part. */
  maxBatchRows: number;
  /** Transactions in flight at once (default 2: one commits while the next is prepared). */
  concurrency?: number;
  /** Test hooks around the commit (a worker killed mid-batch). */
  hooks?: { beforeCommit?: () => Promise<void>; afterCommit?: () => Promise<void> };
  onBatch?: (stats: { parts: number; rows: number; inserted: number; deadLetters: number; ms: number }) => void;
}

interface Pending {
  part: WritePart;
  resolve: (result: WriteResult) => void;
  reject: (err: unknown) => void;
}

export class EntryWriter {
  private pending: Pending[] = [];
  private inFlight = 0;
  private scheduled = false;
  private readonly options: EntryWriterOptions;

  constructor(options: EntryWriterOptions) {
    this.options = options;
  }

  write(part: WritePart): Promise<WriteResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ part, resolve, reject });
      if (!this.scheduled && this.inFlight < this.concurrency) {
        this.scheduled = true;
        // Let the jobs that are validating right now join this batch.
        setImmediate(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  private get concurrency(): number {
    return this.options.concurrency ?? 2;
  }

  /** Starts batches while there are parts waiting and a transaction slot free. */
  private pump(): void {
    while (this.pending.length && this.inFlight < this.concurrency) {
      const batch: Pending[] = [];
      let rows = 0;
      while (this.pending.length && (batch.length === 0 || rows + this.pending[0]!.part.entries.length <= this.options.maxBatchRows)) {
        const next = this.pending.shift()!;
        rows += Math.max(1, next.part.entries.length);
        batch.push(next);
        if (this.options.maxBatchRows === 1) break;
      }
      this.inFlight++;
      this.writeResilient(batch.map((p) => p.part))
        .then(
          (results) => batch.forEach((p, i) => p.resolve(results[i]!)),
          (err: unknown) => batch.forEach((p) => p.reject(err)),
        )
        .finally(() => {
          this.inFlight--;
          // What gathered while this batch was written goes next.
          this.pump();
        });
    }
  }

  /**
   * A value Postgres refuses (a data exception, SQLSTATE class 22) must not poison the jobs it
   * was batched with: the batch is split until the offending entry is alone, and that entry
   * becomes a dead letter with Postgres' reason.
   */
  private async writeResilient(parts: WritePart[]): Promise<WriteResult[]> {
    try {
      return await this.writeBatch(parts);
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (!code.startsWith('22')) throw err;
      if (parts.length > 1) {
        const results: WriteResult[] = [];
        for (const part of parts) results.push(...(await this.writeResilient([part])));
        return results;
      }
      const part = parts[0]!;
      if (part.entries.length > 1) {
        const singles = part.entries.map((e) => ({ entries: [e], deadLetters: [] }));
        const results = await this.writeResilient([...singles, { entries: [], deadLetters: part.deadLetters }]);
        const inserted = results.reduce((n, r) => n + r.inserted, 0);
        return [{ inserted, duplicates: part.entries.length - inserted }];
      }
      const refused = part.entries[0];
      if (!refused) throw err;
      const { source, ...entry } = refused;
      const reason = `rejected by Postgres: ${(err as Error).message}`;
      await this.writeBatch([{ entries: [], deadLetters: [...part.deadLetters, { ...source, reason, raw: JSON.stringify(entry) }] }]);
      return [{ inserted: 0, duplicates: 0 }];
    }
  }

  private async writeBatch(parts: WritePart[]): Promise<WriteResult[]> {
    const started = performance.now();
    const { sql, rules, tags, partitions } = this.options;
    // First occurrence of a sequence_code wins, inside the batch as across batches.
    const unique = new Map<string, SourcedEntry>();
    for (const part of parts) for (const e of part.entries) if (!unique.has(e.sequence_code)) unique.set(e.sequence_code, e);
    const entries = [...unique.values()];
    const deadLetters = parts.flatMap((p) => p.deadLetters);

    const activeRules = await rules.get();
    const taggings = { feed: new Map<string, { name: string; e: EntryInput; byRule: boolean }>(), access: new Map<string, { name: string; e: EntryInput; byRule: boolean }>() };
    for (const e of entries) {
      const fromRules = tagsFromRules(activeRules, e);
      for (const kind of TAG_KINDS) {
        const given = kind === 'feed' ? e.feed_tags : e.access_tags;
        for (const name of given) taggings[kind].set(`${e.sequence_code}\u0000${name}`, { name, e, byRule: false });
        for (const name of fromRules[kind]) {
          const key = `${e.sequence_code}\u0000${name}`;
          if (!taggings[kind].has(key)) taggings[kind].set(key, { name, e, byRule: true });
        }
      }
    }
    const names = [...taggings.feed.values(), ...taggings.access.values()].map((t) => t.name);
    const ids = names.length ? await tags.idsFor(names) : new Map<string, number>();
    const taggingRows = (kind: 'feed' | 'access') =>
      JSON.stringify([...taggings[kind].values()].map((t) => ({ tag_id: ids.get(t.name), occurred_at: t.e.occurred_at, sequence_code: t.e.sequence_code, by_rule: t.byRule })));

    const entryRows = JSON.stringify(
      entries.map((e) => ({
        sequence_code: e.sequence_code,
        app: e.app,
        subject_type: e.subject_type,
        subject_gid: e.subject_gid,
        action_name: e.action_name,
        performer_gid: e.performer_gid,
        payload: e.payload,
        occurred_at: e.occurred_at,
      })),
    );
    const feedRows = taggingRows('feed');
    const accessRows = taggingRows('access');
    const deadRows = JSON.stringify(deadLetters);

    const run = async () => {
      await partitions.ensureFor(entries.map((e) => e.occurred_at));
      return sql.begin(async (tx) => {
        const [row] = await tx<{ fresh: string[] | null }[]>`
          with input as (
            select * from jsonb_to_recordset(${entryRows}::text::jsonb) as x(
              sequence_code uuid, app text, subject_type text, subject_gid text, action_name text,
              performer_gid text, payload jsonb, occurred_at timestamptz)
          ), fresh as (
            insert into chronicles.sequence_codes (sequence_code, occurred_at)
            select sequence_code, occurred_at from input order by sequence_code
            on conflict do nothing
            returning sequence_code
          ), inserted as (
            insert into chronicles.entries (sequence_code, app, subject_type, subject_gid, action_name, performer_gid, payload, occurred_at)
            select i.sequence_code, i.app, i.subject_type, i.subject_gid, i.action_name, i.performer_gid, i.payload, i.occurred_at
            from input i join fresh f using (sequence_code)
            returning sequence_code
          ), feed as (
            insert into chronicles.feed_taggings (tag_id, occurred_at, sequence_code, by_rule)
            select t.tag_id, t.occurred_at, t.sequence_code, t.by_rule
            from jsonb_to_recordset(${feedRows}::text::jsonb) as t(tag_id integer, occurred_at timestamptz, sequence_code uuid, by_rule boolean)
            join fresh f using (sequence_code)
            on conflict do nothing
          ), access as (
            insert into chronicles.access_taggings (tag_id, occurred_at, sequence_code, by_rule)
            select t.tag_id, t.occurred_at, t.sequence_code, t.by_rule
            from jsonb_to_recordset(${accessRows}::text::jsonb) as t(tag_id integer, occurred_at timestamptz, sequence_code uuid, by_rule boolean)
            join fresh f using (sequence_code)
            on conflict do nothing
          ), dead as (
            insert into chronicles.dead_letters (topic, message_id, item, reason, raw)
            select topic, message_id, item, reason, raw
            from jsonb_to_recordset(${deadRows}::text::jsonb) as d(topic text, message_id text, item integer, reason text, raw text)
            on conflict do nothing
          )
          select array_agg(sequence_code::text) as fresh from inserted`;
        await this.options.hooks?.beforeCommit?.();
        return new Set(row?.fresh ?? []);
      });
    };

    let fresh: Set<string>;
    try {
      fresh = await run();
    } catch (err) {
      // 23514: no partition for a row — retention dropped one we had cached. Look again once.
      if ((err as { code?: string }).code !== '23514') throw err;
      partitions.invalidate();
      fresh = await run();
    }
    await this.options.hooks?.afterCommit?.();

    this.options.onBatch?.({ parts: parts.length, rows: entries.length, inserted: fresh.size, deadLetters: deadLetters.length, ms: performance.now() - started });
    // Each part learns how many of its own entries were new (a repeat counts once, for the first).
    const claimed = new Set<string>();
    return parts.map((part) => {
      let inserted = 0;
      for (const e of part.entries) {
        if (fresh.has(e.sequence_code) && !claimed.has(e.sequence_code)) {
          claimed.add(e.sequence_code);
          inserted++;
        }
      }
      return { inserted, duplicates: part.entries.length - inserted };
    });
  }
}
