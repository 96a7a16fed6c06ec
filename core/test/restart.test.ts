import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminPassword, call, login, startTestCore, workspace, type TestCore } from './support/test-core.js';
import { dbPath, freePort, generatedPasswords, mainJs, startChildCore, type ChildCore } from './support/child-core.js';

// State survives a restart: objects, resourceVersions, signing keys, refresh tokens, the admin.

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; uid: string; resourceVersion: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
}
interface TokenResponse {
  access_token: string;
  refresh_token: string;
}

const ws = '/apis/tenant.mortise.io/v1alpha1/workspaces';
const issuer = 'https://mortise.restart.test';
const crd = {
  apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'gizmos.restart.mortise.io' },
  spec: {
    group: 'restart.mortise.io', scope: 'Namespaced', names: { plural: 'gizmos', singular: 'gizmo', kind: 'Gizmo' },
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { n: { type: 'integer' } } } } } } }],
  },
};

/** The `bootstrap.admin` log lines of a child core's stdout. */
const bootstrapLines = (stdout: string) => stdout.split('\n').filter((l) => l.includes('"bootstrap.admin"')).map((l) => JSON.parse(l) as Record<string, unknown>);

const json = async <T>(res: Response): Promise<T> => {
  const text = await res.text();
  if (!res.ok) throw new Error(`${res.status} ${text}`);
  return JSON.parse(text) as T;
};

/** Checks the SQLite file itself: intact, every object parses and agrees with its row. */
function checkDatabase(dataDir: string): { maxRv: number; objects: number } {
  const db = new Database(dbPath(dataDir));
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    const rows = db.prepare('SELECT resource, namespace, name, uid, rv, data FROM objects').all() as Array<{ resource: string; namespace: string; name: string; uid: string; rv: number; data: string }>;
    let maxRv = 0;
    const rvs = new Set<number>();
    for (const r of rows) {
      const o = JSON.parse(r.data) as Obj & { metadata: { namespace?: string } };
      expect(o.metadata.name, r.resource).toBe(r.name);
      expect(o.metadata.namespace ?? '').toBe(r.namespace);
      expect(o.metadata.resourceVersion).toBe(String(r.rv));
      expect(rvs.has(r.rv), `resourceVersion ${r.rv} used twice`).toBe(false);
      rvs.add(r.rv);
      maxRv = Math.max(maxRv, r.rv);
    }
    const events = db.prepare('SELECT rv, data FROM events ORDER BY rv').all() as Array<{ rv: number; data: string }>;
    for (const e of events) {
      expect(String((JSON.parse(e.data) as Obj).metadata.resourceVersion)).toBe(String(e.rv));
      maxRv = Math.max(maxRv, e.rv);
    }
    const counter = (db.prepare(`SELECT value FROM meta WHERE key = 'resourceVersion'`).get() as { value: number }).value;
    expect(counter).toBeGreaterThanOrEqual(maxRv);
    return { maxRv: counter, objects: rows.length };
  } finally {
    db.close();
  }
}

describe('restart', () => {
  const dirs: string[] = [];
  const cores: TestCore[] = [];
  const children: ChildCore[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'mortise-restart-'));
    dirs.push(d);
    return d;
  };
  const start = async (dataDir: string, opts: Parameters<typeof startTestCore>[0] = {}) => {
    const t = await startTestCore({ dataDir, issuer, ...opts });
    cores.push(t);
    return t;
  };

  let dataDir: string;
  let first: TestCore;

  beforeAll(async () => {
    dataDir = tempDir();
    first = await start(dataDir);
  });

  afterAll(async () => {
    for (const c of children) await c.stop('SIGKILL');
    for (const t of cores) await t.close().catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('objects, resourceVersions, tokens and the admin survive a restart', async () => {
    const t = first;
    const created = await json<Obj>(await t.api(ws, { method: 'POST', json: workspace('kept', { tier: 'gold' }, { description: 'before the restart' }) }));
    await json(await t.api('/api/v1/namespaces', { method: 'POST', json: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kept-ns' } } }));
    await json(await t.api('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { method: 'POST', json: crd }));
    const gizmo = await json<Obj>(await t.api('/apis/restart.mortise.io/v1/namespaces/kept-ns/gizmos', { method: 'POST', json: { apiVersion: 'restart.mortise.io/v1', kind: 'Gizmo', metadata: { name: 'g1' }, spec: { n: 1 } } }));
    const session = await json<TokenResponse>(await fetch(`${t.url}/oauth/token`, {
      method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'admin', password: adminPassword }),
    }));
    const before = await json<{ metadata: { resourceVersion: string }; items: Obj[] }>(await t.api(ws));
    // As they are at shutdown (controllers may have written status since they were created).
    const keptBefore = await json<Obj>(await t.api(`${ws}/kept`));
    const gizmoBefore = await json<Obj>(await t.api('/apis/restart.mortise.io/v1/namespaces/kept-ns/gizmos/g1'));
    expect(keptBefore.metadata.uid).toBe(created.metadata.uid);
    expect(gizmoBefore.metadata.uid).toBe(gizmo.metadata.uid);
    const ca = t.core.certs.caCertPem;
    await t.close();

    // A different MORTISE_ADMIN_PASSWORD on a later start does not reset the admin.
    const t2 = await start(dataDir, { adminPassword: 'a-different-password' });
    expect(t2.core.generatedAdminPassword).toBeUndefined();
    expect(t2.core.certs.caCertPem).toBe(ca);
    const again = await json<Obj>(await t2.api(`${ws}/kept`));
    expect(again).toEqual(keptBefore);
    expect(again.spec).toMatchObject({ description: 'before the restart' });
    const g = await json<Obj>(await t2.api('/apis/restart.mortise.io/v1/namespaces/kept-ns/gizmos/g1'));
    expect(g).toEqual(gizmoBefore);
    const list = await json<{ metadata: { resourceVersion: string }; items: Obj[] }>(await t2.api(ws));
    expect(list.items.map((o) => [o.metadata.name, o.metadata.uid, o.metadata.resourceVersion])).toEqual(before.items.map((o) => [o.metadata.name, o.metadata.uid, o.metadata.resourceVersion]));

    // New writes get higher resourceVersions.
    const next = await json<Obj>(await t2.api(ws, { method: 'POST', json: workspace('after') }));
    expect(Number(next.metadata.resourceVersion)).toBeGreaterThan(Number(before.metadata.resourceVersion));
    expect(Number(next.metadata.resourceVersion)).toBeGreaterThan(Number(g.metadata.resourceVersion));
    const patched = await json<Obj>(await t2.api(`${ws}/kept`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { description: 'after' } } }));
    expect(Number(patched.metadata.resourceVersion)).toBeGreaterThan(Number(next.metadata.resourceVersion));

    // A watch from a resourceVersion of the old process replays what happened since.
    const w = await t2.api(`${ws}?watch=1&resourceVersion=${before.metadata.resourceVersion}&timeoutSeconds=1`);
    const events = (await w.text()).trim().split('\n').map((l) => JSON.parse(l) as { type: string; object: Obj });
    const seen = events.map((e) => `${e.type} ${e.object.metadata.name}`);
    expect(seen[0]).toBe('ADDED after');
    expect(seen).toContain('MODIFIED kept');
    expect(seen.every((e) => /^(ADDED|MODIFIED) (after|kept)$/.test(e)), seen.join(', ')).toBe(true);
    const rvs = events.map((e) => Number(e.object.metadata.resourceVersion));
    expect(rvs[0]).toBeGreaterThan(Number(before.metadata.resourceVersion));
    expect(rvs).toEqual([...rvs].sort((a, b) => a - b));

    // The old access token and refresh token still work; the admin password is the first one.
    expect((await call(t2.url, t.token, ws)).status).toBe(200);
    expect((await call(t2.url, session.access_token, ws)).status).toBe(200);
    const refreshed = await fetch(`${t2.url}/oauth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: session.refresh_token }) });
    expect(refreshed.status).toBe(200);
    expect((await call(t2.url, ((await refreshed.json()) as TokenResponse).access_token, ws)).status).toBe(200);
    await login(t2.url, 'admin', adminPassword);
    await expect(login(t2.url, 'admin', 'a-different-password')).rejects.toThrow(/400/);
    await t2.close();
    checkDatabase(dataDir);
  });

  it('tokens from before the restart keep working when the issuer defaults to the same URL', async () => {
    // What `npm start` does: no MORTISE_ISSUER, the same host and port.
    const dir = tempDir();
    const a = await startChildCore({ MORTISE_DATA_DIR: dir, MORTISE_ADMIN_PASSWORD: adminPassword, MORTISE_ISSUER: undefined, MORTISE_LOG_LEVEL: 'warn' });
    children.push(a);
    const session = await json<TokenResponse>(await fetch(`${a.url}/oauth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'admin', password: adminPassword }) }));
    expect(await a.stop('SIGTERM')).toBe(0);
    const b = await startChildCore({ MORTISE_DATA_DIR: dir, MORTISE_ADMIN_PASSWORD: adminPassword, MORTISE_ISSUER: undefined, MORTISE_LOG_LEVEL: 'warn', PORT: String(a.port) });
    children.push(b);
    expect((await call(b.url, session.access_token, ws)).status).toBe(200);
    expect((await fetch(`${b.url}/oauth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: session.refresh_token }) })).status).toBe(200);
    expect(await b.stop('SIGTERM')).toBe(0);
  });

  it('a core killed with SIGKILL while writing restarts with a consistent database', async () => {
    const dir = tempDir();
    const c = await startChildCore({ MORTISE_DATA_DIR: dir, MORTISE_ADMIN_PASSWORD: adminPassword, MORTISE_ISSUER: issuer, MORTISE_LOG_LEVEL: 'warn' });
    children.push(c);
    const token = await login(c.url, 'admin', adminPassword);
    const description = 'x'.repeat(4000);
    const acknowledged = new Map<string, { rv: number; patched: boolean }>();
    let stop = false;
    let failures = 0;
    const writer = async (id: number) => {
      for (let i = 0; !stop; i++) {
        const name = `crash-${id}-${i}`;
        try {
          const res = await call(c.url, token, ws, { method: 'POST', json: workspace(name, { writer: String(id), i: String(i) }, { description, manager: `m${i}` }) });
          if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${await res.text()}`);
          const o = (await res.json()) as Obj;
          acknowledged.set(name, { rv: Number(o.metadata.resourceVersion), patched: false });
          const p = await call(c.url, token, `${ws}/${name}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { metadata: { labels: { patched: 'yes' } } } });
          if (p.status !== 200) throw new Error(`patch ${name}: ${p.status}`);
          acknowledged.set(name, { rv: Number(((await p.json()) as Obj).metadata.resourceVersion), patched: true });
        } catch (e) {
          if (stop) return;
          failures++;
          throw e;
        }
      }
    };
    const writers = Array.from({ length: 8 }, (_, i) => writer(i).catch((e: Error) => (stop ? undefined : e)));
    // Kill it mid-stream, with requests in flight.
    const deadline = Date.now() + 30_000;
    while (acknowledged.size < 150) {
      if (failures > 0 || Date.now() > deadline) throw new Error(`the writers stalled: ${acknowledged.size} writes acknowledged, ${failures} failures: ${String(await Promise.race(writers))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    // Writers stop starting new writes; the ones in flight die with the process.
    stop = true;
    c.child.kill('SIGKILL');
    expect(await c.exited).toBe('SIGKILL');
    expect((await Promise.all(writers)).filter(Boolean)).toEqual([]);

    const { maxRv } = checkDatabase(dir);
    const t = await start(dir, { adminPassword });
    const items = (await json<{ items: Obj[] }>(await t.api(`${ws}?labelSelector=writer`))).items;
    const byName = new Map(items.map((o) => [o.metadata.name, o]));
    // Every write the client saw acknowledged is there, whole.
    for (const [name, ack] of acknowledged) {
      const o = byName.get(name);
      expect(o, `${name} was acknowledged`).toBeDefined();
      expect(Number(o!.metadata.resourceVersion)).toBeGreaterThanOrEqual(ack.rv);
      if (ack.patched) expect(o!.metadata.labels?.patched).toBe('yes');
    }
    // Nothing half-written: every object that made it has all its fields.
    for (const o of items) {
      expect(o.spec?.description).toBe(description);
      expect(o.spec?.manager).toBe(`m${o.metadata.labels!.i}`);
      expect(o.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    }
    const after = await json<Obj>(await t.api(ws, { method: 'POST', json: workspace('after-crash') }));
    expect(Number(after.metadata.resourceVersion)).toBeGreaterThan(maxRv);
    const token2 = await login(t.url, 'admin', adminPassword);
    expect((await call(t.url, token2, `${ws}/after-crash`)).status).toBe(200);
    await t.close();
    checkDatabase(dir);
  });

  it('npm start: a generated admin password is printed once, and works', async () => {
    const dir = tempDir();
    const env = { MORTISE_DATA_DIR: dir, MORTISE_ADMIN_PASSWORD: undefined, MORTISE_ISSUER: undefined };
    const a = await startChildCore(env);
    children.push(a);
    const found = generatedPasswords(a.stdout());
    expect(found, a.stdout()).toHaveLength(1);
    const password = found[0]!;
    expect(password.length).toBeGreaterThanOrEqual(12);
    // Generated and hashed by the bundle's entry before the core was loaded (early-admin-password.ts).
    expect(bootstrapLines(a.stdout())).toEqual([expect.objectContaining({ passwordSource: 'generated', passwordHashed: 'early' })]);
    await login(a.url, 'admin', password);
    expect(await a.stop('SIGTERM')).toBe(0);

    const b = await startChildCore(env);
    children.push(b);
    expect(b.stdout()).not.toContain(password);
    expect(generatedPasswords(b.stdout())).toEqual([]);
    expect(b.stdout()).not.toMatch(/admin password|bootstrap\.password/i);
    expect(bootstrapLines(b.stdout())).toEqual([]);
    await login(b.url, 'admin', password);
    expect(await b.stop('SIGTERM')).toBe(0);
  });

  it('npm start: serves on and stops on SIGTERM after the reader of its standard output went away', async () => {
    // A log collector or `| head` that exits at the first line: every later line, the "running
    // at" announcement among them, meets a closed pipe (EPIPE). The core crashed on it, or (its
    // logger flushing at exit) never exited.
    const port = await freePort();
    const child = spawn(process.execPath, [mainJs], {
      env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'MORTISE_ISSUER')), MORTISE_DATA_DIR: tempDir(), MORTISE_ADMIN_PASSWORD: adminPassword, MORTISE_LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
    try {
      await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
      child.stdout!.destroy();
      let ready = false;
      for (let i = 0; i < 400 && !ready && child.exitCode === null; i++) {
        ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
        if (!ready) await new Promise((r) => setTimeout(r, 50));
      }
      expect(ready, stderr).toBe(true);
      await login(`http://127.0.0.1:${port}`, 'admin', adminPassword);
      child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running 15 s after SIGTERM'), 15_000))]);
      expect(code, stderr).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('npm start: a configured admin password is hashed early on a fresh data dir and works', async () => {
    const env = { MORTISE_DATA_DIR: tempDir(), MORTISE_ADMIN_PASSWORD: 'early-hashed-pw', MORTISE_ISSUER: undefined };
    const a = await startChildCore(env);
    children.push(a);
    expect(bootstrapLines(a.stdout())).toEqual([expect.objectContaining({ passwordSource: 'MORTISE_ADMIN_PASSWORD', passwordHashed: 'early' })]);
    await login(a.url, 'admin', 'early-hashed-pw');
    await expect(login(a.url, 'admin', 'early-hashed-pX')).rejects.toThrow();
    expect(await a.stop('SIGTERM')).toBe(0);
  });
});
