// Stripe's form encoding (bodies and query strings): `metadata[foo]=bar`, `items[0][price]=…`,
// `expand[]=…`, `a[][b]=…`. Numeric or empty brackets make arrays, ordered by index; anything
// else makes objects. Values stay strings: params.ts coerces them against the spec.
import { invalid } from './errors.ts';

export type FormValue = string | FormValue[] | { [key: string]: FormValue };
export type FormObject = { [key: string]: FormValue };

/** An array while parsing: indexes may come in any order, `[]` appends. */
class Slots {
  readonly byIndex = new Map<number, Node>();
  next = 0;
}
type Node = string | Slots | Map<string, Node>;

const MAX_DEPTH = 12;

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    throw invalid(`Invalid URL encoding in ${JSON.stringify(text.slice(0, 100))}`);
  }
}

function splitKey(key: string): string[] {
  const open = key.indexOf('[');
  if (open <= 0) return [key];
  const parts = [key.slice(0, open)];
  const re = /\[([^\]]*)\]/y;
  re.lastIndex = open;
  let match: RegExpExecArray | null;
  while ((match = re.exec(key))) {
    parts.push(match[1]!);
    if (re.lastIndex === key.length) return parts;
  }
  throw invalid(`Invalid parameter name: ${key}`, key);
}

const isIndex = (segment: string) => segment === '' || /^\d{1,6}$/.test(segment);

export function parseForm(text: string): FormObject {
  const root = new Map<string, Node>();
  if (!text) return {};
  for (const pair of text.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const key = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decode(pair.slice(eq + 1));
    const path = splitKey(key);
    if (path.length > MAX_DEPTH) throw invalid(`Parameter nesting too deep: ${key}`, key);
    insert(root, path, value, key);
  }
  return finish(root) as FormObject;
}

function insert(root: Map<string, Node>, path: string[], value: string, key: string): void {
  let container: Slots | Map<string, Node> = root;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    const last = i === path.length - 1;
    const nextIsIndex = !last && isIndex(path[i + 1]!);
    if (container instanceof Slots) {
      if (!isIndex(segment)) throw invalid(`Invalid array parameter: ${key}`, key);
      let index: number;
      if (segment === '') {
        // `a[][b]=1&a[][c]=2` builds one element until a key repeats (as Rack and qs do).
        const lastIndex = container.next - 1;
        const lastNode = container.byIndex.get(lastIndex);
        const child = path[i + 1];
        index = !last && lastNode instanceof Map && child !== undefined && !lastNode.has(child) ? lastIndex : container.next;
      } else {
        index = Number(segment);
      }
      container.next = Math.max(container.next, index + 1);
      const next: Slots | Map<string, Node> | undefined = step(container.byIndex, index, last, nextIsIndex, value, key);
      if (last) return;
      container = next!;
    } else {
      const next: Slots | Map<string, Node> | undefined = step(container, segment, last, nextIsIndex, value, key);
      if (last) return;
      container = next!;
    }
  }
}

function step<K>(map: Map<K, Node>, k: K, last: boolean, nextIsIndex: boolean, value: string, key: string): Slots | Map<string, Node> | undefined {
  const existing = map.get(k);
  if (last) {
    if (existing !== undefined && typeof existing !== 'string') throw invalid(`Conflicting values for parameter ${key}`, key);
    map.set(k, value); // a repeated scalar keeps the last value, like Stripe
    return undefined;
  }
  if (existing === undefined) {
    const created = nextIsIndex ? new Slots() : new Map<string, Node>();
    map.set(k, created);
    return created;
  }
  if (typeof existing === 'string') throw invalid(`Conflicting values for parameter ${key}`, key);
  // An existing object keeps numeric keys as object keys (`a[foo]=1&a[0]=2`).
  return existing;
}

function finish(node: Node): FormValue {
  if (typeof node === 'string') return node;
  if (node instanceof Slots) {
    return [...node.byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => finish(v));
  }
  const out: FormObject = {};
  for (const [k, v] of node) out[k] = finish(v);
  return out;
}

/** The query string of a raw request URL, without the `?`. */
export function rawQuery(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? '' : url.slice(q + 1);
}
