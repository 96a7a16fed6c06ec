import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { storedListBody } from '../src/api/resource-handler.js';
import type { KindDefinition } from '../src/registry/kind.js';
import { KindRegistry } from '../src/registry/kind-registry.js';
import { ResourceService } from '../src/registry/resource-service.js';
import type { ListQuery } from '../src/registry/resource-types.js';
import { SchemaValidator } from '../src/registry/schema-validator.js';
import type { ValueCodec } from '../src/store/encryption-keys.js';
import type { KubeObject } from '../src/store/resource-store.js';
import { SqliteStore } from '../src/store/sqlite-store.js';

// Lists with selectors and pages answered from the stored rows a store keeps in memory
// (resource-list.ts listObjectsJson) must be exactly what the parsing path (listObjects) serves:
// the same items in the same order, the same continue tokens, pages that chain the same way,
// for any mix of label and field selectors, names, limits and tokens. A real SQLite store.

const widgets: KindDefinition = {
  group: 'test.mortise.io', version: 'v1', kind: 'Widget', listKind: 'WidgetList', plural: 'widgets', singular: 'widget',
  namespaced: true, schema: { type: 'object' }, subresources: {}, source: 'builtin',
};

const dirs: string[] = [];
const stores: SqliteStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(readCacheChars?: number, sealed = false): { store: SqliteStore; service: ResourceService } {
  const dir = mkdtempSync(join(tmpdir(), 'mortise-list-selection-'));
  dirs.push(dir);
  // One key: nothing is ever stale.
  const codec: ValueCodec = { seal: (s: string) => Buffer.from(s).toString('base64'), open: (s: string) => Buffer.from(s, 'base64').toString(), isStale: () => false };
  const store = new SqliteStore({ path: join(dir, 'store.db'), readCacheChars, ...(sealed ? { encrypted: { resources: ['test.mortise.io/widgets'], codec } } : {}) });
  stores.push(store);
  return { store, service: new ResourceService(store, new KindRegistry(), new SchemaValidator()) };
}

/** A small deterministic generator: the same objects and queries on every run. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

async function fill(store: SqliteStore, n: number, rnd: () => number): Promise<void> {
  const namespaces = ['ns-a', 'ns-b', 'ns-c'];
  for (let i = 0; i < n; i++) {
    const labels: Record<string, string> = {};
    if (rnd() < 0.8) labels.tier = `t${Math.floor(rnd() * 4)}`;
    if (rnd() < 0.5) labels.app = rnd() < 0.5 ? 'web' : 'db';
    const obj: KubeObject = {
      apiVersion: 'test.mortise.io/v1', kind: 'Widget',
      metadata: { name: `w-${Math.floor(rnd() * 1000)}-${i}`, namespace: namespaces[Math.floor(rnd() * namespaces.length)]!, labels, uid: `uid-${i}` },
      spec: { size: i, note: 'ünïcode ✓ "quoted"' },
    };
    await store.create({ group: widgets.group, resource: widgets.plural }, obj);
  }
}

const labelSelectors = [undefined, 'tier=t1', 'tier!=t2', 'tier in (t0,t3)', 'app', '!app', 'app=web,tier notin (t1)', 'tier=none'];
const fieldSelectors = [undefined, 'metadata.name!=w-1-1', 'metadata.namespace=ns-b', 'metadata.namespace!=ns-a'];

/** Every page of a list, each as the body the parsing path's page would be sent as (koa's JSON of the same shape). */
async function pagesBoth(service: ResourceService, namespace: string, q: ListQuery): Promise<{ stored: string[]; parsed: string[] }> {
  const stored: string[] = [];
  const parsed: string[] = [];
  let cont: string | undefined;
  for (let guard = 0; guard < 500; guard++) {
    const query = { ...q, continue: cont };
    const body = storedListBody(service, widgets, namespace, query);
    expect(body, 'a kept collection is answered from its rows').toBeDefined();
    const page = await service.list(widgets, namespace, query);
    stored.push(body!.toString());
    parsed.push(JSON.stringify({
      apiVersion: 'test.mortise.io/v1', kind: 'WidgetList',
      metadata: { resourceVersion: page.resourceVersion, ...(page.continue ? { continue: page.continue } : {}) },
      items: page.items,
    }));
    cont = page.continue;
    if (!cont) return { stored, parsed };
  }
  throw new Error('the pages did not end');
}

describe('lists with selectors and pages from the kept rows', () => {
  it('serve exactly what the parsing path serves, for every mix of selectors, names, limits and tokens', async () => {
    const { store, service } = open();
    const rnd = random(7);
    await fill(store, 120, rnd);
    const names = (await service.list(widgets, '', {})).items.map((o) => o.metadata.name!);
    let compared = 0;
    for (const namespace of ['', 'ns-a', 'ns-b']) {
      for (const labelSelector of labelSelectors) {
        for (const fieldSelector of fieldSelectors) {
          for (const limit of [undefined, 1, 7, 50, 500]) {
            const { stored, parsed } = await pagesBoth(service, namespace, { labelSelector, fieldSelector, limit });
            expect(stored).toEqual(parsed);
            compared += stored.length;
          }
        }
      }
      // A request that named one object (a watch or list authorized for it alone).
      for (const name of [names[3]!, names[90]!, 'w-nobody']) {
        const { stored, parsed } = await pagesBoth(service, namespace, { name, limit: 2 });
        expect(stored).toEqual(parsed);
      }
    }
    expect(compared).toBeGreaterThan(1000);
  });

  it('a token from another namespace, or one read before writes, pages as the parsing path does', async () => {
    const { store, service } = open();
    await fill(store, 60, random(11));
    const first = await service.list(widgets, 'ns-a', { limit: 3 });
    const foreign = await service.list(widgets, '', { limit: 25 });
    for (const [namespace, token] of [['ns-b', first.continue], ['ns-a', foreign.continue], ['', first.continue]] as const) {
      const q = { limit: 4, continue: token };
      const body = JSON.parse(storedListBody(service, widgets, namespace, q)!.toString()) as { metadata: { continue?: string }; items: KubeObject[] };
      const page = await service.list(widgets, namespace, q);
      expect(body.items).toEqual(page.items);
      expect(body.metadata.continue).toEqual(page.continue);
    }
    // Writes after a token was given: the next page is read from the rows as they are now.
    await fill(store, 30, random(12));
    await store.delete({ group: widgets.group, resource: widgets.plural, namespace: 'ns-a', name: first.items[0]!.metadata.name! });
    const { stored, parsed } = await pagesBoth(service, 'ns-a', { labelSelector: 'tier', limit: 5, continue: first.continue });
    expect(stored).toEqual(parsed);
  });

  it('a bad selector or token is refused as the parsing path refuses it', async () => {
    const { store, service } = open();
    await fill(store, 5, random(3));
    for (const q of [{ labelSelector: 'tier in (' }, { fieldSelector: 'spec.size=1' }, { limit: 2, continue: 'not-a-token' }] as ListQuery[]) {
      const stored = (() => { try { storedListBody(service, widgets, '', q); return 'answered'; } catch (e) { return (e as Error).message; } })();
      const parsed = await service.list(widgets, '', q).then(() => 'answered', (e: Error) => e.message);
      expect(stored).not.toBe('answered');
      expect(stored).toBe(parsed);
    }
  });

  it('a collection too big to keep, or a sealed one, is left to the parsing path, and read once until a write', async () => {
    const big = open(4000);
    await fill(big.store, 40, random(5));
    expect(storedListBody(big.service, widgets, '', { labelSelector: 'tier=t1' })).toBeUndefined();
    // The whole collection is still answered from its rows (read each time, as before).
    expect(JSON.parse(storedListBody(big.service, widgets, '', {})!.toString()).items).toHaveLength(40);
    const victim = (await big.service.list(widgets, 'ns-a', { limit: 1 })).items[0]!.metadata.name!;
    // Remembered as too big: asked again, the store does not read it to find out.
    let reads = 0;
    const listRaw = big.store.listRaw.bind(big.store);
    big.store.listRaw = (...args) => (reads++, listRaw(...args));
    expect(big.store.listRawKept({ group: widgets.group, resource: widgets.plural }, undefined)).toBeUndefined();
    expect(reads).toBe(0);
    // A write forgets it: the (still too big) collection is read again once.
    await big.store.delete({ group: widgets.group, resource: widgets.plural, namespace: 'ns-a', name: victim });
    expect(big.store.listRawKept({ group: widgets.group, resource: widgets.plural }, undefined)).toBeUndefined();
    expect(big.store.listRawKept({ group: widgets.group, resource: widgets.plural }, undefined)).toBeUndefined();
    expect(reads).toBe(1);

    const sealed = open(undefined, true);
    await fill(sealed.store, 5, random(5));
    expect(storedListBody(sealed.service, widgets, '', { labelSelector: 'tier' })).toBeUndefined();
    expect((await sealed.service.list(widgets, '', { labelSelector: 'tier' })).items.length).toBeGreaterThan(0);
  });

  it('a selection after a write shows the write (the rows are parsed again for their new version)', async () => {
    const { store, service } = open();
    await fill(store, 10, random(9));
    const ref = { group: widgets.group, resource: widgets.plural };
    const before = JSON.parse(storedListBody(service, widgets, '', { labelSelector: 'picked=yes' })!.toString()) as { items: KubeObject[] };
    expect(before.items).toHaveLength(0);
    // Asked again before the write: the same answer, kept for this version of the collection.
    expect(storedListBody(service, widgets, '', { labelSelector: 'picked=yes' })!.toString()).toBe(JSON.stringify(before));
    const one = (await service.list(widgets, '', {})).items[4]!;
    await store.update(ref, { ...one, metadata: { ...one.metadata, labels: { picked: 'yes' } } });
    const after = JSON.parse(storedListBody(service, widgets, '', { labelSelector: 'picked=yes' })!.toString()) as { items: KubeObject[] };
    expect(after.items.map((o) => o.metadata.name)).toEqual([one.metadata.name]);
  });
});
