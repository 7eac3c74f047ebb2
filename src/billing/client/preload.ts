// Preloading across the service boundary, both ways, as hash joins (the article's
// cache_billing_records and product_billing_records): one request for the whole batch, indexed by
// product gid, then each item is matched in memory — never one request (or query) per item.
import type { BillingClient, RecordsOptions } from './client-api.ts';
import type { BillingRecord, RecordField } from './records.ts';

/** Products → their billing records: one request per 1000 products. */
export async function withRecords<P, F extends RecordField = RecordField>(
  client: BillingClient,
  products: readonly P[],
  gidOf: (product: P) => string,
  options: RecordsOptions<F> = {},
): Promise<Array<{ product: P; records: Array<Pick<BillingRecord, F>> }>> {
  const byGid = await client.recordsForProducts(products.map(gidOf), options);
  return products.map((product) => ({ product, records: byGid.get(gidOf(product)) ?? [] }));
}

/**
 * Billing records → their products, loaded from the caller's own database with one call for
 * every distinct gid (`loadProducts` is e.g. `select … where gid = any($1)`); a record whose
 * product is missing gets undefined.
 */
export async function withProducts<R extends { productGid: string }, P>(
  records: readonly R[],
  loadProducts: (gids: string[]) => Promise<readonly P[]>,
  gidOf: (product: P) => string,
): Promise<Array<{ record: R; product: P | undefined }>> {
  const gids = [...new Set(records.map((r) => r.productGid))];
  const products = gids.length ? await loadProducts(gids) : [];
  const byGid = new Map(products.map((p) => [gidOf(p), p]));
  return records.map((record) => ({ record, product: byGid.get(record.productGid) }));
}
