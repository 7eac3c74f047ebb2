// What a billing client offers, whichever transport answers each method.
import type { Transport } from './instrumentation.ts';
import type { BillingRecord, BillingRecordFilter, RecordField } from './records.ts';

export const METHODS = ['findRecords', 'recordsForProducts', 'lastCreatedAt', 'getRecord'] as const;
export type Method = (typeof METHODS)[number];

export type Picked<F extends RecordField> = Pick<BillingRecord, F>;

export interface RecordsOptions<F extends RecordField> {
  filter?: BillingRecordFilter;
  /** Newest records per product, 1-100 (default 50). */
  first?: number;
  /** Fields to fetch (default all): ask for the few you use. */
  fields?: readonly F[];
}

export interface BillingClient {
  /** A page of records matching `filter`, newest first. An empty filter matches nothing. */
  findRecords<F extends RecordField = RecordField>(
    filter: BillingRecordFilter,
    options?: { first?: number; after?: string; fields?: readonly F[] },
  ): Promise<{ records: Array<Picked<F>>; hasNextPage: boolean; endCursor: string | null }>;
  /** Records of many products: one request per 1000 products; every gid is a key of the map. */
  recordsForProducts<F extends RecordField = RecordField>(productGids: readonly string[], options?: RecordsOptions<F>): Promise<Map<string, Array<Picked<F>>>>;
  /** When each product's newest record was created (null: none); one request per 1000 products. */
  lastCreatedAt(productGids: readonly string[]): Promise<Map<string, Date | null>>;
  /** One product's records; calls made in the same tick (same options) become one request. */
  loadRecordsOf<F extends RecordField = RecordField>(productGid: string, options?: RecordsOptions<F>): Promise<Array<Picked<F>>>;
  /** One record by gid (null: none); calls made in the same tick (same fields) become one request. */
  getRecord<F extends RecordField = RecordField>(gid: string, options?: { fields?: readonly F[] }): Promise<Picked<F> | null>;
  /** One product's last record date; calls made in the same tick become one request. */
  loadLastCreatedAt(productGid: string): Promise<Date | null>;
  /** Flips a method's flag at run time (e.g. from a feature-flag service). */
  setTransport(method: Method, transport: Transport): void;
}

