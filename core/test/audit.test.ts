import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../src/audit/audit-log.js';
import { SqliteAuditLog } from '../src/audit/sqlite-audit-log.js';
import { adminPassword, call, login, startTestCore, type TestCore } from './support/test-core.js';

// The audit log: what is recorded (mutations, denials, logins; not reads), the query API with
// its filters and paging, the JSON-lines export, who may read it, retention and flushing.

const eventsPath = '/kapis/audit.mortise.io/v1alpha1/events';
const rolesPath = (ns: string) => `/apis/iam.mortise.io/v1alpha1/namespaces/${ns}/roles`;
const role = (ns: string, name: string, verbs = ['get']) => ({
  apiVersion: 'iam.mortise.io/v1alpha1', kind: 'Role', metadata: { name, namespace: ns },
  rules: [{ apiGroups: [''], resources: ['configmaps'], verbs }],
});
const bobPassword = 'bob-Secret-8e2f1c';
const wrongPassword = 'not-bobs-Pw-71ad';
const shortPassword = 'pw-Zq7';

type EventList = { apiVersion: string; kind: string; metadata: { continue?: string }; items: AuditEvent[] };

describe('audit log', () => {
  let t: TestCore;
  let bob: string;
  const api = (path: string, init: RequestInit & { json?: unknown } = {}, token?: string) => call(t.url, token ?? t.token, path, init);
  const events = async (query: Record<string, string> = {}, token?: string): Promise<EventList> => {
    const res = await api(`${eventsPath}?${new URLSearchParams(query)}`, {}, token);
    expect(res.status).toBe(200);
    return (await res.json()) as EventList;
  };
  const createNs = async (name: string) => expect((await api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name } } })).status).toBe(201);

  beforeAll(async () => {
    t = await startTestCore();
    const res = await api('/apis/iam.mortise.io/v1alpha1/users', {
      method: 'POST', json: { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'User', metadata: { name: 'bob' }, spec: { email: 'bob@example.com', password: bobPassword } },
    });
    expect(res.status).toBe(201);
    bob = await login(t.url, 'bob', bobPassword);
    await createNs('audit-a');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('records a create, an update, a patch, a delete and a failed create with user, verb, objectRef and code', async () => {
    const created = await api(rolesPath('audit-a'), { method: 'POST', json: role('audit-a', 'r1') });
    expect(created.status).toBe(201);
    const auditId = created.headers.get('audit-id');
    expect(auditId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await api(`${rolesPath('audit-a')}/r1`, { method: 'PUT', json: role('audit-a', 'r1', ['get', 'list']) })).status).toBe(200);
    expect((await api(`${rolesPath('audit-a')}/r1`, {
      method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { metadata: { labels: { a: 'b' } } },
    })).status).toBe(200);
    expect((await api(`${rolesPath('audit-a')}/r1`, { method: 'DELETE' })).status).toBe(200);
    const invalid = await api('/apis/iam.mortise.io/v1alpha1/users', {
      method: 'POST', json: { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'User', metadata: { name: 'shorty' }, spec: { password: shortPassword } },
    });
    expect(invalid.status).toBe(422);

    const roleEvents = (await events({ namespace: 'audit-a', resource: 'roles' })).items;
    expect(roleEvents.map((e) => [e.verb, e.responseStatus.code])).toEqual([['delete', 200], ['patch', 200], ['update', 200], ['create', 201]]);
    for (const e of roleEvents) {
      expect(e.user.username).toBe('admin');
      expect(e.stage).toBe('ResponseComplete');
      expect(e.objectRef).toEqual({ apiGroup: 'iam.mortise.io', apiVersion: 'v1alpha1', resource: 'roles', namespace: 'audit-a', name: 'r1' });
      expect(e.annotations?.decision).toBe('allow');
      expect(e.sourceIPs).toEqual(['127.0.0.1']);
      expect(Date.parse(e.stageTimestamp)).toBeGreaterThanOrEqual(Date.parse(e.requestReceivedTimestamp));
    }
    const create = roleEvents[3]!;
    expect(create.auditID).toBe(auditId);
    expect(create.requestURI).toBe(rolesPath('audit-a'));
    // The Audit-ID a response carries finds its event.
    const one = await api(`${eventsPath}/${auditId}`);
    expect(one.status).toBe(200);
    expect(((await one.json()) as AuditEvent).verb).toBe('create');
    expect((await api(`${eventsPath}/00000000-0000-0000-0000-000000000000`)).status).toBe(404);

    const [failed] = (await events({ resource: 'users', name: 'shorty' })).items;
    expect(failed).toMatchObject({
      verb: 'create', user: { username: 'admin' }, responseStatus: { code: 422, reason: 'Invalid' },
      objectRef: { apiGroup: 'iam.mortise.io', resource: 'users', name: 'shorty' },
    });
  });

  it('records an anonymous request to a protected route (401) and a forbidden one (403)', async () => {
    expect((await call(t.url, undefined, '/apis/iam.mortise.io/v1alpha1/users')).status).toBe(401);
    expect((await call(t.url, 'not-a-token', '/api/v1/namespaces/audit-a')).status).toBe(401);
    expect((await api('/apis/iam.mortise.io/v1alpha1/users', {}, bob)).status).toBe(403);
    expect((await api(rolesPath('audit-a'), { method: 'POST', json: role('audit-a', 'bobs') }, bob)).status).toBe(403);

    const unauthorized = (await events({ code: '401' })).items;
    expect(unauthorized.map((e) => [e.verb, e.objectRef?.resource, e.user.username])).toEqual([
      ['get', 'namespaces', 'system:anonymous'], ['list', 'users', 'system:anonymous'],
    ]);
    expect(unauthorized[0]!.responseStatus.reason).toBe('Unauthorized');
    expect(unauthorized[0]!.annotations).toBeUndefined();

    const forbidden = (await events({ user: 'bob', code: '403' })).items;
    expect(forbidden.map((e) => [e.verb, e.objectRef?.resource])).toEqual([['create', 'roles'], ['list', 'users']]);
    for (const e of forbidden) {
      expect(e.user.groups).toContain('system:authenticated');
      expect(e.annotations?.decision).toBe('forbid');
      expect(e.annotations?.reason).toContain('bob');
      expect(e.responseStatus.reason).toBe('Forbidden');
    }
    // A denied create never reads its body, so the object has no name yet (as in Kubernetes).
    expect(forbidden[0]!.objectRef).toEqual({ apiGroup: 'iam.mortise.io', apiVersion: 'v1alpha1', resource: 'roles', namespace: 'audit-a' });
  });

  it('records logins, successful and failed, with the username and never a password or a token', async () => {
    const failed = await fetch(`${t.url}/oauth/token`, {
      method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'bob', password: wrongPassword }),
    });
    expect(failed.status).toBe(400);
    const fresh = await login(t.url, 'bob', bobPassword);

    const logins = (await events({ user: 'bob', verb: 'post' })).items;
    expect(logins.slice(0, 2).map((e) => [e.requestURI, e.responseStatus.code])).toEqual([['/oauth/token', 200], ['/oauth/token', 400]]);
    expect(logins[1]!.responseStatus).toEqual({ code: 400, reason: 'invalid_grant', message: 'incorrect username or password' });
    // The first login (beforeAll) too.
    expect(logins.filter((e) => e.responseStatus.code === 200)).toHaveLength(2);

    // Nothing secret in any stored event, nor anywhere in the database files.
    const exported = await (await api(`${eventsPath}?format=jsonl`)).text();
    for (const secret of [bobPassword, wrongPassword, shortPassword, adminPassword, fresh, bob, t.token]) expect(exported).not.toContain(secret);
    for (const f of readdirSync(t.dataDir!).filter((n) => n.startsWith('mortise.db'))) {
      const bytes = readFileSync(join(t.dataDir!, f));
      for (const secret of [bobPassword, wrongPassword, shortPassword]) expect(bytes.includes(secret), `${secret} in ${f}`).toBe(false);
    }
  });

  it('does not record reads, watches included', async () => {
    expect((await api('/api/v1/namespaces/audit-a')).status).toBe(200);
    expect((await api('/api/v1/namespaces')).status).toBe(200);
    expect((await api(`${rolesPath('audit-a')}?watch=1&timeoutSeconds=1`)).status).toBe(200);
    expect((await events({ user: 'admin', verb: 'get' })).items).toEqual([]);
    expect((await events({ user: 'admin', verb: 'list' })).items).toEqual([]);
    expect((await events({ user: 'admin', verb: 'watch' })).items).toEqual([]);
    // ... unless denied.
    expect((await api(`${rolesPath('audit-a')}?watch=1`, {}, bob)).status).toBe(403);
    expect((await events({ user: 'bob', verb: 'watch' })).items).toHaveLength(1);
  });

  it('filters by user, verb, resource, apiGroup, namespace, name, code class and time', async () => {
    await createNs('audit-f');
    const t0 = new Date();
    await new Promise((r) => setTimeout(r, 5));
    for (const n of ['f1', 'f2', 'f3']) expect((await api(rolesPath('audit-f'), { method: 'POST', json: role('audit-f', n) })).status).toBe(201);
    expect((await api(`${rolesPath('audit-f')}/f1`, { method: 'DELETE' })).status).toBe(200);
    expect((await api(`${rolesPath('audit-f')}/nope`, { method: 'DELETE' })).status).toBe(404);
    await new Promise((r) => setTimeout(r, 5));
    const t1 = new Date();
    await new Promise((r) => setTimeout(r, 5));
    expect((await api(rolesPath('audit-f'), { method: 'POST', json: role('audit-f', 'f4') })).status).toBe(201);

    const all = (await events({ limit: '5000' })).items;
    expect(all.length).toBeGreaterThan(10);
    const check = async (query: Record<string, string>, pred: (e: AuditEvent) => boolean) => {
      const got = (await events({ limit: '5000', ...query })).items;
      expect(got.length).toBeGreaterThan(0);
      expect(got.map((e) => e.auditID)).toEqual(all.filter(pred).map((e) => e.auditID));
    };
    await check({ user: 'bob' }, (e) => e.user.username === 'bob');
    await check({ verb: 'create' }, (e) => e.verb === 'create');
    await check({ resource: 'roles' }, (e) => e.objectRef?.resource === 'roles');
    await check({ apiGroup: 'core' }, (e) => e.objectRef?.apiGroup === '');
    await check({ apiGroup: 'iam.mortise.io', resource: 'users' }, (e) => e.objectRef?.resource === 'users');
    await check({ namespace: 'audit-f' }, (e) => e.objectRef?.namespace === 'audit-f');
    await check({ name: 'f1' }, (e) => e.objectRef?.name === 'f1');
    await check({ code: '4xx' }, (e) => e.responseStatus.code >= 400 && e.responseStatus.code < 500);
    await check({ code: '2xx', user: 'admin', verb: 'delete' }, (e) => e.responseStatus.code < 300 && e.user.username === 'admin' && e.verb === 'delete');
    const codes = new Set((await events({ code: '4xx' })).items.map((e) => e.responseStatus.code));
    expect([...codes].sort()).toEqual([400, 401, 403, 404, 422]);

    const window = (await events({ since: t0.toISOString(), until: t1.toISOString() })).items;
    expect(window.map((e) => [e.verb, e.objectRef?.name, e.responseStatus.code])).toEqual([
      ['delete', 'nope', 404], ['delete', 'f1', 200], ['create', 'f3', 201], ['create', 'f2', 201], ['create', 'f1', 201],
    ]);
    const after = (await events({ since: t1.toISOString() })).items;
    expect(after.map((e) => e.objectRef?.name)).toEqual(['f4']);
    // RFC3339 with an offset is accepted too.
    expect((await events({ namespace: 'audit-f', until: t0.toISOString().replace('Z', '+00:00') })).items.map((e) => e.objectRef?.resource)).toEqual([]);
  });

  it('answers 400 with a Status for a bad filter', async () => {
    for (const q of ['code=abc', 'code=6xx', 'since=yesterday', 'until=2025-13-01', 'limit=0', 'limit=x', 'usr=bob', 'format=xml', 'continue=garbage', 'user=a&user=b',
      'since=2025-01-02T00:00:00Z&until=2025-01-01T00:00:00Z']) {
      const res = await api(`${eventsPath}?${q}`);
      expect(res.status, q).toBe(400);
      expect(await res.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'BadRequest', code: 400 });
    }
  });

  it('pages with limit and continue: every event exactly once, newest first', async () => {
    await createNs('audit-p');
    for (let i = 0; i < 23; i++) expect((await api(rolesPath('audit-p'), { method: 'POST', json: role('audit-p', `p${i}`) })).status).toBe(201);
    const everything = (await events({ namespace: 'audit-p' })).items;
    expect(everything).toHaveLength(23);
    expect(everything.map((e) => e.objectRef?.name)).toEqual(Array.from({ length: 23 }, (_, i) => `p${22 - i}`));

    const seen: string[] = [];
    let cont: string | undefined;
    let pages = 0;
    do {
      const page = await events({ namespace: 'audit-p', limit: '5', ...(cont ? { continue: cont } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(5);
      seen.push(...page.items.map((e) => e.auditID));
      cont = page.metadata.continue;
      pages++;
      // New events meanwhile do not disturb a paged read.
      if (pages === 2) expect((await api(rolesPath('audit-p'), { method: 'POST', json: role('audit-p', 'late') })).status).toBe(201);
    } while (cont);
    expect(pages).toBe(5);
    expect(seen).toEqual(everything.map((e) => e.auditID));

    // A token belongs to its query.
    const first = await events({ namespace: 'audit-p', limit: '5' });
    const res = await api(`${eventsPath}?${new URLSearchParams({ namespace: 'audit-a', limit: '5', continue: first.metadata.continue! })}`);
    expect(res.status).toBe(400);
  });

  it('exports every matching event as JSON lines, streamed, oldest first', async () => {
    const expected = (await events({ namespace: 'audit-p' })).items.reverse();
    const res = await api(`${eventsPath}?format=jsonl&namespace=audit-p&limit=3`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/jsonl/);
    expect(res.headers.get('content-length')).toBeNull();
    const text = await res.text();
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as AuditEvent).auditID)).toEqual(expected.map((e) => e.auditID));

    const nd = await api(`${eventsPath}?namespace=audit-p`, { headers: { accept: 'application/x-ndjson' } });
    expect(nd.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect((await nd.text()).trimEnd().split('\n')).toHaveLength(expected.length);

    const big = await api(`${eventsPath}?format=jsonl`);
    const bigLines = (await big.text()).trimEnd().split('\n');
    expect(bigLines.length).toBe((await events({ limit: '5000' })).items.length);
  });

  it('is readable only by those allowed to list events.audit.mortise.io', async () => {
    const res = await api(eventsPath, {}, bob);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ kind: 'Status', code: 403 });
    expect((await api(`${eventsPath}?format=jsonl`, {}, bob)).status).toBe(403);
    expect((await call(t.url, undefined, eventsPath)).status).toBe(401);
    const [denied] = (await events({ user: 'bob', apiGroup: 'audit.mortise.io', resource: 'events', verb: 'list' })).items;
    expect(denied).toMatchObject({ responseStatus: { code: 403 }, annotations: { decision: 'forbid' } });
  });
});

describe('audit log retention and durability', () => {
  it('keeps at most auditRetention.maxEvents events, the newest', async () => {
    const t = await startTestCore({ inMemory: true, auditRetention: { maxEvents: 5 } });
    try {
      for (let i = 0; i < 12; i++) {
        expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: `keep-${i}` } } })).status).toBe(201);
      }
      const res = await t.api(`${eventsPath}?limit=100`);
      const list = (await res.json()) as EventList;
      expect(list.items.map((e) => e.objectRef?.name)).toEqual(['keep-11', 'keep-10', 'keep-9', 'keep-8', 'keep-7']);
    } finally {
      await t.close();
    }
  });

  it('drops events older than maxAgeDays', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mortise-audit-'));
    const log = new SqliteAuditLog({ path: join(dir, 'mortise.db'), retention: { maxAgeDays: 2 } });
    try {
      const day = 24 * 3600 * 1000;
      for (const age of [5, 3, 1, 0]) log.record(sample(`age-${age}`, new Date(Date.now() - age * day)));
      await log.flush();
      expect((await log.query({})).items).toHaveLength(4);
      await log.prune();
      expect((await log.query({})).items.map((e) => e.objectRef?.name)).toEqual(['age-0', 'age-1']);
    } finally {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exports across read pages, in order', async () => {
    const log = new SqliteAuditLog({ path: ':memory:' });
    try {
      for (let i = 0; i < 2500; i++) log.record(sample(`n-${i}`, new Date()));
      const names: string[] = [];
      for await (const e of log.export({ resource: 'namespaces' })) names.push(e.objectRef!.name!);
      expect(names).toEqual(Array.from({ length: 2500 }, (_, i) => `n-${i}`));
    } finally {
      await log.close();
    }
  });

  it('writes queued events on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mortise-audit-'));
    const path = join(dir, 'mortise.db');
    try {
      const log = new SqliteAuditLog({ path, flushIntervalMs: 60_000 });
      for (let i = 0; i < 7; i++) log.record(sample(`queued-${i}`, new Date()));
      expect(log.pending).toBe(7);
      await log.close();
      log.record(sample('after-close', new Date()));
      const reopened = new SqliteAuditLog({ path });
      const items = (await reopened.query({})).items;
      expect(items.map((e) => e.objectRef?.name)).toEqual(Array.from({ length: 7 }, (_, i) => `queued-${6 - i}`));
      await reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loses nothing a core recorded just before it closed', async () => {
    const t = await startTestCore({ keepDataDir: true });
    const dataDir = t.dataDir!;
    try {
      for (let i = 0; i < 5; i++) {
        expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: `last-${i}` } } })).status).toBe(201);
      }
      await t.close();
      const log = new SqliteAuditLog({ path: join(dataDir, 'mortise.db') });
      const names = (await log.query({ resource: 'namespaces', verb: 'create' })).items.map((e) => e.objectRef?.name);
      await log.close();
      expect(names).toEqual(['last-4', 'last-3', 'last-2', 'last-1', 'last-0']);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

function sample(name: string, at: Date): AuditEvent {
  return {
    auditID: randomUUID(), stage: 'ResponseComplete', requestReceivedTimestamp: at.toISOString(), stageTimestamp: at.toISOString(),
    verb: 'create', requestURI: '/api/v1/namespaces', user: { username: 'admin', groups: [] }, sourceIPs: ['127.0.0.1'],
    objectRef: { apiGroup: '', apiVersion: 'v1', resource: 'namespaces', name }, responseStatus: { code: 201 },
  };
}
