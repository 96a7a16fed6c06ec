import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreApiError } from '../src/index.js';
import { findCoreEntry, InstallFailedError, startTestPlatform, type TestPlatform } from '../src/testing/index.js';

// The ISV's test harness, used as an ISV would: a real core as a child process, an extension
// installed from its directory, made-up users. The backend under test exercises what the backend
// helper promises once it runs confined by the core's runtime.

// What `npm start` runs, and what the harness starts by default (`@mortise/core/main`).
const bundledCore = fileURLToPath(new URL('../../core/dist/bundle/main.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'mortise-harness-'));

function extension(name: string, server: string, manifest: Record<string, unknown> = {}): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'extension.yaml'), stringify({
    apiVersion: 'mortise.io/v1alpha1', kind: 'Extension', name, version: '1.0.0', displayName: name, description: 'under test',
    category: 'demo', provider: { name: 'Acme' }, license: 'MIT', engines: { mortise: '>=0.1.0' },
    backend: { entry: 'server.mjs', healthPath: '/ready' }, reverseProxies: [{ prefix: `/proxy/${name}/`, stripPrefix: true }], ...manifest,
  }));
  writeFileSync(join(dir, 'README.md'), `# ${name}\n`);
  writeFileSync(join(dir, 'server.mjs'), server);
  return dir;
}

const notesServer = `
import { writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createExtensionBackend } from '@mortise/extension-sdk';
const backend = createExtensionBackend();
backend.router.get('/whoami', (ctx) => { ctx.body = { ...ctx.state.identity, healthPath: backend.healthPath }; });
backend.router.post('/notes', async (ctx) => {
  await writeFile(join(backend.dataDir, 'note.json'), JSON.stringify(ctx.request.body));
  ctx.status = 201;
  ctx.body = JSON.parse(await readFile(join(backend.dataDir, 'note.json'), 'utf8'));
});
backend.router.get('/escape', async (ctx) => { await writeFile('/tmp/escaped-' + process.pid, 'x'); ctx.body = 'written'; });
backend.router.get('/namespaces', async (ctx) => { ctx.body = await backend.core.get('/api/v1/namespaces'); });
await backend.listen();
`;

describe('@mortise/extension-sdk/testing', () => {
  let platform: TestPlatform;
  beforeAll(async () => {
    // The default core, as an ISV's tests get it (MORTISE_CORE_ENTRY would override it).
    delete process.env.MORTISE_CORE_ENTRY;
    platform = await startTestPlatform();
  }, 60_000);
  afterAll(async () => {
    await platform?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('starts the bundled core by default, the one `npm start` runs, not tsc\'s output', () => {
    // @mortise/core/main is run for its side effects (the harness spawns `node <entry>`), so the
    // bundle stands in for core/dist/main.js: about half the start time and CPU (docs/benchmarks.md).
    expect(realpathSync(findCoreEntry())).toBe(realpathSync(bundledCore));
  });

  it('installs an extension from its directory and reaches it through the gateway as made-up users', async () => {
    const installed = await platform.install(extension('acme-notes', notesServer));
    expect(installed).toMatchObject({ name: 'acme-notes', version: '1.0.0', status: { state: 'Installed', installedVersion: '1.0.0' } });
    const alice = await platform.user('alice', { globalRoles: ['platform-regular'] });
    expect(await alice.json('/proxy/acme-notes/whoami')).toEqual({ username: 'alice', groups: expect.arrayContaining(['system:authenticated']), healthPath: '/ready' });
    expect(await alice.json('/proxy/acme-notes/notes', { json: { title: 'first' } })).toEqual({ title: 'first' });
    const bad = await alice.fetch('/proxy/acme-notes/notes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ kind: 'Status', reason: 'BadRequest' });
    // The typed client of the core's own API, as that user.
    await expect(alice.core.get('/apis/iam.mortise.io/v1alpha1/users')).rejects.toBeInstanceOf(CoreApiError);
    expect(((await platform.admin.core.get('/apis/iam.mortise.io/v1alpha1/users/alice')) as { metadata: { name: string } }).metadata.name).toBe('alice');
  });

  it('a permission the manifest lacks is a 403 naming it, and in the log; a write outside the data dir says so', async () => {
    const bob = await platform.user('bob');
    const denied = await platform.admin.fetch('/proxy/acme-notes/namespaces');
    expect(denied.status).toBe(403);
    const status = (await denied.json()) as { message: string };
    expect(status.message).toMatch(/^the extension acme-notes may not GET \/api\/v1\/namespaces: .*namespaces.*extension.yaml declares\)$/);
    const escaped = await platform.admin.fetch('/proxy/acme-notes/escape');
    expect(escaped.status).toBe(500);
    expect(((await escaped.json()) as { message: string }).message).toMatch(/^the extension acme-notes tried to write \/tmp\/escaped-\d+, outside its data directory; a backend may write only under \/.*acme-notes/);
    const logs = await platform.logs('acme-notes');
    expect(logs).toContain('"event":"permission-denied"');
    expect(logs).toContain('"event":"write-denied"');
    // The log is for the platform's admins, not for any user.
    expect((await bob.fetch('/kapis/extensions.mortise.io/v1alpha1/extensions/acme-notes/logs')).status).toBe(403);
  });

  it('a backend that crashes on every start fails the install at once, saying it is crash-looping, with its last lines', async () => {
    const dir = extension('acme-crash', `console.error('loading the notes index');\nthrow new Error('the notes index is corrupt');\n`);
    // Well within the runtime's 60 s startup deadline, which a silent retry would wait out.
    const err = await platform.install(dir, { timeoutMs: 30_000 }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(InstallFailedError);
    const message = (err as Error).message;
    expect(message).toContain('installing acme-crash 1.0.0 failed: installing 1.0.0 failed: the backend did not become ready: backend acme-crash@1.0.0 is crash-looping: 3 starts ended the same way before it was ready: exited with code 1: Error: the notes index is corrupt');
    expect(message).toContain('(last output: ');
    expect(message).toContain('loading the notes index');
  });
});
