import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { addToIndex, packExtension, serializeRepositoryIndex } from '@mortise/extension-sdk';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestCore, type TestCore } from './support/test-core.js';

// Security of Repositories: a credential belongs to the origin it was given for (two real
// repository servers record the Authorization header of every request they get; the stored
// secret must never reach the second one, whichever way the URL is changed), and a failing
// repository's status tells its admin what failed without echoing what the URL answered or
// whether a local path exists.

const ext = '/apis/extensions.mortise.io/v1alpha1';
const index = serializeRepositoryIndex({ apiVersion: 'v1', generated: new Date(0).toISOString(), entries: {}, categories: [] });

interface RecordingServer {
  url: string;
  seen: Array<{ path: string; authorization?: string }>;
  /** Answer every request with a redirect to this base instead. */
  redirectTo?: string;
  /** Answer every request with this instead of the index. */
  answer?: { status: number; body: string };
  close(): Promise<void>;
}

async function recordingServer(): Promise<RecordingServer> {
  const rec: RecordingServer = { url: '', seen: [], close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const headers: IncomingHttpHeaders = req.headers;
    rec.seen.push({ path: req.url ?? '', ...(headers.authorization ? { authorization: headers.authorization } : {}) });
    if (rec.answer) return void res.writeHead(rec.answer.status, { 'content-type': 'text/html' }).end(rec.answer.body);
    if (rec.redirectTo) {
      res.writeHead(302, { location: `${rec.redirectTo}${req.url}` }).end();
      return;
    }
    if (!req.url?.endsWith('/index.yaml')) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/yaml' }).end(index);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  rec.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  rec.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return rec;
}

describe('repository credentials stay with their origin', () => {
  let t: TestCore;
  let a: RecordingServer;
  let b: RecordingServer;
  const repo = (name: string) => `${ext}/repositories/${name}`;
  const mergePatch = (name: string, patch: unknown) => t.api(repo(name), { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify(patch) });
  const jsonPatch = (name: string, ops: unknown[]) => t.api(repo(name), { method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify(ops) });
  const put = async (name: string, change: (spec: Record<string, unknown>) => Record<string, unknown>) => {
    const o = (await (await t.api(repo(name))).json()) as { spec: Record<string, unknown> };
    return t.api(repo(name), { method: 'PUT', json: { ...o, spec: change(o.spec) } });
  };
  const stored = async (name: string) => (await t.core.store.get({ group: 'extensions.mortise.io', resource: 'repositories', namespace: '', name }))!.spec as { url: string; credentials?: Record<string, string> };
  const sawOn = (server: RecordingServer, path: string, authorization: string | undefined) =>
    eventually(() => server.seen.some((s) => s.path === path && s.authorization === authorization), 10_000, `${server.url}${path} with ${authorization ?? 'no'} authorization`);
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  beforeAll(async () => {
    [a, b] = await Promise.all([recordingServer(), recordingServer()]);
    t = await startTestCore({ inMemory: true });
  });
  afterAll(async () => {
    await t?.close();
    await a?.close();
    await b?.close();
  });

  // Every way an update can change only the URL, for each kind of secret.
  const urlOnly: Array<{ via: string; move: (name: string, url: string) => Promise<Response> }> = [
    { via: 'PUT', move: (name, url) => put(name, (spec) => ({ ...spec, url })) },
    { via: 'merge patch', move: (name, url) => mergePatch(name, { spec: { url } }) },
    { via: 'JSON patch', move: (name, url) => jsonPatch(name, [{ op: 'replace', path: '/spec/url', value: url }]) },
  ];
  const secrets = [
    { kind: 'bearer token', credentials: { bearerToken: 'token-for-a-0f3e' }, header: 'Bearer token-for-a-0f3e', field: 'spec.credentials.bearerToken' },
    { kind: 'password', credentials: { username: 'reader', password: 'password-for-a-77c1' }, header: basic('reader', 'password-for-a-77c1'), field: 'spec.credentials.password' },
  ];

  for (const secret of secrets) {
    for (const { via, move } of urlOnly) {
      it(`refuses moving a ${secret.kind} to another origin via ${via} (422), and sends it nowhere else`, async () => {
        const name = `r-${secret.kind.replace(' ', '-')}-${via.replace(' ', '-').toLowerCase()}`;
        const created = await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name }, spec: { url: `${a.url}/${name}`, interval: '1h', credentials: secret.credentials } } });
        expect(created.status).toBe(201);
        await sawOn(a, `/${name}/index.yaml`, secret.header);

        const res = await move(name, `${b.url}/${name}`);
        const status = (await res.json()) as { reason: string; message: string; details: { causes: Array<{ field: string }> } };
        expect(res.status, status.message).toBe(422);
        expect(status.reason).toBe('Invalid');
        expect(status.details.causes[0]!.field).toBe(secret.field);
        expect(status.message).toContain(`supply the credentials for ${b.url} again`);
        expect((await stored(name)).url).toBe(`${a.url}/${name}`);

        // Another path on the same origin keeps the secret, and it is sent there.
        expect((await move(name, `${a.url}/${name}-moved`)).status).toBe(200);
        await sawOn(a, `/${name}-moved/index.yaml`, secret.header);
        expect(b.seen.filter((s) => s.path.startsWith(`/${name}`))).toEqual([]);
      });
    }
  }

  it('moves to another origin with credentials given again, or with none', async () => {
    await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'resupplied' }, spec: { url: `${a.url}/resupplied`, interval: '1h', credentials: { bearerToken: 'token-for-a-0f3e' } } } });
    await sawOn(a, '/resupplied/index.yaml', 'Bearer token-for-a-0f3e');
    expect((await mergePatch('resupplied', { spec: { url: `${b.url}/resupplied`, credentials: { bearerToken: 'token-for-b-9d2a' } } })).status).toBe(200);
    await sawOn(b, '/resupplied/index.yaml', 'Bearer token-for-b-9d2a');

    await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'dropped' }, spec: { url: `${a.url}/dropped`, interval: '1h', credentials: { username: 'reader', password: 'password-for-a-77c1' } } } });
    await sawOn(a, '/dropped/index.yaml', basic('reader', 'password-for-a-77c1'));
    expect((await mergePatch('dropped', { spec: { url: `${b.url}/dropped`, credentials: null } })).status).toBe(200);
    await sawOn(b, '/dropped/index.yaml', undefined);
    expect((await stored('dropped')).credentials).toBeUndefined();
  });

  it('does not follow a redirect to another origin with the credentials', async () => {
    const c = await recordingServer();
    try {
      c.redirectTo = b.url;
      await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'redirected' }, spec: { url: `${c.url}/redirected`, interval: '1h', credentials: { bearerToken: 'token-for-c-51aa' } } } });
      await sawOn(c, '/redirected/index.yaml', 'Bearer token-for-c-51aa');
      await sawOn(b, '/redirected/index.yaml', undefined);
    } finally {
      await c.close();
    }
  });

  const failure = async (name: string) => {
    const r = await eventually(async () => {
      const o = (await (await t.api(repo(name))).json()) as { status?: { conditions?: Array<{ type: string; status: string; message: string }> } };
      return o.status?.conditions?.find((c) => c.type === 'Synced' && c.status === 'False');
    }, 10_000, `${name} failed`);
    return r.message;
  };
  const secretBody = 'internal-secret-7f3a: <html>admin console of an internal host</html>';

  it('says what failed without echoing what the URL answered', async () => {
    const c = await recordingServer();
    try {
      const cases: Array<{ name: string; answer: { status: number; body: string }; says: string }> = [
        { name: 'echo-html', answer: { status: 200, body: secretBody }, says: 'is not a valid repository index' },
        { name: 'echo-yaml', answer: { status: 200, body: `apiVersion: v1\nentries:\n  internal-secret-7f3a: [{name: internal-secret-7f3a}]\n` }, says: 'is not a valid repository index' },
        { name: 'echo-500', answer: { status: 500, body: secretBody }, says: 'answered HTTP 500' },
        { name: 'echo-401', answer: { status: 401, body: secretBody }, says: 'answered HTTP 401 (check spec.credentials)' },
      ];
      for (const { name, answer, says } of cases) {
        c.answer = answer;
        await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name }, spec: { url: `${c.url}/${name}`, interval: '1h' } } });
        const message = await failure(name);
        expect(message, name).toContain(says);
        expect(message, name).not.toContain('internal-secret');
        expect(message, name).not.toContain('<html>');
      }
    } finally {
      await c.close();
    }
    const closed = await recordingServer();
    await closed.close();
    await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'unreachable' }, spec: { url: `${closed.url}/x`, interval: '1h' } } });
    expect(await failure('unreachable')).toContain('could not connect or the connection broke (ECONNREFUSED)');
  });

  it('says the same for a file:// path that is missing and one that cannot be read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mortise-repo-probe-'));
    try {
      mkdirSync(join(dir, 'dir-index', 'index.yaml'), { recursive: true }); // index.yaml is a directory: EISDIR
      writeFileSync(join(dir, 'a-file'), 'x'); // a path through a file: ENOTDIR
      const paths = { missing: join(dir, 'nothing-here'), directory: join(dir, 'dir-index'), 'through-a-file': join(dir, 'a-file', 'sub') };
      const messages: string[] = [];
      for (const [name, path] of Object.entries(paths)) {
        await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: `probe-${name}` }, spec: { url: `file://${path}`, interval: '1h' } } });
        messages.push((await failure(`probe-${name}`)).replace(path, '<path>'));
      }
      expect(new Set(messages).size).toBe(1);
      expect(messages[0]).toContain('missing or unreadable');
      expect(messages[0]).not.toMatch(/ENOENT|EISDIR|ENOTDIR|no such file|directory/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('downloads a private repository\'s packages with its credentials, as it reads its index', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mortise-private-repo-'));
    try {
      const src = join(work, 'private-ext');
      mkdirSync(src, { recursive: true });
      writeFileSync(join(src, 'extension.yaml'), 'apiVersion: mortise.io/v1alpha1\nkind: Extension\nname: private-ext\nversion: 1.0.0\ndisplayName: Private\ndescription: offered by a repository that needs a token\ncategory: examples\nprovider: {name: Tester}\nlicense: MIT\nengines: {mortise: ">=0.1.0"}\n');
      const packed = await packExtension(src, { outDir: join(work, 'packages') });
      const privateIndex = serializeRepositoryIndex(addToIndex({ apiVersion: 'v1', generated: new Date().toISOString(), entries: {}, categories: [] }, packed.manifest, { digest: packed.sha256, url: 'packages/private-ext-1.0.0.tgz' }));
      const seen: Array<{ path: string; authorized: boolean }> = [];
      const server = createServer((req, res) => {
        const authorized = req.headers.authorization === 'Bearer private-token-5b1c';
        seen.push({ path: req.url ?? '', authorized });
        if (!authorized) return void res.writeHead(401).end();
        if (req.url === '/repo/index.yaml') return void res.writeHead(200, { 'content-type': 'application/yaml' }).end(privateIndex);
        if (req.url === '/repo/packages/private-ext-1.0.0.tgz') return void res.writeHead(200, { 'content-type': 'application/gzip' }).end(readFileSync(packed.file));
        res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/repo`;
        expect((await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'private' }, spec: { url, interval: '1h', credentials: { bearerToken: 'private-token-5b1c' } } } })).status).toBe(201);
        await eventually(async () => (await t.api(`${ext}/extensionversions/private-ext-1.0.0`)).status === 200, 10_000, 'private repository synced');
        expect((await t.api(`${ext}/installplans`, { method: 'POST', json: { metadata: { name: 'private-ext' }, spec: { extension: { name: 'private-ext', version: '1.0.0' }, enabled: true } } })).status).toBe(201);
        const state = await eventually(async () => {
          const plan = (await (await t.api(`${ext}/installplans/private-ext`)).json()) as { status?: { state?: string; message?: string } };
          return plan.status?.state === 'Installed' || plan.status?.state === 'InstallFailed' ? plan.status : undefined;
        }, 20_000, 'private-ext installed or failed');
        expect(state.state, state.message).toBe('Installed');
        expect(seen.filter((s) => s.path.endsWith('.tgz'))).toContainEqual({ path: '/repo/packages/private-ext-1.0.0.tgz', authorized: true });
        expect(seen.filter((s) => !s.authorized)).toEqual([]);
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('never let a secret of A reach B', () => {
    const leaked = b.seen.filter((s) => s.authorization && !s.authorization.includes('token-for-b'));
    expect(leaked).toEqual([]);
  });
});
