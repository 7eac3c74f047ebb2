// Applies a page of /v1/events, oldest first, in one transaction with the cursor. Each event's
// `data.object` is the row's new state, versioned by the event's `created` and its position among
// the events of that second (row-writer.ts), so the SQL guard orders states exactly as Stripe
// listed them. *.deleted events set `_deleted_at` (or delete, with --hard-deletes). The event
// itself goes into the `event` table. Events for objects with no table are logged and skipped.
import type { Sql } from '../platform/db.ts';
import type { Logger } from '../platform/log.ts';
import { dataDbError, withDbRetry } from './db-retry.ts';
import { addObject, RowSet, writeRowSet, type JsonObject, type RowContext } from './object-rows.ts';
import { cascadeDelete, stampEvent, type RowWriter } from './row-writer.ts';
import type { Row } from './schema-mapping.ts';
import { toRow } from './schema-mapping.ts';
import type { StripeClient } from './stripe-client.ts';
import { cascadeOf, childrenOf, tableForObject } from './sync-plan.ts';

export interface EventCursor {
  id: string | null;
  created: number | null;
  /** Position of the cursor event among the events of its second. */
  position: number;
}

export interface StripeEvent {
  id: string;
  type: string;
  created: number;
  api_version?: string | null;
  data: { object: JsonObject; previous_attributes?: JsonObject };
}

/** What an applied event touched, for the upcoming invoices it may change. */
export interface Touched {
  customers: Set<string>;
  subscriptions: Map<string, string | null>;
  prices: Set<string>;
  coupons: Set<string>;
  deletedCustomers: Set<string>;
}

export function emptyTouched(): Touched {
  return { customers: new Set(), subscriptions: new Map(), prices: new Set(), coupons: new Set(), deletedCustomers: new Set() };
}

/** `customer.subscription.deleted` means canceled: the subscription still exists. */
export function isDeletion(type: string): boolean {
  return type.endsWith('.deleted') && type !== 'customer.subscription.deleted';
}

export interface ApplierOptions {
  sql: Sql;
  writer: RowWriter;
  schema: string;
  accountId: string;
  client: StripeClient;
  logger: Logger;
  apiVersion: string;
  onTouched?: (touched: Touched) => void;
}

const id = (v: unknown): string | undefined => (typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as JsonObject).id === 'string' ? String((v as JsonObject).id) : undefined);

export class EventApplier {
  private readonly options: ApplierOptions;
  private readonly recent = new Set<string>();
  private readonly recentOrder: string[] = [];
  private readonly skippedObjects = new Set<string>();
  private versionWarned = false;
  private readonly rowContext: RowContext;
  applied = 0;

  constructor(options: ApplierOptions) {
    this.options = options;
    this.rowContext = { client: options.client, accountId: options.accountId, priority: 'live' };
  }

  /** Whether this event was applied already (by a concurrent poll cycle). */
  seen(eventId: string): boolean {
    return this.recent.has(eventId);
  }

  private remember(eventId: string): void {
    this.recent.add(eventId);
    this.recentOrder.push(eventId);
    if (this.recentOrder.length > 20_000) this.recent.delete(this.recentOrder.shift()!);
  }

  /** Applies `events` (oldest first) after `cursor`; returns the new cursor once committed. */
  async apply(events: StripeEvent[], cursor: EventCursor): Promise<EventCursor> {
    const fresh = events.filter((e) => !this.recent.has(e.id));
    if (fresh.length === 0) return cursor;
    const set = new RowSet();
    const touched = emptyTouched();
    /** Deleted parents, by table: their children reachable only through them go as well. */
    const deletions = new Map<string, Array<{ parentId: string; version: Row }>>();
    let next = { ...cursor };
    for (const event of fresh) {
      const position = next.created === event.created ? next.position + 1 : 0;
      next = { id: event.id, created: event.created, position };
      set.add('event', stampEvent(toRow('event', event as unknown as JsonObject, { accountId: this.options.accountId }), event.created, position, false));
      if (event.api_version && event.api_version !== this.options.apiVersion && !this.versionWarned) {
        this.versionWarned = true;
        this.options.logger.warn({ event: event.id, eventVersion: event.api_version, pinned: this.options.apiVersion }, "events are rendered in the account's API version, not the pinned one: set the account's default version or --stripe-version to match, or rows from events and from lists will differ in shape");
      }
      const object = event.data?.object;
      if (!object || typeof object !== 'object' || typeof object.id !== 'string') continue;
      const table = tableForObject(String(object.object));
      if (!table) {
        if (!this.skippedObjects.has(String(object.object))) {
          this.skippedObjects.add(String(object.object));
          this.options.logger.info({ type: event.type, object: object.object }, 'events for objects with no table are skipped');
        }
        continue;
      }
      const deleted = isDeletion(event.type);
      await addObject(this.rowContext, set, table, object, (row) => stampEvent(row, event.created, position, deleted), childrenOf(table));
      if (deleted) {
        const list = deletions.get(table) ?? [];
        list.push({ parentId: String(object.id), version: stampEvent({}, event.created, position, true) });
        deletions.set(table, list);
      }
      collectTouched(touched, table, object, event.type);
    }
    await withDbRetry(
      async () => {
        const write = (safe: boolean) =>
          this.options.sql.begin(async (tx) => {
            await writeRowSet(tx, this.options.writer, this.options.accountId, set, { removeStale: true, safe });
            for (const [table, parents] of deletions) {
              for (const child of cascadeOf(table)) await cascadeDelete(this.options.writer, tx, child.table, child.column, this.options.accountId, parents);
            }
            await tx.unsafe(
              `insert into "${this.options.schema}"._sync_state (account_id, event_cursor, event_cursor_created, event_cursor_position, events_applied, last_poll_at, updated_at)
               values ($1, $2, $3, $4, $5, now(), now())
               on conflict (account_id) do update set event_cursor = excluded.event_cursor, event_cursor_created = excluded.event_cursor_created,
                 event_cursor_position = excluded.event_cursor_position, events_applied = _sync_state.events_applied + $5, last_poll_at = now(), updated_at = now()`,
              [this.options.accountId, next.id, next.created, next.position, fresh.length],
              { prepare: true },
            );
          });
        try {
          await write(false);
        } catch (err) {
          if (!dataDbError(err)) throw err;
          await write(true);
        }
      },
      { logger: this.options.logger, what: 'apply events' },
    );
    for (const e of fresh) this.remember(e.id);
    this.applied += fresh.length;
    this.options.onTouched?.(touched);
    return next;
  }
}

function collectTouched(t: Touched, table: string, object: JsonObject, type: string): void {
  const customer = id(object.customer);
  const subscription = id(object.subscription);
  switch (table) {
    case 'customer':
      if (isDeletion(type)) t.deletedCustomers.add(String(object.id));
      else t.customers.add(String(object.id));
      return;
    case 'subscription':
      if (customer) t.customers.add(customer);
      t.subscriptions.set(String(object.id), customer ?? null);
      return;
    case 'subscription_item':
      if (subscription) t.subscriptions.set(subscription, null);
      return;
    case 'invoiceitem':
    case 'invoice':
    case 'discount':
    case 'tax_id':
      if (customer) t.customers.add(customer);
      if (subscription) t.subscriptions.set(subscription, customer ?? null);
      return;
    case 'price':
    case 'plan':
      t.prices.add(String(object.id));
      return;
    case 'coupon':
    case 'promotion_code':
      t.coupons.add(table === 'coupon' ? String(object.id) : (id(object.coupon) ?? ''));
      return;
    default:
      return;
  }
}
