import { cpSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundledRepository } from '../src/extensions/bundled-repository.js';
import { createLogger } from '../src/ops/logger.js';
import { startChildCore, type ChildCore } from './support/child-core.js';
import { call, eventually, login } from './support/test-core.js';

const ext = '/apis/extensions.mortise.io/v1alpha1';
const helloWorld = join(import.meta.dirname, '..', '..', 'examples', 'hello-world');
const MiB = 1024 * 1024;

/** hello-world renamed "bulky"; a bulky version carries 96 MiB of zeros, so unpacking it takes a while. */
function bulkySource(root: string, version: string, bulky: boolean): void {
  const dir = join(root, `bulky-${version}`);
  cpSync(helloWorld, dir, { recursive: true, filter: (src) => !src.includes('node_modules') });
  writeFileSync(join(dir, 'extension.yaml'), readFileSync(join(dir, 'extension.yaml'), 'utf8')
    .replace(/^name: hello-world$/m, 'name: bulky').replace(/^version: .*$/m, `version: ${version}`).replace('/proxy/hello-world/', '/proxy/bulky/'));
  if (!bulky) return;
  mkdirSync(join(dir, 'data'));
  for (let i = 0; i < 24; i++) writeFileSync(join(dir, 'data', `blob-${i}.bin`), Buffer.alloc(4 * MiB));
}

/**
 * The repository over HTTP; while `stall` names a package, that package is sent half-way and
 * then never finished, so the core is caught mid-download.
 */
function repositoryServer(dir: string) {
  const state = { stall: '', stalled: false };
  const server = createServer((req, res) => {
    const file = join(dir, decodeURIComponent(new URL(req.url!, 'http://x').pathname));
    if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    const size = statSync(file).size;
    res.writeHead(200, { 'content-length': size });
    if (state.stall && file.endsWith(state.stall)) {
      res.write(readFileSync(file).subarray(0, Math.floor(size / 2)), () => (state.stalled = true));
      return; // never ends
    }
    createReadStream(file).pipe(res);
  });
  return { server, state };
}

const list = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

describe('a core killed during download or unpack leaves nothing the retention rule does not allow', () => {
  const work = mkdtempSync(join(tmpdir(), 'mortise-leftovers-'));
  const dataDir = join(work, 'data');
  const packages = join(dataDir, 'extensions', 'packages');
  const unpacked = join(dataDir, 'extensions', 'unpacked', 'bulky');
  // A cache of one byte: every archive no plan needs is evicted at once.
  const env = {
    MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: 'leftovers-admin-password', MORTISE_ISSUER: 'http://mortise.test', MORTISE_LOG_LEVEL: 'warn',
    MORTISE_BUNDLED_REPOSITORY: 'off', MORTISE_PACKAGE_CACHE_MAX_BYTES: '1',
  };
  let core: ChildCore | undefined;
  let token = '';
  let repo: ReturnType<typeof repositoryServer>;
  let repoUrl = '';

  const start = async () => {
    core = await startChildCore(env);
    token = await login(core.url, 'admin', env.MORTISE_ADMIN_PASSWORD);
  };
  const kill = async () => {
    core!.child.kill('SIGKILL');
    await core!.exited;
  };
  const status = async () => {
    const r = await call(core!.url, token, `${ext}/installplans/bulky`);
    return r.ok ? ((await r.json()) as { status?: { state?: string; installedVersion?: string } }).status : undefined;
  };
  const converged = (version: string) => eventually(async () => {
    const s = await status();
    return s?.state === 'Installed' && s.installedVersion === version;
  }, 60_000, `bulky ${version} installed`);
  const setVersion = (version: string) => call(core!.url, token, `${ext}/installplans/bulky`, {
    method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { extension: { name: 'bulky', version } } },
  });

  beforeAll(async () => {
    const src = join(work, 'src');
    bulkySource(src, '0.1.0', false);
    bulkySource(src, '0.2.0', true);
    bulkySource(src, '0.3.0', false);
    const repoDir = join(work, 'repo');
    await buildBundledRepository([src], repoDir, createLogger({ level: 'silent' }));
    repo = repositoryServer(repoDir);
    await new Promise<void>((resolve) => repo.server.listen(0, '127.0.0.1', resolve));
    repoUrl = `http://127.0.0.1:${(repo.server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await core?.stop('SIGTERM');
    repo.server.closeAllConnections();
    await new Promise((resolve) => repo.server.close(resolve));
    rmSync(work, { recursive: true, force: true });
  });

  it('download: SIGKILL mid-download (and what earlier crashes left), restart, and only the installed version remains', async () => {
    await start();
    await call(core!.url, token, `${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'http' }, spec: { url: repoUrl } } });
    await eventually(async () => (await call(core!.url, token, `${ext}/extensionversions/bulky-0.3.0`)).status === 200, 15_000, 'repository synced');
    repo.state.stall = 'bulky-0.1.0.tgz';
    await call(core!.url, token, `${ext}/installplans`, { method: 'POST', json: { metadata: { name: 'bulky' }, spec: { extension: { name: 'bulky', version: '0.1.0' }, enabled: true } } });
    await eventually(() => repo.state.stalled, 15_000, 'the download under way');
    await kill();
    // The download streams to a temporary file: the kill left it, torn.
    expect(list(packages)).toEqual([expect.stringMatching(/^bulky-0\.1\.0\.tgz\.[0-9a-f]{12}\.tmp$/)]);
    // What crashes at other moments leave: another torn archive, a staging directory, staged platform modules.
    writeFileSync(join(packages, 'bulky-0.3.0.tgz.0a0b0c0d0e0f.tmp'), Buffer.alloc(1903));
    mkdirSync(join(unpacked, '.0.1.0.partial-Xy12Ab', 'dist'), { recursive: true });
    mkdirSync(join(dataDir, 'extensions', 'unpacked', 'node_modules.staging-99999999'), { recursive: true });

    repo.state.stall = '';
    await start();
    await converged('0.1.0');
    expect(list(packages)).toEqual(['bulky-0.1.0.tgz']);
    expect(list(unpacked)).toEqual(['0.1.0']);
    expect(existsSync(join(dataDir, 'extensions', 'unpacked', 'node_modules.staging-99999999'))).toBe(false);
    expect((await call(core!.url, token, '/proxy/bulky/hello')).status).toBe(200);
  });

  it('unpack: SIGKILL mid-unpack of an upgrade, restart, and the new version runs with the previous one kept', async () => {
    const partial = new Promise<string>((resolve) => {
      const watcher = watch(unpacked, (_event, file) => {
        if (file?.startsWith('.0.2.0.partial-')) {
          core!.child.kill('SIGKILL');
          watcher.close();
          resolve(file);
        }
      });
    });
    expect((await setVersion('0.2.0')).status).toBe(200);
    const staging = await partial;
    await core!.exited;
    // The kill caught it unpacking: its staging directory is there, the version is not.
    expect(list(unpacked)).toContain(staging);
    expect(list(unpacked)).not.toContain('0.2.0');

    await start();
    await converged('0.2.0');
    // The running version and the previous one; archives both plans' versions need, nothing else.
    expect(list(unpacked)).toEqual(['0.1.0', '0.2.0']);
    expect(list(packages)).toEqual(['bulky-0.1.0.tgz', 'bulky-0.2.0.tgz']);
  });

  it('after another upgrade the oldest version goes; the cache API says what is kept and why; uninstall leaves nothing', async () => {
    expect((await setVersion('0.3.0')).status).toBe(200);
    await converged('0.3.0');
    await eventually(() => list(unpacked).join() === '0.2.0,0.3.0', 10_000, 'unpacked pruned');
    expect(list(packages)).toEqual(['bulky-0.2.0.tgz', 'bulky-0.3.0.tgz']);

    const cache = (await (await call(core!.url, token, '/kapis/extensions.mortise.io/v1alpha1/packagecache')).json()) as {
      limitBytes: number; archives: Array<{ file: string; neededBy?: string }>; unpacked: Array<{ version: string; kept: string | null }>; leftovers: unknown[];
    };
    expect(cache.limitBytes).toBe(1);
    expect(cache.archives.map((a) => [a.file, a.neededBy])).toEqual([['bulky-0.2.0.tgz', 'bulky'], ['bulky-0.3.0.tgz', 'bulky']]);
    expect(cache.unpacked.map((u) => [u.version, u.kept]).sort()).toEqual([['0.2.0', 'previous'], ['0.3.0', 'running']]);
    expect(cache.leftovers).toEqual([]);

    await call(core!.url, token, `${ext}/installplans/bulky`, { method: 'DELETE' });
    await eventually(async () => (await call(core!.url, token, `${ext}/installplans/bulky`)).status === 404, 20_000, 'uninstalled');
    expect(existsSync(unpacked)).toBe(false);
    expect(list(packages)).toEqual([]);
  });
});
