import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCore, workspace, type TestCore } from './support/test-core.js';
import { jsonPatch, mergePatch, sleep, workspaces } from './support/k8s-helpers.js';

// Many clients at once against one object: optimistic concurrency must lose no update.
// client-node makes a new connection per request; over TLS, with client and server sharing
// this process, the handshakes dominate, so these clients use the core's plain-HTTP side of
// the same port (the quick-start address; the API is the same).

type Obj = { metadata: k8s.V1ObjectMeta & { name: string }; spec?: Record<string, unknown> };
const writers = 100;
/** Jittered exponential backoff, as client-go's retry.RetryOnConflict does (bounded). */
const backoff = (attempt: number) => sleep(Math.random() * (20 + Math.min(1000, 10 * 2 ** attempt)));

describe('concurrent writers', () => {
  let t: TestCore;
  let objects: k8s.CustomObjectsApi;
  const get = async (name: string) => (await objects.getClusterCustomObject({ ...workspaces, name })) as Obj;

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'plain', server: t.url, skipTLSVerify: true }], // client-node's switch for plain http
      users: [{ name: 'admin', token: t.token }],
      contexts: [{ name: 'plain', cluster: 'plain', user: 'admin' }],
      currentContext: 'plain',
    });
    objects = kc.makeApiClient(k8s.CustomObjectsApi);
  });
  afterAll(async () => t?.close());

  it(`${writers} read-modify-write loops with resourceVersion, retrying on 409, count to exactly ${writers}`, async () => {
    await objects.createClusterCustomObject({ ...workspaces, body: { ...workspace('counter'), metadata: { name: 'counter', annotations: { count: '0' } } } });
    let conflicts = 0;
    const written: number[] = [];
    const writer = async () => {
      for (let attempt = 0; attempt < 1000; attempt++) {
        const cur = await get('counter');
        const n = Number(cur.metadata.annotations?.count);
        try {
          await objects.replaceClusterCustomObject({
            ...workspaces, name: 'counter',
            body: { ...cur, metadata: { ...cur.metadata, annotations: { ...cur.metadata.annotations, count: String(n + 1) } } },
          });
          written.push(n + 1);
          return;
        } catch (e) {
          if (!(e instanceof k8s.ApiException) || e.code !== 409) throw e;
          conflicts++;
          await backoff(attempt);
        }
      }
      throw new Error('a writer never got its update in');
    };
    await Promise.all(Array.from({ length: writers }, writer));
    const final = await get('counter');
    expect(final.metadata.annotations?.count).toBe(String(writers));
    // Every successful write saw a different value: no two writers based themselves on the same version.
    expect([...written].sort((a, b) => a - b)).toEqual(Array.from({ length: writers }, (_, i) => i + 1));
    // The race was real: most writers had to retry.
    expect(conflicts).toBeGreaterThan(0);
  }, 120_000);

  it(`${writers} merge patches without resourceVersion all land (the server re-applies them on a race)`, async () => {
    await objects.createClusterCustomObject({ ...workspaces, body: workspace('merge-target') });
    await Promise.all(Array.from({ length: writers }, (_, i) =>
      objects.patchClusterCustomObject({ ...workspaces, name: 'merge-target', body: { metadata: { annotations: { [`writer-${i}`]: String(i) } } } }, mergePatch)));
    const final = await get('merge-target');
    const keys = Object.keys(final.metadata.annotations ?? {}).filter((k) => k.startsWith('writer-'));
    expect(keys).toHaveLength(writers);
    for (let i = 0; i < writers; i++) expect(final.metadata.annotations![`writer-${i}`]).toBe(String(i));
  });

  it(`${writers} JSON patches appending to a list all land`, async () => {
    await objects.createClusterCustomObject({ ...workspaces, body: { ...workspace('json-target'), metadata: { name: 'json-target', finalizers: ['example.com/base'] } } });
    await Promise.all(Array.from({ length: writers }, (_, i) =>
      objects.patchClusterCustomObject({ ...workspaces, name: 'json-target', body: [{ op: 'add', path: '/metadata/finalizers/-', value: `example.com/w${i}` }] }, jsonPatch)));
    const final = await get('json-target');
    expect(final.metadata.finalizers).toHaveLength(writers + 1);
    expect(new Set(final.metadata.finalizers).size).toBe(writers + 1);
    await objects.patchClusterCustomObject({ ...workspaces, name: 'json-target', body: { metadata: { finalizers: null } } }, mergePatch);
  });

  it('30 counters through JSON patch test-and-set, retrying on 422, count to exactly 30', async () => {
    await objects.createClusterCustomObject({ ...workspaces, body: { ...workspace('cas'), metadata: { name: 'cas', annotations: { count: '0' } } } });
    const writer = async () => {
      for (let attempt = 0; attempt < 1000; attempt++) {
        const n = Number((await get('cas')).metadata.annotations?.count);
        try {
          await objects.patchClusterCustomObject({ ...workspaces, name: 'cas', body: [
            { op: 'test', path: '/metadata/annotations/count', value: String(n) },
            { op: 'replace', path: '/metadata/annotations/count', value: String(n + 1) },
          ] }, jsonPatch);
          return;
        } catch (e) {
          if (!(e instanceof k8s.ApiException) || e.code !== 422) throw e;
          await backoff(attempt);
        }
      }
      throw new Error('a writer never got its update in');
    };
    await Promise.all(Array.from({ length: 30 }, writer));
    expect((await get('cas')).metadata.annotations?.count).toBe('30');
  }, 120_000);

  it(`${writers} creates of one name: exactly one wins, the rest are 409 AlreadyExists`, async () => {
    const results = await Promise.allSettled(Array.from({ length: writers }, (_, i) =>
      objects.createClusterCustomObject({ ...workspaces, body: workspace('race', { writer: String(i) }) })));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(writers - 1);
    for (const l of lost) {
      expect(l.reason).toBeInstanceOf(k8s.ApiException);
      expect((l.reason as k8s.ApiException<string>).code).toBe(409);
      expect(JSON.parse((l.reason as k8s.ApiException<string>).body).reason).toBe('AlreadyExists');
    }
    const winner = (won[0] as PromiseFulfilledResult<Obj>).value;
    expect((await get('race')).metadata.uid).toBe(winner.metadata.uid);
  });

  it(`${writers} creates with generateName get ${writers} different names`, async () => {
    const made = await Promise.all(Array.from({ length: writers }, () =>
      objects.createClusterCustomObject({ ...workspaces, body: { ...workspace(''), metadata: { generateName: 'many-' } } }) as Promise<Obj>));
    expect(new Set(made.map((m) => m.metadata.name)).size).toBe(writers);
    const list = (await objects.listClusterCustomObject({ ...workspaces })) as { items: Obj[] };
    expect(list.items.filter((i) => i.metadata.name.startsWith('many-'))).toHaveLength(writers);
  });

  it('concurrent deletes of one object: one deletes it, the others find it gone', async () => {
    await objects.createClusterCustomObject({ ...workspaces, body: workspace('doomed') });
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => objects.deleteClusterCustomObject({ ...workspaces, name: 'doomed' })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const notFound = results.filter((r) => r.status === 'rejected' && (r.reason as k8s.ApiException<string>).code === 404);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(ok.length + notFound.length).toBe(20);
  });
});
