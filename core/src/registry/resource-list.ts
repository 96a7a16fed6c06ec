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
 * A list's items as JSON (UTF-8) straight from the store's rows, when the kind shows what it stores
 * (no write-only fields to hide): a whole collection as the store gives it; a selection or a page
 * of one the store keeps in memory, chosen as `listObjects` chooses (the same selectors, order and
 * continue tokens) from the rows' names and labels, read once per version of the collection. The
 * stored rows are the items: nothing is parsed again or serialised. Undefined otherwise (a sealed
 * collection, one too big to keep, a store that keeps no JSON).
 */
export function listObjectsJson(svc: ResourceService, def: KindDefinition, namespace: string, q: ListQuery): { items: Buffer; resourceVersion: string; continue?: string } | undefined {
  if (!svc.store.listRaw || def.strategy?.toExternal) return undefined;
  const ns = def.namespaced && namespace ? namespace : undefined;
  if (!q.labelSelector && !q.fieldSelector && q.name === undefined && !q.limit && !q.continue) {
    const raw = svc.store.listRaw(svc.ref(def), { namespace: ns });
    let items = encoded.get(raw.rows);
    if (items === undefined) encoded.set(raw.rows, (items = Buffer.from(`[${raw.rows.join(',')}]`)));
    return { items, resourceVersion: raw.resourceVersion };
  }
  const raw = svc.store.listRawKept?.(svc.ref(def), ns);
  if (!raw) return undefined;
  // Only a question that was answered is kept: one asked again needs no checking.
  const asked = `${ns ?? ''}\0${q.labelSelector ?? ''}\0${q.fieldSelector ?? ''}\0${q.name ?? '\0'}\0${q.limit ?? ''}\0${q.continue ?? ''}`;
  const again = selections.get(raw.rows)?.answers.get(asked);
  if (again) return { ...again, resourceVersion: raw.resourceVersion };
  // A bad selector or token is refused as listObjects refuses it.
  const labels = parseLabelSelector(q.labelSelector);
  const fields = [...parseFieldSelector(q.fieldSelector), ...nameScope(q.name)];
  const after = q.continue ? decodeContinue(q.continue) : undefined;
  const keys = keysOf(raw.rows);
  const limit = q.limit && q.limit > 0 ? q.limit : undefined;
  const chosen: string[] = [];
  let last: RowKey | undefined;
  let more = false;
  const past = pastOf(after, ns);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if ((past && !past(k)) || !matchesLabels(labels, k.metadata.labels) || !matchesFields(fields, k as KubeObject)) continue;
    if (limit && chosen.length === limit) {
      more = true;
      break;
    }
    chosen.push(raw.rows[i]!);
    last = k;
  }
  const answer = {
    items: Buffer.from(`[${chosen.join(',')}]`),
    ...(more && last ? { continue: encodeContinue({ namespace: last.metadata.namespace ?? '', name: last.metadata.name }) } : {}),
  };
  remember(raw.rows, asked, answer);
  return { ...answer, resourceVersion: raw.resourceVersion };
}

/**
 * A store serves the same rows again (its read cache) until a write to them: joined and encoded
 * once, and sent as bytes (a string body is measured, then encoded, on every response).
 */
const encoded = new WeakMap<string[], Buffer>();

/**
 * Selections answered from a version of a kept collection, for the same question asked again
 * before a write (a console page's poll, kubectl's pages): bounded by the collection's own size.
 */
const selections = new WeakMap<string[], { answers: Map<string, { items: Buffer; continue?: string }>; bytes: number; budget: number }>();

function remember(rows: string[], asked: string, answer: { items: Buffer; continue?: string }): void {
  let kept = selections.get(rows);
  if (!kept) {
    let budget = 64 * 1024;
    for (const r of rows) budget += r.length;
    selections.set(rows, (kept = { answers: new Map(), bytes: 0, budget }));
  }
  if (kept.bytes + answer.items.length > kept.budget) {
    kept.answers.clear();
    kept.bytes = 0;
  }
  kept.answers.set(asked, answer);
  kept.bytes += answer.items.length + asked.length;
}

/** What a selection reads of a row: its name, namespace and labels (the only fields a list selects on). */
interface RowKey {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
}

/** The rows' keys, parsed once per version of a kept collection (the store hands the same array until a write). */
const rowKeys = new WeakMap<string[], RowKey[]>();

function keysOf(rows: string[]): RowKey[] {
  let keys = rowKeys.get(rows);
  if (keys) return keys;
  keys = rows.map((row) => {
    const m = (JSON.parse(row) as KubeObject).metadata;
    return { metadata: { name: m.name ?? '', namespace: m.namespace, labels: m.labels } };
  });
  rowKeys.set(rows, keys);
  return keys;
}

/**
 * Whether a row comes after a page's last (its continue token) as the store's reads compare them:
 * a namespace's list goes on after the name only when the token is from that namespace.
 */
function pastOf(after: { namespace: string; name: string } | undefined, namespace: string | undefined): ((k: RowKey) => boolean) | undefined {
  if (!after) return undefined;
  if (namespace !== undefined) return after.namespace !== namespace ? undefined : (k) => k.metadata.name > after.name;
  return (k) => {
    const ns = k.metadata.namespace ?? '';
    return ns > after.namespace || (ns === after.namespace && k.metadata.name > after.name);
  };
}

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
