import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestCore, type TestCore } from './support/test-core.js';
import { readWithin } from './support/streams.js';
import { tenantsOf } from './support/tenants.js';

// Security: a watch from an old resourceVersion replays the history of the namespace it names
// (100,000 events are kept). A namespace name is reused — deleted by one tenant, created again by
// another — and the new owner's watch from resourceVersion 1 replayed the old one's Secrets, values
// and all. History from before the namespace (this one) was created is now 410 Expired: the
// client lists again, as after a compaction.

const kapis = '/kapis/tenant.mortise.io/v1alpha1';

describe('a watch never replays an earlier namespace of the same name', () => {
  let t: TestCore;
  const { as, created, addUsers, addWorkspaces } = tenantsOf(() => t);

  /** The lines a watch sends within `ms` (it is then aborted). */
  async function watchLines(u: string, path: string, ms = 600): Promise<string[]> {
    const { status, text } = await readWithin((signal) => as(u)(path, { signal }), ms);
    expect(status, path).toBe(200);
    return text.split('\n').filter(Boolean);
  }

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    await addUsers('alice', 'bob');
    await addWorkspaces({ wsa: 'alice', wsb: 'bob' });
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
