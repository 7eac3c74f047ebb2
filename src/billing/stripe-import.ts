// `ledgerline billing consumer`, part two: the Stripe mirror's invoices (stripe-sync's table
// <schema>.invoice; Stripe itself is never called) → `invoice` records keyed by stripe_id, through
// the writer. Incremental: rows are read in (_synced_at, id) order from a watermark kept in
// billing.import_watermarks, starting `overlapMs` before it, because _synced_at is the writing
// transaction's start time and a long transaction can commit rows older than ones already read.
// Re-reading a row costs a comparison and writes nothing (upsertFromSource).
//
// Mapping: status draft → pending, open → open, paid → paid, uncollectible → failed, void or
// deleted (_deleted_at) → void; amount = amount_due; due_at = due_date; paid_at =
// status_transitions.paid_at; created_at = created; product_gid / client_gid = metadata
// product_gid / client_gid, else stripe://customer/<customer>.
import type { Sql } from '../platform/db.ts';
import type { Logger } from '../platform/log.ts';
import { sleep } from '../platform/timeout.ts';
import { upsertFromSource, type SourceFields, type UpsertChange } from './records-writer.ts';

interface InvoiceRow {
  id: string;
  customer: string | null;
  status: string | null;
  amount_due: string | null;
  currency: string | null;
  due_date: Date | null;
  created: Date | null;
  paid_at: Date | null;
  metadata: Record<string, unknown> | null;
  deleted: boolean;
  synced_at: Date;
  /**
   * _synced_at to the microsecond, for the cursor and the watermark: a Date has milliseconds, and
   * postgres.js would send a timestamptz parameter through one (hence ::text::timestamptz).
   */
  synced_text: string;
}

const STATUS: Record<string, string> = { draft: 'pending', open: 'open', paid: 'paid', uncollectible: 'failed', void: 'void' };

export function recordOfInvoice(row: InvoiceRow): SourceFields {
  const meta = row.metadata ?? {};
  const customer = `stripe://customer/${row.customer ?? 'unknown'}`;
  const gid = (v: unknown) => (typeof v === 'string' && /^[\x21-\x7e]{1,255}$/.test(v) ? v : undefined);
  return {
    product_gid: gid(meta.product_gid) ?? customer,
    client_gid: gid(meta.client_gid) ?? customer,
    kind: 'invoice',
    status: row.deleted ? 'void' : (STATUS[row.status ?? ''] ?? 'pending'),
    amount: Number(row.amount_due ?? 0),
    currency: (row.currency ?? 'usd').toLowerCase(),
    due_at: row.due_date,
    paid_at: row.paid_at,
    created_at: row.created ?? row.synced_at,
    metadata: { stripe_customer: row.customer, stripe_status: row.status },
  };
}

export interface StripeImportOptions {
  /** Schema of the Stripe mirror (stripe-sync's --schema). */
  schema: string;
  batchSize?: number;
  overlapMs?: number;
}

export interface ImportResult {
  /** False when the mirror's table does not exist (stripe-sync not migrated): nothing to do. */
  available: boolean;
  read: number;
  changes: Record<UpsertChange, number>;
}

/** One pass: every invoice row synced since the watermark (less the overlap). */
export async function importStripeInvoices(sql: Sql, options: StripeImportOptions): Promise<ImportResult> {
  const result: ImportResult = { available: false, read: 0, changes: { created: 0, updated: 0, unchanged: 0 } };
  const [table] = await sql<{ t: string | null }[]>`select to_regclass(${`${options.schema}.invoice`})::text as t`;
  if (!table?.t) return result;
  result.available = true;
  const name = `stripe-invoices:${options.schema}`;
  const [mark] = await sql<{ watermark: Date }[]>`select watermark from billing.import_watermarks where name = ${name}`;
  const from = new Date((mark?.watermark.getTime() ?? 0) - (options.overlapMs ?? 10_000));
  const batch = options.batchSize ?? 500;
  const invoice = sql(options.schema);
  let cursor: { at: string; account: string; id: string } | undefined;
  let newest: string | undefined;
  for (;;) {
    const rows = await sql<Array<InvoiceRow & { account: string }>>`
      select id, _account_id as account, customer, status, amount_due, currency, due_date, created, metadata,
             case when status_transitions ->> 'paid_at' ~ '^[0-9]+$' then to_timestamp((status_transitions ->> 'paid_at')::bigint) end as paid_at,
             _deleted_at is not null as deleted, _synced_at as synced_at, _synced_at::text as synced_text
      from ${invoice}.invoice
      where ${cursor ? sql`(_synced_at, _account_id, id) > (${cursor.at}::text::timestamptz, ${cursor.account}, ${cursor.id})` : sql`_synced_at >= ${from}`}
      order by _synced_at, _account_id, id
      limit ${batch}`;
    for (const row of rows) {
      const { change } = await upsertFromSource(sql, { source: 'stripe', stripeId: row.id }, recordOfInvoice(row));
      result.changes[change]++;
    }
    result.read += rows.length;
    const last = rows[rows.length - 1];
    // Rows come in _synced_at order, so the last row read is the newest.
    if (last) cursor = { at: last.synced_text, account: last.account, id: last.id };
    if (last) newest = last.synced_text;
    if (rows.length < batch) break;
  }
  if (newest) {
    await sql`
      insert into billing.import_watermarks (name, watermark) values (${name}, ${newest}::text::timestamptz)
      on conflict (name) do update set watermark = greatest(billing.import_watermarks.watermark, excluded.watermark), updated_at = now()`;
  }
  return result;
}

/** Runs importStripeInvoices every `intervalMs` until stopped. */
export function startStripeImport(sql: Sql, options: StripeImportOptions & { intervalMs: number; logger: Logger; onResult?: (r: ImportResult) => void }) {
  const log = options.logger.child({ component: 'stripe-import' });
  const abort = new AbortController();
  const done = (async () => {
    while (!abort.signal.aborted) {
      try {
        const r = await importStripeInvoices(sql, options);
        options.onResult?.(r);
        if (r.changes.created || r.changes.updated) log.info({ read: r.read, ...r.changes }, 'imported Stripe invoices');
      } catch (err) {
        log.warn({ err }, 'Stripe invoice import failed; retrying at the next interval');
      }
      await sleep(options.intervalMs, abort.signal);
    }
  })();
  return {
    async stop() {
      abort.abort();
      await done;
    },
  };
}
