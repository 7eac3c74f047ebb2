// GET routes for every list and retrieve endpoint in the spec.
import type { Router } from './api.ts';
import type { Emulator } from './context.ts';
import { noSuch } from './errors.ts';
import { renderList, renderObject } from './expand.ts';
import { listEntries, listUrl, NESTED_LINKS, type ListRoute } from './list-endpoints.ts';
import { search } from './search.ts';
import type { RetrieveEndpointSpec } from './spec.ts';
import { indexValue, type Entry } from './store.ts';

export function defineReadRoutes(router: Router, emu: Emulator): void {
  for (const route of emu.lists.values()) {
    // Lists computed from parameters (upcoming invoice lines) have their own routes.
    if (route.virtual) continue;
    if (route.spec.search) {
      router.define('GET', route.path, (call) => search(call.emu, route, call.params, call.expand));
      continue;
    }
    router.define('GET', route.path, (call) => {
      const page = listEntries(call.emu, route, { pathParams: call.pathParams, query: call.params });
      return renderList(call.emu, page.entries, page.hasMore, listUrl(route, call.pathParams), call.expand);
    });
  }
  for (const retrieve of emu.spec.retrieves) {
    router.define('GET', retrieve.path, (call) => {
      const found = findForRetrieve(call.emu, retrieve, call.pathParams);
      if ('deleted' in found) return JSON.stringify(found);
      return renderObject(call.emu, found, call.expand);
    });
  }
}

/** The object a retrieve path names, checked against its parent for nested paths. */
export function findForRetrieve(emu: Emulator, retrieve: RetrieveEndpointSpec, pathParams: Record<string, string>): Entry | { id: string; object: string; deleted: true } {
  const idParam = retrieve.pathParams[retrieve.pathParams.length - 1]!;
  const id = pathParams[idParam]!;
  const parentParam = retrieve.pathParams.length > 1 ? retrieve.pathParams[0]! : undefined;
  const parentId = parentParam ? pathParams[parentParam]! : undefined;
  let entry = emu.store.find(retrieve.objects, id);
  if (!entry && parentId) {
    // Ids that repeat across parents (capabilities) are stored under `parent/id`.
    for (const object of retrieve.objects) {
      for (const c of emu.store.holding(object)) entry ??= c.get(`${parentId}/${id}`);
    }
  }
  if (entry && parentId) {
    const listPath = retrieve.path.slice(0, retrieve.path.lastIndexOf('/'));
    const link = NESTED_LINKS(listPath);
    const field = link?.field ?? parentParam!;
    const linked = field === '$owner' ? entry.owner : field in entry.obj ? indexValue(entry, field) : parentId;
    if (linked !== parentId) entry = undefined;
  }
  if (entry) return entry;
  if (retrieve.allowsDeleted) {
    const stub = emu.store.deletedStub(retrieve.objects, id);
    if (stub) return stub as { id: string; object: string; deleted: true };
  }
  throw noSuch(retrieve.objects[0]!, id, 'id');
}

export type { ListRoute };
