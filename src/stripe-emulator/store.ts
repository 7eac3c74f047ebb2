// The in-memory store. Each collection keeps its entries sorted by (created, insertion order)
// ascending, so "newest first" reads from the end and an append is O(1); an id → entry map plus
// a binary search on (created, seq) finds any cursor in O(log n). Equality filters (customer=,
// subscription=, the hidden parent of invoice lines…) use indexes built on first use and kept
// up to date on writes. Stored objects are never mutated (writes replace them), so events, embedded
// lists and seeded clones can share sub-objects. An entry holds one form of its object: the parsed
// object until it is first served, then only its JSON (list pages are concatenations of it),
// parsed again on demand for writes, filters and expand. Keeping both forms doubled the memory of
// a million-object account. (JSON kept as Buffers was slower: each page then allocates its bytes
// outside the heap, which makes V8 collect the whole gigabyte heap far more often.)
import { invalid } from './errors.ts';
import type { JsonObject } from './spec.ts';

export interface SortKey {
  t: number;
  seq: number;
}

export interface EntryInit {
  id: string;
  key?: string;
  t: number;
  seq: number;
  obj: JsonObject;
  owner?: string;
  collection: Collection;
}

export class Entry implements SortKey {
  readonly id: string;
  /** Lookup key: the id, or `owner/id` where ids repeat across parents (capabilities). */
  readonly key: string;
  readonly t: number;
  readonly seq: number;
  /** The parent of a nested object with no field naming it (invoice lines, checkout items…). */
  readonly owner: string | undefined;
  readonly collection: Collection;
  /** The object's `object` value (it never changes), readable without parsing. */
  readonly type: string;
  #obj: JsonObject | undefined;
  #json: string | undefined;

  constructor(init: EntryInit) {
    this.id = init.id;
    this.key = init.key ?? init.id;
    this.t = init.t;
    this.seq = init.seq;
    this.owner = init.owner;
    this.collection = init.collection;
    this.type = String(init.obj.object);
    this.#obj = init.obj;
  }

  /** The object: shared while it is held parsed, a fresh parse of the JSON once it was served. */
  get obj(): JsonObject {
    return this.#obj ?? (JSON.parse(this.#json!) as JsonObject);
  }

  set obj(value: JsonObject) {
    this.#obj = value;
    this.#json = undefined;
  }

  /** The JSON, computed once; from then on it is the only copy kept. */
  get json(): string {
    if (this.#json === undefined) {
      this.#json = JSON.stringify(this.#obj);
      this.#obj = undefined;
    }
    return this.#json;
  }
}

export interface CreatedRange {
  gt?: number;
  gte?: number;
  lt?: number;
  lte?: number;
}

export interface PageQuery {
  limit: number;
  startingAfter?: SortKey;
  endingBefore?: SortKey;
  created?: CreatedRange;
  /** Use an equality index: only entries whose `name` value is `value`. */
  index?: { name: string; value: string };
  filter?: (entry: Entry) => boolean;
}

export interface Page {
  entries: Entry[];
  hasMore: boolean;
}

const cmp = (a: SortKey, b: SortKey) => a.t - b.t || a.seq - b.seq;

/** First index whose key is >= `key` (or > `key` when `strict`). */
function bound(arr: readonly Entry[], key: SortKey, strict: boolean): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = cmp(arr[mid]!, key);
    if (c < 0 || (strict && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose created time is >= t (or > t when `strict`). */
function boundT(arr: readonly Entry[], t: number, strict: boolean): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = arr[mid]!.t;
    if (v < t || (strict && v === t)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export const serialize = (entry: Entry): string => entry.json;

/** The value an equality index files an entry under. */
export function indexValue(entry: Entry, name: string, obj?: JsonObject): string {
  if (name === '$owner') return entry.owner ?? '\u0000';
  const v = (obj ?? entry.obj)[name];
  if (v === null || v === undefined) return '\u0000';
  if (typeof v === 'object') return String((v as { id?: unknown }).id ?? '\u0001');
  return String(v);
}

export class Collection {
  readonly name: string;
  /** `asc` for items with no creation time that Stripe lists in their natural order (lines). */
  readonly order: 'asc' | 'desc';
  private entries: Entry[] = [];
  private readonly byKey = new Map<string, Entry>();
  /** Sort keys of removed entries, so a cursor on a deleted object still pages. */
  private readonly gone = new Map<string, SortKey>();
  private readonly indexes = new Map<string, Map<string, Entry[]>>();
  private unsorted = false;

  constructor(name: string, order: 'asc' | 'desc' = 'desc') {
    this.name = name;
    this.order = order;
  }

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): Entry | undefined {
    return this.byKey.get(key);
  }

  /** Some live entry, chosen by `random` in [0, 1), without sorting (for seeding references). */
  any(random: number): Entry | undefined {
    return this.entries[Math.floor(random * this.entries.length)];
  }

  /** Every live entry, oldest first. */
  all(): readonly Entry[] {
    this.sort();
    return this.entries;
  }

  add(entry: Entry, bulk = false): void {
    if (this.byKey.has(entry.key)) throw new Error(`duplicate id ${entry.key} in ${this.name}`);
    this.byKey.set(entry.key, entry);
    const last = this.entries[this.entries.length - 1];
    if (!last || cmp(last, entry) < 0) {
      this.entries.push(entry);
    } else if (bulk || this.unsorted) {
      // Seeding adds out of order: sort once when first read instead of splicing each time.
      this.entries.push(entry);
      this.unsorted = true;
      this.indexes.clear();
      return;
    } else {
      this.entries.splice(bound(this.entries, entry, false), 0, entry);
    }
    if (this.indexes.size === 0) return;
    const obj = entry.obj;
    for (const [name, index] of this.indexes) insertSorted(bucket(index, indexValue(entry, name, obj)), entry);
  }

  /** Replaces an entry's object, moving it between index buckets when an indexed value changed. */
  replace(entry: Entry, obj: JsonObject): void {
    const previous = this.indexes.size ? entry.obj : undefined;
    entry.obj = obj;
    for (const [name, index] of this.indexes) {
      const old = indexValue(entry, name, previous);
      const now = indexValue(entry, name, obj);
      if (old === now) continue;
      removeSorted(index.get(old), entry);
      insertSorted(bucket(index, now), entry);
    }
  }

  remove(entry: Entry): void {
    this.sort();
    if (!this.byKey.delete(entry.key)) return;
    this.gone.set(entry.key, { t: entry.t, seq: entry.seq });
    removeSorted(this.entries, entry);
    const obj = this.indexes.size ? entry.obj : undefined;
    for (const [name, index] of this.indexes) removeSorted(index.get(indexValue(entry, name, obj)), entry);
  }

  /** Whether this key named an object that was deleted. */
  wasDeleted(key: string): boolean {
    return this.gone.has(key) && !this.byKey.has(key);
  }

  /** Where a `starting_after`/`ending_before` id sits, even after it was deleted. */
  cursor(key: string, param: string): SortKey {
    const found = this.byKey.get(key) ?? this.gone.get(key);
    if (!found) throw invalid(`No such ${this.name.replace(/^.*\./, '').replaceAll('_', ' ')}: '${key}'`, param, 'resource_missing');
    return { t: found.t, seq: found.seq };
  }

  /** The sorted entries whose `name` value is `value` (the index is built on first use). */
  indexed(name: string, value: string): readonly Entry[] {
    return this.buckets(name).get(value) ?? [];
  }

  /** The whole equality index on `name`: value → sorted entries. */
  buckets(name: string): ReadonlyMap<string, readonly Entry[]> {
    this.sort();
    let index = this.indexes.get(name);
    if (!index) {
      index = new Map();
      for (const entry of this.entries) bucket(index, indexValue(entry, name)).push(entry);
      this.indexes.set(name, index);
    }
    return index;
  }

  count(query: Omit<PageQuery, 'limit' | 'startingAfter' | 'endingBefore'>): number {
    const source = query.index ? this.indexed(query.index.name, query.index.value) : this.all();
    const [lo, hi] = range(source, query.created);
    if (!query.filter) return hi - lo;
    let n = 0;
    for (let i = lo; i < hi; i++) if (query.filter(source[i]!)) n++;
    return n;
  }

  page(query: PageQuery): Page {
    const source = query.index ? this.indexed(query.index.name, query.index.value) : this.all();
    let [lo, hi] = range(source, query.created);
    const filter = query.filter;
    const want = query.limit + 1;
    const found: Entry[] = [];
    // "forward" is the list's own order: newest first, or natural order for `asc` collections.
    const desc = this.order === 'desc';
    const backwards = query.endingBefore !== undefined;
    const cursor = query.startingAfter ?? query.endingBefore;
    if (cursor) {
      // Entries strictly before or after the cursor, in sort order.
      const below = desc !== backwards;
      if (below) hi = Math.min(hi, bound(source, cursor, false));
      else lo = Math.max(lo, bound(source, cursor, true));
    }
    const walkDown = desc !== backwards;
    if (walkDown) {
      for (let i = hi - 1; i >= lo && found.length < want; i--) {
        const e = source[i]!;
        if (!filter || filter(e)) found.push(e);
      }
    } else {
      for (let i = lo; i < hi && found.length < want; i++) {
        const e = source[i]!;
        if (!filter || filter(e)) found.push(e);
      }
    }
    const hasMore = found.length === want;
    if (hasMore) found.pop();
    // A backwards page holds the items closest to the cursor, still shown in list order.
    if (backwards) found.reverse();
    return { entries: found, hasMore };
  }

  private sort(): void {
    if (!this.unsorted) return;
    this.entries.sort(cmp);
    this.unsorted = false;
  }
}

function range(source: readonly Entry[], created: CreatedRange | undefined): [number, number] {
  let lo = 0;
  let hi = source.length;
  if (!created) return [lo, hi];
  const arr = source as Entry[];
  if (created.gte !== undefined) lo = Math.max(lo, boundT(arr, created.gte, false));
  if (created.gt !== undefined) lo = Math.max(lo, boundT(arr, created.gt, true));
  if (created.lt !== undefined) hi = Math.min(hi, boundT(arr, created.lt, false));
  if (created.lte !== undefined) hi = Math.min(hi, boundT(arr, created.lte, true));
  return [lo, Math.max(lo, hi)];
}

function bucket(index: Map<string, Entry[]>, value: string): Entry[] {
  let b = index.get(value);
  if (!b) index.set(value, (b = []));
  return b;
}

function insertSorted(arr: Entry[], entry: Entry): void {
  const last = arr[arr.length - 1];
  if (!last || cmp(last, entry) < 0) arr.push(entry);
  else arr.splice(bound(arr, entry, false), 0, entry);
}

function removeSorted(arr: Entry[] | undefined, entry: Entry): void {
  if (!arr) return;
  const i = bound(arr, entry, false);
  if (arr[i] === entry) arr.splice(i, 1);
}

export interface InsertOptions {
  /** Sort time; defaults to `obj.created`. */
  t?: number;
  owner?: string;
  key?: string;
  /** Out-of-order loading (seeding): sorted once on first read. */
  bulk?: boolean;
}

/** Collections of items with no creation time that Stripe lists in their natural order (lines). */
export const NATURAL_ORDER = new Set(['line_item', 'credit_note_line_item', 'checkout.session/line_items', 'payment_link/line_items', 'quote/line_items', 'quote/computed_upfront_line_items', 'tax.calculation_line_item', 'tax.transaction_line_item']);

export class Store {
  private readonly collections = new Map<string, Collection>();
  /** Which collections hold objects of each `object` type (several for cards: sources, external accounts). */
  private readonly holders = new Map<string, Set<Collection>>();
  private seq = 0;

  collection(name: string): Collection {
    let c = this.collections.get(name);
    if (!c) this.collections.set(name, (c = new Collection(name, NATURAL_ORDER.has(name) ? 'asc' : 'desc')));
    return c;
  }

  existing(name: string): Collection | undefined {
    return this.collections.get(name);
  }

  names(): string[] {
    return [...this.collections.keys()];
  }

  insert(collectionName: string, obj: JsonObject, options: InsertOptions = {}): Entry {
    const collection = this.collection(collectionName);
    const id = String(obj.id);
    const t = options.t ?? (typeof obj.created === 'number' ? obj.created : 0);
    const entry = new Entry({ id, key: options.key, t, seq: ++this.seq, obj, owner: options.owner, collection });
    collection.add(entry, options.bulk);
    const type = entry.type;
    let set = this.holders.get(type);
    if (!set) this.holders.set(type, (set = new Set()));
    set.add(collection);
    return entry;
  }

  /** Finds a live object by id among the collections holding any of these object types. */
  find(objects: readonly string[], id: string): Entry | undefined {
    for (const type of objects) {
      for (const collection of this.holders.get(type) ?? []) {
        const entry = collection.get(id);
        if (entry && entry.type === type) return entry;
      }
    }
    return undefined;
  }

  /** A `deleted: true` stub when this id named an object of these types that was deleted. */
  deletedStub(objects: readonly string[], id: string): JsonObject | undefined {
    for (const type of objects) {
      for (const collection of this.holders.get(type) ?? []) {
        if (collection.wasDeleted(id)) return { id, object: type, deleted: true };
      }
    }
    return undefined;
  }

  /** A random live object of this type (for seeding references), or undefined when none exists. */
  sample(type: string, random: () => number): Entry | undefined {
    for (const collection of this.holders.get(type) ?? []) {
      for (let i = 0; i < 8; i++) {
        const entry = collection.any(random());
        if (entry?.type === type) return entry;
      }
      const found = collection.all().find((e) => e.type === type);
      if (found) return found;
    }
    return undefined;
  }

  /** Collections holding objects of this type. */
  holding(type: string): Collection[] {
    return [...(this.holders.get(type) ?? [])];
  }
}
