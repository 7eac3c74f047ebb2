// Paging over computed lists (the upcoming invoice's lines, a credit note preview's lines), which
// live in no collection: the same limit / starting_after / ending_before rules as stored lists,
// in the list's natural order.
import type { Emulator } from '../context.ts';
import { invalid, StripeError } from '../errors.ts';
import { expandObject, type ExpandTree } from '../expand.ts';
import type { Params } from '../params.ts';
import type { JsonObject } from '../spec.ts';

export function pageOf(items: readonly JsonObject[], params: Params): { data: JsonObject[]; hasMore: boolean } {
  const limit = (params.limit as number | undefined) ?? 10;
  if (limit < 1 || limit > 100) throw invalid(`This value must be ${limit < 1 ? 'greater than or equal to 1' : 'less than or equal to 100'}.`, 'limit', 'parameter_invalid_integer');
  if (params.starting_after !== undefined && params.ending_before !== undefined) throw invalid('You may only specify one of these parameters: ending_before, starting_after.', 'ending_before');
  const find = (id: unknown, param: string) => {
    const i = items.findIndex((o) => o.id === id);
    if (i < 0) throw new StripeError(400, `No such line item: '${String(id)}'`, { code: 'resource_missing', param });
    return i;
  };
  if (params.ending_before !== undefined) {
    const end = find(params.ending_before, 'ending_before');
    const start = Math.max(0, end - limit);
    return { data: items.slice(start, end), hasMore: start > 0 };
  }
  const start = params.starting_after === undefined ? 0 : find(params.starting_after, 'starting_after') + 1;
  return { data: items.slice(start, start + limit), hasMore: start + limit < items.length };
}

/** A list response over computed items. */
export function renderVirtualList(emu: Emulator, items: readonly JsonObject[], params: Params, url: string, expand: ExpandTree | undefined): string {
  const page = pageOf(items, params);
  let data = page.data;
  if (expand) {
    for (const key of expand.keys()) if (key !== 'data') throw invalid(`This property cannot be expanded (${key}).`, 'expand');
    const sub = expand.get('data')!;
    data = data.map((o) => expandObject(emu, o, sub, 'data'));
  }
  return JSON.stringify({ object: 'list', data, has_more: page.hasMore, url });
}
