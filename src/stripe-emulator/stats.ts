// GET /_emulator/stats: how many objects exist per resource, and how many a full walk of each
// list endpoint reaches (top-level and nested, summed over every parent), so a test can compare
// them with what a sync engine copied.
import type { Emulator } from './context.ts';
import { countReachable } from './list-endpoints.ts';

export interface EmulatorStats {
  /** Live objects by `object` type. */
  resources: Record<string, number>;
  /** Objects each top-level list endpoint returns when walked to the end with default filters. */
  lists: Record<string, number>;
  /** The same for nested list endpoints, summed over every parent. */
  nested: Record<string, number>;
  total: number;
}

export function collectStats(emu: Emulator): EmulatorStats {
  const resources: Record<string, number> = {};
  let total = 0;
  for (const name of emu.store.names()) {
    for (const entry of emu.store.collection(name).all()) {
      const type = entry.type;
      resources[type] = (resources[type] ?? 0) + 1;
      total++;
    }
  }
  const lists: Record<string, number> = {};
  const nested: Record<string, number> = {};
  for (const route of emu.lists.values()) {
    if (route.virtual || route.spec.search) continue;
    if (route.path === '/v1/events') {
      const since = emu.clock.now() - 30 * 86400;
      lists[route.path] = emu.store.collection('event').count({ created: { gte: since } });
      continue;
    }
    (route.link ? nested : lists)[route.path] = countReachable(emu, route);
  }
  const sorted = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
  return { resources: sorted(resources), lists: sorted(lists), nested: sorted(nested), total };
}
