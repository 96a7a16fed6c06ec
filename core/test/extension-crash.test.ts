import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildBundledRepository } from '../src/extensions/bundled-repository.js';
import { createLogger } from '../src/ops/logger.js';
import { startChildCore, type ChildCore } from './support/child-core.js';
import { call, eventually, login } from './support/test-core.js';

const ext = '/apis/extensions.mortise.io/v1alpha1';
const helloWorld = join(import.meta.dirname, '..', '..', 'examples', 'hello-world');

/** Backends of hello-world running anywhere on this machine for this data dir. */
function backendProcesses(dataDir: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(join(dataDir, 'extensions', 'unpacked', 'hello-world'))).map((l) => Number(l.trim().split(/\s+/)[0]));
}

describe('a core killed during install or upgrade converges on restart', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mortise-crash-'));
  let core: ChildCore | undefined;
  const env = { MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: 'crash-admin-password', MORTISE_ISSUER: 'http://mortise.test', MORTISE_LOG_LEVEL: 'warn' };
  const made = [dataDir];
  afterAll(async () => {
    await core?.stop('SIGTERM');
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });

  const state = async (c: ChildCore, token: string) => {
    const r = await call(c.url, token, `${ext}/installplans/hello-world`);
    return r.ok ? ((await r.json()) as { status?: { state?: string; installedVersion?: string } }).status : undefined;
  };

  it('install: SIGKILL right after the plan is created, restart, and it is installed and serving', async () => {
    core = await startChildCore(env);
    let token = await login(core.url, 'admin', env.MORTISE_ADMIN_PASSWORD);
    // The bundled repository (examples/) offers hello-world.
    await eventually(async () => (await call(core!.url, token, `${ext}/extensionversions/hello-world-0.1.0`)).status === 200, 15_000, 'bundled repository synced');
    const res = await call(core.url, token, `${ext}/installplans`, { method: 'POST', json: { metadata: { name: 'hello-world' }, spec: { extension: { name: 'hello-world', version: '0.1.0' }, enabled: true } } });
    expect(res.status).toBe(201);
    await eventually(async () => (await state(core!, token))?.state !== 'Pending', 10_000, 'installer started');
    core.child.kill('SIGKILL');
    await core.exited;

    // Without packing the bundled repository again: registered late, it would put its own URL back
    // over the one the next case gives it (it did, now and then: 0.2.0 was never offered, or an
    // upgrade half done found its version gone after the restart).
    core = await startChildCore({ ...env, MORTISE_BUNDLED_REPOSITORY: 'off' });
    token = await login(core.url, 'admin', env.MORTISE_ADMIN_PASSWORD);
    await eventually(async () => (await state(core!, token))?.state === 'Installed', 30_000, 'converged');
    const hello = await eventually(async () => {
      const r = await call(core!.url, token, '/proxy/hello-world/hello');
      return r.ok ? ((await r.json()) as { user: string }) : undefined;
    }, 15_000, 'serving');
    expect(hello.user).toBe('admin');
    // The backend the killed core left behind was not duplicated.
    await eventually(async () => backendProcesses(dataDir).length === 1, 10_000, 'one backend process');
  });

  it('upgrade: SIGKILL mid-upgrade, restart, and it runs the new version alone', { timeout: 90_000 }, async () => {
    let token = await login(core!.url, 'admin', env.MORTISE_ADMIN_PASSWORD);
    // A second version, from a file repository.
    const src = mkdtempSync(join(tmpdir(), 'mortise-crash-src-'));
    made.push(src);
    const dir = join(src, 'hello-world');
    cpSync(helloWorld, dir, { recursive: true, filter: (p) => !p.includes('node_modules') });
    writeFileSync(join(dir, 'extension.yaml'), readFileSync(join(dir, 'extension.yaml'), 'utf8').replace(/^version: .*$/m, 'version: 0.2.0').replace(/greeting: Hello$/m, 'greeting: Howdy'));
    const repo = join(src, 'repo');
    await buildBundledRepository([src], repo, createLogger({ level: 'silent' }));
    await call(core!.url, token, `${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'newer' }, spec: { url: `file://${repo}` } } });
    // The bundled repository already offers hello-world: the newer one is refused as a duplicate
    // source, so point the bundled repository at the newer directory instead.
    await call(core!.url, token, `${ext}/repositories/newer`, { method: 'DELETE' });
    await call(core!.url, token, `${ext}/repositories/bundled`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { url: `file://${repo}` } } });
    try {
      await eventually(async () => (await call(core!.url, token, `${ext}/extensionversions/hello-world-0.2.0`)).status === 200, 30_000, '0.2.0 offered');
    } catch (e) {
      // Say where the repository stood.
      const repository = await (await call(core!.url, token, `${ext}/repositories/bundled`)).text();
      throw new Error(`${(e as Error).message}\nthe repository: ${repository}\nthe core's log:\n${core!.stdout().split('\n').slice(-30).join('\n')}`);
    }
    await call(core!.url, token, `${ext}/installplans/hello-world`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { extension: { name: 'hello-world', version: '0.2.0' } } } });
    await eventually(async () => (await state(core!, token))?.state === 'Upgrading', 10_000, 'upgrading');
    core!.child.kill('SIGKILL');
    await core!.exited;

    // Restart without rebuilding the bundled repository (it would repoint it at examples/, 0.1.0):
    // the plan still asks for 0.2.0, which the repository offers and which was half installed.
    core = await startChildCore({ ...env, MORTISE_BUNDLED_REPOSITORY: 'off' });
    token = await login(core.url, 'admin', env.MORTISE_ADMIN_PASSWORD);
    try {
      await eventually(async () => {
        const s = await state(core!, token);
        return s?.state === 'Installed' && s.installedVersion === '0.2.0';
      }, 30_000, 'upgrade converged');
    } catch (e) {
      // Say where it stood.
      const plan = await (await call(core!.url, token, `${ext}/installplans/hello-world`)).text();
      const log = core!.stdout().split('\n').filter((l) => /install|upgrade|backend|"level":"(warn|error)"/i.test(l)).slice(-30).join('\n');
      throw new Error(`${(e as Error).message}\nthe plan: ${plan}\nthe core's log:\n${log}`);
    }
    const hello = await eventually(async () => {
      const r = await call(core!.url, token, '/proxy/hello-world/hello');
      return r.ok ? ((await r.json()) as { message: string }) : undefined;
    }, 15_000, 'serving 0.2.0');
    expect(hello.message).toBe('Howdy, admin!');
    await eventually(async () => backendProcesses(dataDir).length === 1, 10_000, 'only the new backend runs');
  });
});
