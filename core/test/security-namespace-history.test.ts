import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, eventually, login, startTestCore, type TestCore } from './support/test-core.js';

// Security: a watch from an old resourceVersion replays the history of the namespace it names
// (100,000 events are kept). A namespace name is reused — deleted by one tenant, created again by
// another — and the new owner's watch from resourceVersion 1 replayed the old one's Secrets, values
// and all. History from before the namespace (this one) was created is now 410 Expired: the
// client lists again, as after a compaction.

const iam = '/apis/iam.mortise.io/v1alpha1';
const tenant = '/apis/tenant.mortise.io/v1alpha1';
const kapis = '/kapis/tenant.mortise.io/v1alpha1';

describe('a watch never replays an earlier namespace of the same name', () => {
  let t: TestCore;
  const tokens: Record<string, string> = {};
  const as = (u: string) => (path: string, init: RequestInit & { json?: unknown } = {}) => call(t.url, tokens[u], path, init);
  const created = async (path: string, body: unknown, u?: string) => {
    const res = u ? await as(u)(path, { method: 'POST', json: body }) : await t.api(path, { method: 'POST', json: body });
    expect(res.status, `${path}: ${await res.clone().text()}`).toBe(201);
    return (await res.json()) as { metadata: { resourceVersion: string } };
  };

  /** The lines a watch sends within `ms` (it is then aborted). */
  async function watchLines(u: string, path: string, ms = 600): Promise<string[]> {
    const ac = new AbortController();
    const res = await as(u)(path, { signal: ac.signal });
    expect(res.status, path).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const timer = setTimeout(() => ac.abort(), ms);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    } catch {
      // aborted
    } finally {
      clearTimeout(timer);
    }
    return text.split('\n').filter(Boolean);
  }

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    for (const u of ['alice', 'bob']) {
      await created(`${iam}/users`, { metadata: { name: u }, spec: { email: `${u}@example.com`, password: `${u}-Password-9x` } });
      tokens[u] = await login(t.url, u, `${u}-Password-9x`);
    }
    await created(`${tenant}/workspaces`, { metadata: { name: 'wsa' }, spec: { manager: 'alice' } });
    await created(`${tenant}/workspaces`, { metadata: { name: 'wsb' }, spec: { manager: 'bob' } });
    await eventually(async () => (await as('alice')(`${tenant}/workspaces/wsa`)).status === 200 && (await as('bob')(`${tenant}/workspaces/wsb`)).status === 200, 5000, 'managers bound');
  });
  afterAll(async () => t?.close());

  it('answers 410 for history from before the namespace was created, and replays its own', async () => {
    await created(`${kapis}/workspaces/wsb/namespaces`, { metadata: { name: 'reused' } }, 'bob');
    await eventually(async () => (await as('bob')('/api/v1/namespaces/reused/secrets')).status === 200, 5000, 'bob in reused');
    await created('/api/v1/namespaces/reused/secrets', { metadata: { name: 'bobs-secret' }, data: { k: 'Ym9icw==' } }, 'bob');
    expect((await as('bob')('/api/v1/namespaces/reused', { method: 'DELETE' })).status).toBe(200);
    await eventually(async () => (await t.api('/api/v1/namespaces/reused')).status === 404, 10_000, 'namespace gone');

    await created(`${kapis}/workspaces/wsa/namespaces`, { metadata: { name: 'reused' } }, 'alice');
    await eventually(async () => (await as('alice')('/api/v1/namespaces/reused/secrets')).status === 200, 5000, 'alice in reused');
    for (const query of ['watch=1&resourceVersion=1', 'watch=1&resourceVersion=1&fieldSelector=metadata.name%3Dbobs-secret']) {
      const lines = await watchLines('alice', `/api/v1/namespaces/reused/secrets?${query}`);
      expect(lines.join('\n')).not.toContain('bobs-secret');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });
    }

    // From a version of this namespace's own life, the replay is as always.
    const { metadata } = (await (await as('alice')('/api/v1/namespaces/reused/secrets')).json()) as { metadata: { resourceVersion: string } };
    await created('/api/v1/namespaces/reused/secrets', { metadata: { name: 'alices-secret' }, data: { k: 'YWxpY2U=' } }, 'alice');
    const own = await watchLines('alice', `/api/v1/namespaces/reused/secrets?watch=1&resourceVersion=${metadata.resourceVersion}`);
    expect(own.map((l) => (JSON.parse(l) as { type: string; object: { metadata: { name: string } } })).map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED alices-secret']);
  });
});
