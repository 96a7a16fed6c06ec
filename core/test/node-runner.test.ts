import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { addToIndex, freePort, packExtension, parseRepositoryIndex, serializeRepositoryIndex } from '@mortise/extension-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageUrl } from '../src/extensions/package-routes.js';
import { eventually, login, startTestCore, type TestCore } from './support/test-core.js';

// The stock Node runner (what deploy/node-runner/Dockerfile runs in a backend's pod), as a real
// child process against a real core: it fetches the package from the core's package URL with the
// backend's service-account token, checks the digest, unpacks and runs the entry confined.

const runnerBin = resolve(import.meta.dirname, '..', '..', 'extension-sdk', 'bin', 'mortise-node-runner.js');
const ext = '/apis/extensions.mortise.io/v1alpha1';

/** A backend with no dependencies: it answers /healthz and says where and how it runs. */
const serverJs = `import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  let wrote = false, readOutside = false;
  try { writeFileSync(process.env.MORTISE_DATA_DIR + '/note', 'hi'); wrote = true; } catch {}
  try { readFileSync('/etc/hostname'); readOutside = true; } catch {}
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ cwd: process.cwd(), execArgv: process.execArgv, env: process.env, wrote, readOutside }));
});
server.listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

interface Run {
  code: number | null;
  stderr: string;
}

describe('the stock Node runner against a real core', () => {
  let t: TestCore;
  const work = mkdtempSync(join(tmpdir(), 'mortise-runner-'));
  let digest = '';
  let token = '';

  const runnerEnv = (over: Record<string, string> = {}) => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    MORTISE_PACKAGE_URL: packageUrl(t.url, 'plain-node', '1.0.0'),
    MORTISE_PACKAGE_DIGEST: digest,
    MORTISE_PACKAGE_ENTRY: 'server.mjs',
    MORTISE_PACKAGE_DIR: mkdtempSync(join(work, 'unpacked-')),
    MORTISE_DATA_DIR: mkdtempSync(join(work, 'data-')),
    MORTISE_TOKEN: token,
    HOST: '127.0.0.1',
    ...over,
  });
  const runToEnd = (env: Record<string, string>) =>
    new Promise<Run>((done) => {
      const child = spawn(process.execPath, [runnerBin], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('exit', (code) => done({ code, stderr }));
    });

  beforeAll(async () => {
    const src = join(work, 'src', 'plain-node');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'extension.yaml'), 'apiVersion: mortise.io/v1alpha1\nkind: Extension\nname: plain-node\nversion: 1.0.0\ndisplayName: Plain\ndescription: a backend without dependencies\ncategory: examples\nprovider: {name: Tester}\nlicense: MIT\nengines: {mortise: ">=0.1.0"}\nbackend: {entry: server.mjs, healthPath: /healthz}\n');
    writeFileSync(join(src, 'server.mjs'), serverJs);
    const repo = join(work, 'repo');
    const packed = await packExtension(src, { outDir: join(repo, 'packages') });
    digest = packed.sha256;
    const index = addToIndex(parseRepositoryIndex(serializeRepositoryIndex({ apiVersion: 'v1', generated: new Date().toISOString(), entries: {}, categories: [] })), packed.manifest, {
      digest, url: 'packages/plain-node-1.0.0.tgz',
    });
    writeFileSync(join(repo, 'index.yaml'), serializeRepositoryIndex(index));

    t = await startTestCore();
    expect((await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'local' }, spec: { url: `file://${repo}` } } })).status).toBe(201);
    await eventually(async () => (await t.api(`${ext}/extensionversions/plain-node-1.0.0`)).status === 200, 10_000, 'repository synced');
    // Installed disabled: the core keeps its package (and its service account) without running it here.
    expect((await t.api(`${ext}/installplans`, { method: 'POST', json: { metadata: { name: 'plain-node' }, spec: { extension: { name: 'plain-node', version: '1.0.0' }, enabled: false } } })).status).toBe(201);
    await eventually(async () => ((await (await t.api(`${ext}/installplans/plain-node`)).json()) as { status?: { state?: string } }).status?.state === 'Disabled', 30_000, 'installed (disabled)');
    // The token the installer gives the backend: its service account's.
    token = await t.core.tokens.sign({ sub: 'extension-plain-node', token_use: 'access' }, 'mortise-extension', 3600);
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('fetches the package with the backend token, checks its digest and runs the entry confined', async () => {
    const port = await freePort();
    const env = runnerEnv({ PORT: String(port) });
    const child = spawn(process.execPath, [runnerBin], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((done) => child.once('exit', done));
    try {
      await eventually(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200, 15_000, `the backend to answer (runner stderr: ${stderr})`);
      const info = (await (await fetch(`http://127.0.0.1:${port}/info`)).json()) as { cwd: string; execArgv: string[]; env: Record<string, string>; wrote: boolean; readOutside: boolean };
      expect(info.cwd).toBe(join(env.MORTISE_PACKAGE_DIR, digest));
      expect(info.execArgv.some((a) => a === '--permission' || a === '--experimental-permission')).toBe(true);
      expect(info).toMatchObject({ wrote: true, readOutside: false });
      // The backend gets its token and data dir, not the runner's own settings.
      expect(info.env).toMatchObject({ MORTISE_TOKEN: token, MORTISE_DATA_DIR: env.MORTISE_DATA_DIR, HOME: env.MORTISE_DATA_DIR });
      expect(Object.keys(info.env).filter((k) => k.startsWith('MORTISE_PACKAGE_'))).toEqual([]);
      // Nothing but the unpacked package is left in the package dir (the download is gone).
      expect(readdirSync(env.MORTISE_PACKAGE_DIR)).toEqual([digest]);
    } finally {
      child.kill('SIGTERM');
    }
    // SIGTERM goes on to the backend, which ends cleanly; the runner exits as it did.
    expect(await exited).toBe(0);
  });

  it('refuses a package whose digest is not the one in its spec, saying both, and unpacks nothing', async () => {
    const wrong = 'ab'.repeat(32);
    const env = runnerEnv({ MORTISE_PACKAGE_DIGEST: wrong, PORT: String(await freePort()) });
    const run = await runToEnd(env);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`mortise-node-runner: refusing to run the package from ${env.MORTISE_PACKAGE_URL}: its sha256 is ${digest}, but the backend's spec says ${wrong}`);
    expect(readdirSync(env.MORTISE_PACKAGE_DIR)).toEqual([]);
    expect(existsSync(join(env.MORTISE_DATA_DIR, 'note'))).toBe(false);
  });

  it("is refused the package without the extension's own token, and says what the core answered", async () => {
    await t.api('/apis/iam.mortise.io/v1alpha1/users', { method: 'POST', json: { metadata: { name: 'carol' }, spec: { password: 'carol-password-1' } } });
    const carol = await login(t.url, 'carol', 'carol-password-1');
    const run = await runToEnd(runnerEnv({ MORTISE_TOKEN: carol, PORT: String(await freePort()) }));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/answered 403: .*carol/);
  });

  it('names every missing setting at once', async () => {
    const run = await runToEnd({ PATH: process.env.PATH ?? '/usr/bin:/bin', MORTISE_PACKAGE_DIGEST: 'nothex' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('MORTISE_PACKAGE_URL is not set');
    expect(run.stderr).toContain('MORTISE_TOKEN is not set');
    expect(run.stderr).toContain('MORTISE_PACKAGE_DIGEST must be a sha256 in hex');
  });

  it('serves only versions the InstallPlan keeps, with a Status saying so', async () => {
    const res = await t.api(`/kapis/extensions.mortise.io/v1alpha1/extensions/plain-node/package?version=9.9.9`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ kind: 'Status', code: 404, message: expect.stringContaining('9.9.9') });
    const missing = await t.api(`/kapis/extensions.mortise.io/v1alpha1/extensions/plain-node/package`);
    expect(missing.status).toBe(400);
    const served = await t.api(`/kapis/extensions.mortise.io/v1alpha1/extensions/plain-node/package?version=1.0.0`);
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('application/gzip');
  });
});
