// Cutting a list endpoint into `created` ranges so a large table is paginated by many workers at
// once. Stripe lists newest first, so a segment [gte, lt) is walked downward with starting_after;
// its cursor (`cursorCreated`) moves toward `gte`. Work is split where it remains: when workers
// are idle, the segment with the most rows left gives the lower half of its remaining range,
// [gte, m), to a new segment and keeps [m, cursor]. No range is ever covered twice or skipped:
// the split moves one boundary in one transaction, and a page that was in flight when its
// segment shrank drops the items below the new bound (the new segment owns them).
import type { Params } from './stripe-client.ts';
import type { ListPage } from './stripe-client.ts';

export interface Segment {
  job: string;
  segment: number;
  /** created >= gte and created < lt (unix seconds); null = unbounded. */
  gte: number | null;
  lt: number | null;
  /** Last object written (list segments) or last parent done (parent segments). */
  startingAfter: string | null;
  cursorCreated: number | null;
  parentAfter: string | null;
  parentLast: string | null;
  done: boolean;
  rows: number;
  requests: number;
  /** In memory only: created of the first item this process saw in the segment, for density. */
  firstCreated?: number;
  rowsSeen?: number;
  active?: boolean;
}

export function newSegment(job: string, segment: number, init: Partial<Segment> = {}): Segment {
  return { job, segment, gte: null, lt: null, startingAfter: null, cursorCreated: null, parentAfter: null, parentLast: null, done: false, rows: 0, requests: 0, ...init };
}

/** Query parameters for the next page of a list segment. */
export function pageParams(seg: Segment, limit = 100, paginated = true): Params {
  if (!paginated) return {};
  const created: Record<string, number> = {};
  if (seg.gte !== null) created.gte = seg.gte;
  if (seg.lt !== null) created.lt = seg.lt;
  return {
    limit,
    ...(Object.keys(created).length ? { created } : {}),
    ...(seg.startingAfter ? { starting_after: seg.startingAfter } : {}),
  };
}

/** Rows likely left in a segment, from the density it has shown; undefined when unknown. */
export function remainingEstimate(seg: Segment): number | undefined {
  if (seg.done || seg.gte === null || seg.cursorCreated === null || seg.firstCreated === undefined || !seg.rowsSeen) return undefined;
  const covered = Math.max(1, seg.firstCreated - seg.cursorCreated);
  return ((seg.cursorCreated - seg.gte) * seg.rowsSeen) / covered;
}

/** Where to cut a segment's remaining range: gte < m <= cursorCreated, or undefined when too small. */
export function splitPoint(seg: Segment, minSeconds = 2): number | undefined {
  if (seg.done || seg.gte === null || seg.cursorCreated === null) return undefined;
  if (seg.cursorCreated - seg.gte < minSeconds) return undefined;
  return Math.floor((seg.gte + seg.cursorCreated) / 2) + 1;
}

/**
 * A lower bound for the `created` of the oldest object of a list: nothing is older than the
 * returned time, and the oldest object is at most ~1/32 of the span above it. Gallops down from
 * the oldest object seen (doubling steps), then bisects; each probe is one `limit=1` request,
 * about 15 for an account years old.
 */
export async function probeOldest(list: (params: Params) => Promise<ListPage>, oldestSeen: number, createdField = 'created', hint?: number): Promise<number> {
  let hi = oldestSeen; // an object exists at hi
  let step = 3600;
  let lo: number | undefined;
  // Another list of the account found its bottom: most lists start about then. One request checks.
  if (hint !== undefined && hint < hi) {
    const page = await list({ limit: 1, created: { lt: hint } });
    const item = page.data[0];
    if (!item) lo = hint;
    else hi = Math.min(hi, Number(item[createdField]));
  }
  while (lo === undefined) {
    const x = hi - step;
    if (x <= 0) {
      lo = 0;
      break;
    }
    const page = await list({ limit: 1, created: { lt: x } });
    const item = page.data[0];
    if (!item) {
      lo = x;
      break;
    }
    hi = Number(item[createdField]);
    step *= 2;
  }
  const bottom = lo;
  let low = bottom;
  const precision = (span: number) => Math.max(60, Math.floor(span / 32));
  while (hi - low > precision(oldestSeen - low)) {
    const mid = Math.floor((low + hi) / 2);
    const page = await list({ limit: 1, created: { lt: mid } });
    const item = page.data[0];
    if (!item) low = mid;
    else hi = Number(item[createdField]);
  }
  return low;
}
