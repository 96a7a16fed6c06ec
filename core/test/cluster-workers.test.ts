import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createExtensionBackend, type ExtensionBackend, type RunningBackend } from '@mortise/extension-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildCore, type ChildCore } from './support/child-core.js';
import { eventually } from './support/test-core.js';

// `npm start` with MORTISE_WORKERS=2, as real processes: a primary that writes the store and
// two workers sharing the port. Each keep-alive connection belongs to one worker, so a client
// pinned to a connection talks to one worker (the `x-mortise-worker` header says which).

const password = 'cluster-admin-password';
const cms = '/api/v1/namespaces/default/configmaps';

interface Answer {
  status: number;
  worker: string;
  body: string;
  json<T = Record<string, any>>(): T;
}

/** A client with a single keep-alive connection, hence a single worker. */
class Pinned {
  readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  worker = '';
  constructor(private readonly port: number) {}

  call(method: string, path: string, token?: string, json?: unknown, contentType = 'application/json'): Promise<Answer> {
    const body = json === undefined ? undefined : typeof json === 'string' ? json : JSON.stringify(json);
    return new Promise((resolve, reject) => {
      const req = request({
        host: '127.0.0.1', port: this.port, method, path, agent: this.agent,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } : {}) },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, worker: String(res.headers['x-mortise-worker'] ?? ''), body: text, json: () => JSON.parse(text) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** A watch stream on its own connection of this agent's worker is not possible (one socket): watches get their own client. */
  close(): void {
    this.agent.destroy();
  }
}

/** One pinned client per worker: connections are opened until each worker has one (a worker still starting has none yet). */
async function clientPerWorker(port: number, workers: number): Promise<Pinned[]> {
  const found = new Map<string, Pinned>();
  const deadline = Date.now() + 60_000;
  while (found.size < workers && Date.now() < deadline) {
    const c = new Pinned(port);
    const res = await c.call('GET', '/healthz');
    c.worker = res.worker;
    if (res.worker && !found.has(res.worker)) found.set(res.worker, c);
    else {
      c.close();
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  if (found.size < workers) throw new Error(`only ${found.size} of ${workers} workers answered`);
  return [...found.values()];
}

async function token(client: Pinned, username: string, pw: string): Promise<{ access: string; refresh: string }> {
  const res = await client.call('POST', '/oauth/token', undefined, new URLSearchParams({ grant_type: 'password', username, password: pw }).toString(), 'application/x-www-form-urlencoded');
  expect(res.status, res.body).toBe(200);
  const j = res.json<{ access_token: string; refresh_token: string }>();
  return { access: j.access_token, refresh: j.refresh_token };
}

/** A watch on one worker (its own connection, found like the pinned clients), collecting events. */
async function watchOn(port: number, worker: string, path: string, tokenValue: string): Promise<{ events: Array<{ type: string; rv: string; name: string }>; close(): void }> {
  for (let i = 0; i < 40; i++) {
    const agent = new Agent({ keepAlive: false });
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path, agent, headers: { authorization: `Bearer ${tokenValue}` } }, resolve).on('error', reject).end();
    });
    if (res.headers['x-mortise-worker'] !== worker) {
      res.destroy();
      agent.destroy();
      continue;
    }
    expect(res.statusCode).toBe(200);
    const events: Array<{ type: string; rv: string; name: string }> = [];
    let buffered = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      buffered += d;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (!line.trim()) continue;
        const e = JSON.parse(line) as { type: string; object: { metadata: { resourceVersion: string; name: string } } };
        if (e.type !== 'BOOKMARK') events.push({ type: e.type, rv: e.object.metadata.resourceVersion, name: e.object.metadata.name });
      }
    });
    return { events, close: () => { res.destroy(); agent.destroy(); } };
  }
  throw new Error(`no connection reached worker ${worker}`);
}

function workerPids(stdout: string): Map<string, number> {
  const pids = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    if (!line.includes('cluster.worker-listening')) continue;
    const e = JSON.parse(line) as { worker: number; pid: number };
    pids.set(String(e.worker), e.pid);
  }
  return pids;
}

describe('MORTISE_WORKERS=2: two serving processes and a primary', () => {
  let dir: string;
  let core: ChildCore;
  let a: Pinned;
  let b: Pinned;
  let admin: string;
  let backend: ExtensionBackend;
  let running: RunningBackend;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mortise-workers-'));
    core = await startChildCore({ MORTISE_DATA_DIR: dir, MORTISE_ADMIN_PASSWORD: password, MORTISE_WORKERS: '2', MORTISE_BUNDLED_REPOSITORY: 'off' }, { readyTimeoutMs: 60_000 });
    [a, b] = await clientPerWorker(core.port, 2);
    admin = (await token(a!, 'admin', password)).access;
    backend = createExtensionBackend({ name: 'demo', coreUrl: core.url, handleSignals: false, dataDir: join(dir, 'demo-backend') });
    backend.router.get('/whoami', (ctx) => {
      ctx.body = { user: (ctx.state as { identity: { username: string } }).identity.username };
    });
    running = await backend.listen(0, '127.0.0.1');
  }, 90_000);

  afterAll(async () => {
    a?.close();
    b?.close();
    await running?.close();
    if (core) expect(await core.stop('SIGTERM')).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('answers on two worker processes, neither of them the primary', () => {
    expect(a.worker).not.toBe(b.worker);
    const pids = workerPids(core.stdout());
    expect(pids.size).toBe(2);
    expect([...pids.values()]).not.toContain(core.child.pid);
  });

  it('takes writes through either worker and reads them back at once on the other', async () => {
    for (let i = 0; i < 10; i++) {
      const [writer, reader] = i % 2 ? [a, b] : [b, a];
      const created = await writer.call('POST', cms, admin, { metadata: { name: `ryw-${i}` }, data: { n: String(i) } });
      expect(created.status, created.body).toBe(201);
      const read = await reader.call('GET', `${cms}/ryw-${i}`, admin);
      expect(read.status, read.body).toBe(200);
      expect(read.json().metadata.resourceVersion).toBe(created.json().metadata.resourceVersion);
      const updated = await reader.call('PUT', `${cms}/ryw-${i}`, admin, { ...read.json<Record<string, unknown>>(), data: { n: `${i}-updated` } });
      expect(updated.status, updated.body).toBe(200);
      const again = await writer.call('GET', `${cms}/ryw-${i}`, admin);
      expect(again.json().data.n).toBe(`${i}-updated`);
      // A stale write is refused whichever worker takes it: one writer checks the resourceVersion.
      expect((await writer.call('PUT', `${cms}/ryw-${i}`, admin, { ...read.json<Record<string, unknown>>(), data: { n: 'stale' } })).status).toBe(409);
    }
    const list = await b.call('GET', `${cms}?labelSelector=`, admin);
    expect(list.json<{ items: unknown[] }>().items.length).toBeGreaterThanOrEqual(10);
  });

  it('shows every write at once in what each worker read before it (its reads kept in memory)', async () => {
    const ns = '/api/v1/namespaces/kept';
    expect((await a.call('POST', '/api/v1/namespaces', admin, { metadata: { name: 'kept' } })).status).toBe(201);
    const kept = `${ns}/configmaps`;
    for (let i = 0; i < 6; i++) expect((await a.call('POST', kept, admin, { metadata: { name: `k-${i}`, labels: { tier: `t${i % 2}` } }, data: { v: '0' } })).status).toBe(201);
    // The reads a worker keeps: an object, the whole collection, a selection and a page of it.
    const reads = [`${kept}/k-1`, kept, `${kept}?labelSelector=tier%3Dt1`, `${kept}?limit=2`, '/api/v1/configmaps?labelSelector=tier'];
    const seen = async (c: Pinned) => Promise.all(reads.map(async (path) => {
      const res = await c.call('GET', path, admin);
      expect(res.status, `${path}: ${res.body}`).toBe(200);
      return res.body;
    }));
    for (let round = 1; round <= 6; round++) {
      const writer = round % 2 ? a : b;
      const before = [await seen(a), await seen(b)];
      // Read twice: the second comes from memory where the worker keeps it.
      expect(await seen(a)).toEqual(before[0]);
      expect(await seen(b)).toEqual(before[1]);
      const current = (await writer.call('GET', `${kept}/k-1`, admin)).json();
      const updated = await writer.call('PUT', `${kept}/k-1`, admin, { ...current, data: { v: String(round) } });
      expect(updated.status, updated.body).toBe(200);
      const rv = updated.json().metadata.resourceVersion as string;
      for (const c of [a, b]) {
        const [one, whole, selected, page, all] = (await seen(c)).map((body) => JSON.parse(body) as { data?: { v: string }; metadata: { resourceVersion: string }; items: Array<{ metadata: { name: string; resourceVersion: string }; data: { v: string } }> });
        expect(one!.data!.v, `worker ${c.worker}, round ${round}`).toBe(String(round));
        for (const list of [whole!, selected!, page!, all!]) {
          const k1 = list.items.find((o) => o.metadata.name === 'k-1')!;
          expect(k1.data.v, `worker ${c.worker}, round ${round}`).toBe(String(round));
          expect(Number(list.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(rv));
        }
      }
    }
    // A create and a delete are seen too, by both, in a selection each kept.
    expect((await a.call('POST', kept, admin, { metadata: { name: 'k-new', labels: { tier: 't1' } } })).status).toBe(201);
    expect((await b.call('DELETE', `${kept}/k-3`, admin)).status).toBe(200);
    for (const c of [a, b]) {
      const names = (await c.call('GET', `${kept}?labelSelector=tier%3Dt1`, admin)).json<{ items: Array<{ metadata: { name: string } }> }>().items.map((o) => o.metadata.name);
      expect(names, `worker ${c.worker}`).toEqual(['k-1', 'k-5', 'k-new']);
    }
  });

  it('delivers every write to watches on both workers, in order, with no gap', async () => {
    const start = (await a.call('GET', cms, admin)).json().metadata.resourceVersion as string;
    const path = `${cms}?watch=1&resourceVersion=${start}&labelSelector=run%3Dordered`;
    const watches = [await watchOn(core.port, a.worker, path, admin), await watchOn(core.port, b.worker, path, admin)];
    try {
      const written: string[] = [];
      for (let i = 0; i < 30; i++) {
        const writer = i % 2 ? a : b;
        const res = await writer.call('POST', cms, admin, { metadata: { name: `ordered-${i}`, labels: { run: 'ordered' } } });
        expect(res.status, res.body).toBe(201);
        written.push(res.json().metadata.resourceVersion);
      }
      for (const w of watches) {
        await eventually(() => w.events.length >= 30, 10_000, 'all 30 events');
        expect(w.events.map((e) => e.rv)).toEqual(written);
        expect(w.events.map((e) => e.name)).toEqual(written.map((_, i) => `ordered-${i}`));
        expect(w.events.every((e) => e.type === 'ADDED')).toBe(true);
      }
    } finally {
      for (const w of watches) w.close();
    }
  });

  it('refuses a revoked session and a removed permission at the next request, on both workers', async () => {
    const user = await a.call('POST', '/apis/iam.mortise.io/v1alpha1/users', admin, { metadata: { name: 'carol' }, spec: { email: 'carol@example.com', password: 'carol-password-1' } });
    expect(user.status, user.body).toBe(201);
    const role = await a.call('POST', '/apis/iam.mortise.io/v1alpha1/globalroles', admin, { metadata: { name: 'configmap-reader' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }] });
    expect(role.status, role.body).toBe(201);
    const binding = await b.call('POST', '/apis/iam.mortise.io/v1alpha1/globalrolebindings', admin, {
      metadata: { name: 'carol-reader' }, roleRef: { kind: 'GlobalRole', name: 'configmap-reader' }, subjects: [{ kind: 'User', name: 'carol' }],
    });
    expect(binding.status, binding.body).toBe(201);
    // Granted through one worker: allowed on both at once.
    const carol = await token(b, 'carol', 'carol-password-1');
    for (const c of [a, b]) expect((await c.call('GET', cms, carol.access)).status).toBe(200);

    // The permission removed through one worker: refused on the other at its next request. The
    // other worker is stopped meanwhile (SIGSTOP): the write is answered only once it has taken
    // the change in, so no client can reach it before it knows.
    const other = workerPids(core.stdout()).get(b.worker)!;
    process.kill(other, 'SIGSTOP');
    let answered = false;
    let removal: Promise<Answer>;
    try {
      removal = a.call('DELETE', '/apis/iam.mortise.io/v1alpha1/globalrolebindings/carol-reader', admin);
      void removal.then(() => (answered = true));
      await new Promise((r) => setTimeout(r, 500));
      expect(answered).toBe(false);
    } finally {
      process.kill(other, 'SIGCONT');
    }
    expect((await removal).status).toBe(200);
    expect((await b.call('GET', cms, carol.access)).status).toBe(403);
    expect((await a.call('GET', cms, carol.access)).status).toBe(403);

    // A session revoked through one worker: its access token is refused by both at once.
    const session = await token(a, 'admin', password);
    for (const c of [a, b]) expect((await c.call('GET', cms, session.access)).status).toBe(200);
    const revoke = await b.call('POST', '/oauth/revoke', undefined, new URLSearchParams({ token: session.refresh }).toString(), 'application/x-www-form-urlencoded');
    expect(revoke.status).toBe(200);
    expect((await a.call('GET', cms, session.access)).status).toBe(401);
    expect((await b.call('GET', cms, session.access)).status).toBe(401);
    // Other sessions go on.
    expect((await a.call('GET', cms, admin)).status).toBe(200);
  });

  it('proxies gateway routes from both workers; audit, core log and metrics come from the primary', async () => {
    const created = await a.call('POST', '/apis/extensions.mortise.io/v1alpha1/reverseproxies', admin, {
      apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'ReverseProxy', metadata: { name: 'demo', labels: { 'extensions.mortise.io/extension': 'demo' } },
      spec: { matcher: { path: '/proxy/demo/' }, upstream: { url: running.url }, directives: { stripPathPrefix: '/proxy/demo' } },
    });
    expect(created.status, created.body).toBe(201);
    for (const c of [b, a]) {
      const res = await c.call('GET', '/proxy/demo/whoami', admin);
      expect(res.status, res.body).toBe(200);
      expect(res.worker).toBe(c.worker);
      expect(res.json()).toEqual({ user: 'admin' });
    }
    expect((await b.call('POST', '/proxy/demo/whoami', undefined, {})).status).toBe(401);
    // The denied request answered by a worker is in the primary's audit log.
    const audit = await eventually(async () => {
      const page = (await a.call('GET', '/kapis/audit.mortise.io/v1alpha1/events?code=401&limit=50', admin)).json<{ items: Array<{ requestURI: string }> }>();
      return page.items.some((e) => e.requestURI.startsWith('/proxy/demo/whoami')) && page;
    }, 5_000, 'the audit event of the denied proxied request');
    expect(audit.items.length).toBeGreaterThan(0);
    // The core log (the primary's, which forks the workers) read through a worker.
    const log = await b.call('GET', '/kapis/ops.mortise.io/v1alpha1/logs?tailLines=1000', admin);
    expect(log.status, log.body).toBe(200);
    expect(log.body).toContain('cluster.worker-listening');
    // /metrics adds up the workers' counts.
    const metrics = await b.call('GET', '/metrics', admin);
    expect(metrics.status).toBe(200);
    const proxied = metrics.body.split('\n').filter((l) => l.startsWith('mortise_gateway_requests_total{') && l.includes('extension="demo"') && l.includes('code="200"'));
    expect(proxied.reduce((n, l) => n + Number(l.split(' ').pop()), 0)).toBeGreaterThanOrEqual(2);
  });

  it('restarts a killed worker while the other keeps serving', async () => {
    const pids = workerPids(core.stdout());
    const victim = pids.get(a.worker)!;
    process.kill(victim, 'SIGKILL');
    a.close();
    // The survivor answers throughout.
    for (let i = 0; i < 5; i++) expect((await b.call('GET', cms, admin)).status).toBe(200);
    await eventually(() => workerPids(core.stdout()).size === 3, 30_000, 'a new worker listening');
    const [x, y] = await clientPerWorker(core.port, 2);
    try {
      expect([x!.worker, y!.worker]).not.toContain(a.worker);
      for (const c of [x!, y!]) {
        const res = await c.call('POST', cms, admin, { metadata: { name: `after-restart-${c.worker}` } });
        expect(res.status, res.body).toBe(201);
        expect((await c.call('GET', '/proxy/demo/whoami', admin)).status).toBe(200);
      }
    } finally {
      x!.close();
      y!.close();
    }
    expect(core.stdout()).toContain('cluster.worker-exited');
  }, 60_000);
});
