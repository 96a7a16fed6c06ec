import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { KubeObject } from '../src/store/resource-store.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { StoredJsonCache } from '../src/store/stored-json-cache.js';

// The writer's cache of stored JSON: every read after a write sees the write, whatever was
// read (and cached) before it; a real SQLite file.

const widgets = { group: 'test.mortise.io', resource: 'widgets' };
const obj = (name: string, namespace: string, size: number): KubeObject => ({
  apiVersion: 'test.mortise.io/v1', kind: 'Widget', metadata: { name, namespace, uid: `uid-${name}-${namespace}` }, spec: { size },
});
const sizes = (rows: string[]) => rows.map((r) => (JSON.parse(r) as { spec: { size: number } }).spec.size);

const dirs: string[] = [];
const stores: SqliteStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(readCacheChars?: number): { store: SqliteStore; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mortise-read-cache-'));
  dirs.push(dir);
  const path = join(dir, 'store.db');
  const store = new SqliteStore({ path, readCacheChars });
  stores.push(store);
  return { store, path };
}

describe.each([['the default cache', undefined], ['a cache of a few characters', 400], ['no cache', 0]])('reads after writes, with %s', (_, chars) => {
  it('a GET and a LIST read before an update, a create and a delete show each of them', async () => {
    const { store } = open(chars);
    const a = await store.create(widgets, obj('a', 'ns1', 1));
    await store.create(widgets, obj('b', 'ns2', 2));
    const key = { ...widgets, namespace: 'ns1', name: 'a' };
    expect(JSON.parse(store.getRaw(key)!).spec.size).toBe(1);
    expect(sizes(store.listRaw(widgets, { namespace: 'ns1' }).rows)).toEqual([1]);
    expect(sizes(store.listRaw(widgets).rows)).toEqual([1, 2]);

    const updated = await store.update(widgets, { ...a, spec: { size: 10 } });
    expect(JSON.parse(store.getRaw(key)!).metadata.resourceVersion).toBe(updated.metadata.resourceVersion);
    expect(sizes(store.listRaw(widgets, { namespace: 'ns1' }).rows)).toEqual([10]);
    expect(sizes(store.listRaw(widgets).rows)).toEqual([10, 2]);

    await store.create(widgets, obj('c', 'ns1', 3));
    expect(sizes(store.listRaw(widgets, { namespace: 'ns1' }).rows)).toEqual([10, 3]);
    expect(sizes(store.listRaw(widgets).rows)).toEqual([10, 3, 2]);

    await store.delete(key);
    expect(store.getRaw(key)).toBeUndefined();
    expect(await store.get(key)).toBeUndefined();
    expect(sizes(store.listRaw(widgets, { namespace: 'ns1' }).rows)).toEqual([3]);
    expect(sizes(store.listRaw(widgets).rows)).toEqual([3, 2]);
  });

  it('a list served again carries the current resourceVersion, also after writes to another resource', async () => {
    const { store } = open(chars);
    await store.create(widgets, obj('a', 'ns1', 1));
    expect(store.listRaw(widgets).resourceVersion).toBe('1');
    await store.create({ group: 'test.mortise.io', resource: 'gadgets' }, obj('g', 'ns1', 1));
    const again = store.listRaw(widgets);
    expect(again.resourceVersion).toBe('2');
    expect(sizes(again.rows)).toEqual([1]);
  });

  it('a create refused in a batch of creates leaves what was read before it', async () => {
    const { store } = open(chars);
    await store.create(widgets, obj('a', 'ns1', 1));
    const key = { ...widgets, namespace: 'ns1', name: 'a' };
    expect(JSON.parse(store.getRaw(key)!).spec.size).toBe(1);
    const settled = await Promise.allSettled([store.create(widgets, obj('a', 'ns1', 99)), store.create(widgets, obj('b', 'ns1', 2))]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'fulfilled']);
    expect(JSON.parse(store.getRaw(key)!).spec.size).toBe(1);
    expect(sizes(store.listRaw(widgets, { namespace: 'ns1' }).rows)).toEqual([1, 2]);
  });

  it('a page of a collection (limit) is read from the file, not from a whole list read before', async () => {
    const { store } = open(chars);
    for (const n of ['a', 'b', 'c']) await store.create(widgets, obj(n, 'ns1', n.charCodeAt(0)));
    expect(store.listRaw(widgets, { namespace: 'ns1' }).rows).toHaveLength(3);
    const page = store.listRaw(widgets, { namespace: 'ns1', limit: 2 });
    expect(page.rows).toHaveLength(2);
    expect(page.last).toEqual({ namespace: 'ns1', name: 'b' });
  });
});

describe('StoredJsonCache', () => {
  it('keeps at most its budget, dropping the oldest entries first', () => {
    const cache = new StoredJsonCache(40);
    cache.setObject('r', 'ns', 'a', 'x'.repeat(10));
    cache.setObject('r', 'ns', 'b', 'y'.repeat(10));
    cache.setObject('r', 'ns', 'c', 'z'.repeat(10));
    cache.setObject('r', 'ns', 'd', 'w'.repeat(10));
    cache.setObject('r', 'ns', 'e', 'v'.repeat(10));
    expect(cache.getObject('r', 'ns', 'a')).toBeUndefined();
    expect(cache.getObject('r', 'ns', 'e')).toBe('v'.repeat(10));
    // Larger than a quarter of the budget: not kept.
    cache.setObject('r', 'ns', 'big', 'b'.repeat(11));
    expect(cache.getObject('r', 'ns', 'big')).toBeUndefined();
  });

  it('forgets an object with its namespace\'s list and the all-namespaces list, not other namespaces\' lists', () => {
    const cache = new StoredJsonCache(1000);
    cache.setObject('r', 'ns1', 'a', '{}');
    cache.setList('r', 'ns1', ['{}']);
    cache.setList('r', 'ns2', ['{}']);
    cache.setList('r', undefined, ['{}', '{}']);
    cache.forget('r', 'ns1', 'a');
    expect(cache.getObject('r', 'ns1', 'a')).toBeUndefined();
    expect(cache.getList('r', 'ns1')).toBeUndefined();
    expect(cache.getList('r', undefined)).toBeUndefined();
    expect(cache.getList('r', 'ns2')).toEqual(['{}']);
  });
});
