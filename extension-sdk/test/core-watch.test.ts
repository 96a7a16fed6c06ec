import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreClient, watchCollection, type CollectionWatch } from '../src/index.js';
import { eventually, startTestCore, type TestCore } from '../../core/test/support/test-core.js';

// watchCollection against a real core, reached through a TCP relay the test can cut: events
// arrive in order, a dropped stream resumes from the last version without losing or repeating
// events, and a version the core no longer keeps (410) lists the collection again.

type ConfigMap = { metadata: { name: string; resourceVersion?: string }; data?: Record<string, string> };

/** A TCP relay to the core; `cut()` drops every connection and refuses new ones until `mend()`. */
async function relay(target: URL): Promise<{ url: string; cut(): Promise<void>; mend(): Promise<void>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () => new Promise<void>((resolve) => {
    server = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    server.listen(port, '127.0.0.1', () => {
      port = (server!.address() as { port: number }).port;
      resolve();
    });
  });
  const stop = () => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server!.close(() => resolve());
  });
  await listen();
  return { url: `http://127.0.0.1:${port}`, cut: stop, mend: listen, close: stop };
}

describe('watchCollection', () => {
  let t: TestCore;
  let r: Awaited<ReturnType<typeof relay>>;
  let w: CollectionWatch;
  const lists: string[][] = [];
  const events: string[] = [];
  const errors: string[] = [];
  const path = '/api/v1/namespaces/watched/configmaps';
  const create = (name: string) => t.api(path, { method: 'POST', json: { metadata: { name }, data: { v: '1' } } });

  beforeAll(async () => {
    // Few events kept: a watch down during a burst of writes cannot resume.
    t = await startTestCore({ inMemory: true, eventRetention: 10 });
    expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'watched' } } })).status).toBe(201);
    expect((await create('a1')).status).toBe(201);
    r = await relay(new URL(t.url));
    w = watchCollection<ConfigMap>(new CoreClient({ url: r.url, token: t.token }), path, {
      onList: (items) => void lists.push(items.map((i) => i.metadata.name).sort()),
      onEvent: (type, o) => void events.push(`${type} ${o.metadata.name}`),
      onError: (e) => void errors.push(e.message),
    }, { minRetryMs: 20, maxRetryMs: 200 });
  });
  afterAll(async () => {
    w?.stop();
    await r?.close().catch(() => undefined);
    await t?.close();
  });

  it('lists, then streams changes in order', async () => {
    await w.synced;
    expect(lists).toEqual([['a1']]);
    expect((await create('a2')).status).toBe(201);
    await t.api(`${path}/a1`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { data: { v: '2' } } });
    await t.api(`${path}/a2`, { method: 'DELETE' });
    await eventually(() => events.length >= 3, 5000, 'three events');
    expect(events).toEqual(['ADDED a2', 'MODIFIED a1', 'DELETED a2']);
  });

  it('resumes a stream the core ended from the last version: nothing lost, nothing repeated', async () => {
    events.length = 0;
    t.core.watches.closeAll();
    expect((await create('a3')).status).toBe(201);
    expect((await create('a4')).status).toBe(201);
    await eventually(() => events.length >= 2, 5000, 'events after the resume');
    expect(events).toEqual(['ADDED a3', 'ADDED a4']);
    expect(lists.length).toBe(1);
  });

  it('lists again when the connection was down longer than the core keeps events (410)', async () => {
    events.length = 0;
    await r.cut();
    for (let i = 0; i < 15; i++) expect((await create(`b${i}`)).status).toBe(201);
    // The store prunes its history every 1000 writes: write past that, 25 at a time.
    for (let i = 0; i < 1025; i += 25) {
      await Promise.all(Array.from({ length: 25 }, async (_, j) => {
        expect((await t.api(`${path}/b0`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { data: { n: String(i + j) } } })).status).toBe(200);
      }));
    }
    await r.mend();
    await eventually(() => lists.length === 2, 10_000, 'a second list');
    expect(lists[1]).toEqual(['a1', 'a3', 'a4', ...Array.from({ length: 15 }, (_, i) => `b${i}`)].sort());
    expect(errors.some((e) => /too old resource version/.test(e))).toBe(true);
    // And it streams again after the list.
    expect((await create('c1')).status).toBe(201);
    await eventually(() => events.includes('ADDED c1'), 5000, 'a stream after the list');
    expect(events).toEqual(['ADDED c1']);
  });
});
