import type { KubeObject } from '../store/resource-store.js';
import { badRequest } from '../api/status.js';
import {
  formatFieldSelector, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector, type FieldSelector,
} from '../api/selectors.js';
import type { KindDefinition } from './kind.js';
import type { ResourceService } from './resource-service.js';
import type { ListPage, ListQuery } from './resource-types.js';
import { toApiError } from './store-errors.js';

/**
 * A list with label and field selectors and limit/continue paging: pushed down to a store that
 * selects itself (a cluster), else over the store's pages.
 */
export async function listObjects(svc: ResourceService, def: KindDefinition, namespace: string, q: ListQuery = {}): Promise<ListPage> {
  const labels = parseLabelSelector(q.labelSelector);
  const fields = [...parseFieldSelector(q.fieldSelector), ...nameScope(q.name)];
  const limit = q.limit && q.limit > 0 ? q.limit : undefined;
  const matches = (o: KubeObject) => matchesLabels(labels, o.metadata.labels) && matchesFields(fields, o);
  const selected = svc.store.selectPage?.(svc.ref(def), {
    namespace: def.namespaced && namespace ? namespace : undefined,
    labelSelector: q.labelSelector?.trim() || undefined,
    fieldSelector: fields.length ? formatFieldSelector(fields) : undefined,
    limit,
    continue: q.continue || undefined,
  });
  if (selected) {
    let page;
    try {
      page = await selected;
    } catch (e) {
      throw toApiError(e, def, '');
    }
    // Checked again here: what is served is never wider than what was asked and authorized.
    const items = page.items.filter(matches).map((o) => svc.external(def, o));
    return { items, resourceVersion: page.resourceVersion, ...(page.continue ? { continue: page.continue } : {}) };
  }
  let after = q.continue ? decodeContinue(q.continue) : undefined;
  const items: KubeObject[] = [];
  let resourceVersion = '';
  let more = false;
  // Selectors filter after reading, so read in batches until the page is full.
  for (;;) {
    const batch = limit ? Math.max(limit * 2, 100) : undefined;
    const res = await svc.store.list(svc.ref(def), { namespace: def.namespaced && namespace ? namespace : undefined, after, limit: batch });
    resourceVersion ||= res.resourceVersion;
    let i = 0;
    for (; i < res.items.length; i++) {
      const o = res.items[i]!;
      if (!matches(o)) continue;
      if (limit && items.length === limit) {
        more = true;
        break;
      }
      items.push(svc.external(def, o));
    }
    if (more || !res.last) {
      if (more) {
        const lastItem = items[items.length - 1]!;
        after = { namespace: lastItem.metadata.namespace ?? '', name: lastItem.metadata.name! };
      }
      break;
    }
    after = res.last;
  }
  return { items, resourceVersion, ...(more && after ? { continue: encodeContinue(after) } : {}) };
}

/**
 * A whole, unfiltered list's items as JSON (UTF-8) straight from the store, when nothing needs to
 * be parsed (no selectors, no paging, no write-only fields to hide); undefined otherwise.
 */
export function listObjectsJson(svc: ResourceService, def: KindDefinition, namespace: string, q: ListQuery): { items: Buffer; resourceVersion: string } | undefined {
  if (!svc.store.listRaw || def.strategy?.toExternal || q.labelSelector || q.fieldSelector || q.name !== undefined || q.limit || q.continue) return undefined;
  const raw = svc.store.listRaw(svc.ref(def), { namespace: def.namespaced && namespace ? namespace : undefined });
  let items = encoded.get(raw.rows);
  if (items === undefined) encoded.set(raw.rows, (items = Buffer.from(`[${raw.rows.join(',')}]`)));
  return { items, resourceVersion: raw.resourceVersion };
}

/**
 * A store serves the same rows again (its read cache) until a write to them: joined and encoded
 * once, and sent as bytes (a string body is measured, then encoded, on every response).
 */
const encoded = new WeakMap<string[], Buffer>();

/** A request that named one object (and was authorized for it alone) selects that name. */
export function nameScope(name: string | undefined): FieldSelector {
  return name === undefined ? [] : [{ field: 'metadata.name', value: name, equal: true }];
}

function encodeContinue(after: { namespace: string; name: string }): string {
  return Buffer.from(JSON.stringify({ v: 1, ns: after.namespace, n: after.name })).toString('base64url');
}

function decodeContinue(token: string): { namespace: string; name: string } {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v: number; ns: string; n: string };
    if (parsed.v !== 1 || typeof parsed.ns !== 'string' || typeof parsed.n !== 'string') throw new Error('shape');
    return { namespace: parsed.ns, name: parsed.n };
  } catch {
    throw badRequest('the continue token is not valid: pass back exactly the metadata.continue of the previous page');
  }
}
