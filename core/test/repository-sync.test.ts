import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packExtension, parseRepositoryIndex, publishPackage, serializeRepositoryIndex } from '@mortise/extension-sdk';
import { createMarketplaceServer, type MarketplaceServer } from '@mortise/marketplace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundledRepository } from '../src/extensions/bundled-repository.js';
import { createLogger } from '../src/ops/logger.js';
import { eventually, startTestCore, type TestCore } from './support/test-core.js';

const ext = '/apis/extensions.mortise.io/v1alpha1';

function extensionDir(root: string, name: string, version: string, engines = '>=0.1.0 <1.0.0', category = 'tools'): string {
  const dir = join(root, `${name}-${version}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'extension.yaml'), [
    'apiVersion: mortise.io/v1alpha1', 'kind: Extension', `name: ${name}`, `version: ${version}`,
    `displayName: {en: "${name} display"}`, `description: {en: "the ${name} extension"}`, `category: ${category}`,
    'keywords: [sync, test]', 'provider: {name: Tester}', 'license: MIT', `engines: {mortise: "${engines}"}`, '',
  ].join('\n'));
  writeFileSync(join(dir, 'README.md'), `# ${name}\n`);
  return dir;
}

describe('repository sync', () => {
  let t: TestCore;
  let market: MarketplaceServer;
  let marketUrl = '';
  const work = mkdtempSync(join(tmpdir(), 'mortise-sync-'));
  const get = async <T>(path: string) => (await (await t.api(path)).json()) as T;

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    market = await createMarketplaceServer({ dataDir: join(work, 'market'), tokens: [{ token: 'publish-token' }], logLevel: 'silent' });
    const addr = await market.listen(0, '127.0.0.1');
    marketUrl = `http://127.0.0.1:${addr.port}`;
  });
  afterAll(async () => {
    await t?.close();
    await market?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('pack → publish → sync: the Extension appears with its versions and recommendations', async () => {
    for (const [v, engines] of [['1.0.0', '>=0.1.0'], ['1.1.0', '>=0.1.0'], ['2.0.0', '>=2.0.0']] as const) {
      const packed = await packExtension(extensionDir(work, 'metrics', v, engines), { outDir: join(work, 'out') });
      await publishPackage({ marketplaceUrl: marketUrl, token: 'publish-token', package: packed.file });
    }
    const res = await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'market' }, spec: { url: `${marketUrl}/main`, interval: '1h' } } });
    expect(res.status).toBe(201);
    const extension = await eventually(async () => {
      const r = await t.api(`${ext}/extensions/metrics`);
      return r.ok ? ((await r.json()) as { spec: { repository: string; keywords: string[] }; status: { versions: Array<{ version: string; compatible: boolean }>; latestVersion: string; recommendedVersion: string } }) : undefined;
    }, 10_000, 'extension synced');
    expect(extension.spec.repository).toBe('market');
    expect(extension.status.versions.map((v) => v.version)).toEqual(['2.0.0', '1.1.0', '1.0.0']);
    expect(extension.status.latestVersion).toBe('2.0.0');
    // 2.0.0 needs a newer core: the recommendation is the newest that runs here.
    expect(extension.status.recommendedVersion).toBe('1.1.0');
    const versions = await get<{ items: Array<{ metadata: { name: string }; spec: { digest: string; url: string } }> }>(`${ext}/extensionversions?labelSelector=extensions.mortise.io/extension%3Dmetrics`);
    expect(versions.items.map((v) => v.metadata.name).sort()).toEqual(['metrics-1.0.0', 'metrics-1.1.0', 'metrics-2.0.0']);
    expect(versions.items[0]!.spec.digest).toMatch(/^[0-9a-f]{64}$/);
    const repo = await get<{ status: { extensions: number; conditions: Array<{ type: string; status: string }> } }>(`${ext}/repositories/market`);
    expect(repo.status.extensions).toBe(1);
    expect(repo.status.conditions[0]).toMatchObject({ type: 'Synced', status: 'True' });
    expect((await t.api(`${ext}/categories/tools`)).status).toBe(200);
  });

  it('searches the synced extensions under /kapis with ranking, filters and install state', async () => {
    const search = async (query: string) => ((await (await t.api(`/kapis/extensions.mortise.io/v1alpha1/extensions?${query}`)).json()) as { items: Array<{ metadata: { name: string }; search: { score: number }; installation: unknown }> }).items;
    expect((await search('q=metrics')).map((e) => e.metadata.name)).toEqual(['metrics']);
    expect((await search('q=met'))[0]!.search.score).toBe(50);
    expect((await search('q=sync'))[0]!.metadata.name).toBe('metrics'); // a keyword
    expect(await search('q=nothing-like-this')).toEqual([]);
    expect((await search('category=tools')).map((e) => e.metadata.name)).toEqual(['metrics']);
    expect(await search('category=other')).toEqual([]);
    expect((await search('installed=false')).map((e) => e.metadata.name)).toEqual(['metrics']);
    expect((await search('q=metrics'))[0]!.installation).toBeNull();
    expect((await t.api('/kapis/extensions.mortise.io/v1alpha1/extensions?installed=maybe')).status).toBe(400);
  });

  it('keeps repository credentials write-only', async () => {
    const created = await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'private' }, spec: { url: `${marketUrl}/main`, interval: '1h', credentials: { username: 'reader', password: 'hunter22-secret' } } } });
    expect(created.status).toBe(201);
    for (const body of [await created.text(), await (await t.api(`${ext}/repositories/private`)).text(), await (await t.api(`${ext}/repositories`)).text()]) {
      expect(body).not.toContain('hunter22-secret');
    }
    expect(((await (await t.api(`${ext}/repositories/private`)).json()) as { spec: { credentials: object } }).spec.credentials).toEqual({ username: 'reader' });
    // An update that leaves the password out keeps it (the controller still has it).
    const got = (await (await t.api(`${ext}/repositories/private`)).json()) as { spec: Record<string, unknown> };
    await t.api(`${ext}/repositories/private`, { method: 'PUT', json: { ...got, spec: { ...got.spec, interval: '2h' } } });
    const stored = await t.core.store.get({ group: 'extensions.mortise.io', resource: 'repositories', namespace: '', name: 'private' });
    expect((stored!.spec as { credentials: { password: string } }).credentials.password).toBe('hunter22-secret');
    await t.api(`${ext}/repositories/private`, { method: 'DELETE' });
  });

  it('a yanked version leaves the recommendations after a requested sync', async () => {
    const yank = await fetch(`${marketUrl}/api/v1/repositories/main/extensions/metrics/versions/1.1.0/yank`, {
      method: 'POST', headers: { authorization: 'Bearer publish-token', 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'broken' }),
    });
    expect(yank.ok).toBe(true);
    await t.api(`${ext}/repositories/market`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { metadata: { annotations: { 'extensions.mortise.io/sync-requested-at': new Date().toISOString() } } } });
    const extension = await eventually(async () => {
      const e = await get<{ status: { recommendedVersion?: string; versions: Array<{ version: string; yanked: boolean }> } }>(`${ext}/extensions/metrics`);
      return e.status.recommendedVersion === '1.0.0' ? e : undefined;
    }, 10_000, 'yank synced');
    expect(extension.status.versions.find((v) => v.version === '1.1.0')?.yanked).toBe(true);
  });

  it('a repository that goes down says why and keeps its last good data', async () => {
    await market.close();
    await t.api(`${ext}/repositories/market`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { metadata: { annotations: { 'extensions.mortise.io/sync-requested-at': new Date().toISOString() } } } });
    const repo = await eventually(async () => {
      const r = await get<{ status: { conditions: Array<{ type: string; status: string; reason: string; message: string }> } }>(`${ext}/repositories/market`);
      return r.status.conditions[0]?.status === 'False' ? r : undefined;
    }, 10_000, 'failure recorded');
    expect(repo.status.conditions[0]!.reason).toBe('FetchFailed');
    expect(repo.status.conditions[0]!.message).toContain('keeping the data of the last successful sync');
    expect((await t.api(`${ext}/extensions/metrics`)).status).toBe(200);
    expect((await get<{ items: unknown[] }>(`${ext}/extensionversions`)).items.length).toBe(3);
  });

  it('syncs a file:// repository and drops versions the index no longer lists', async () => {
    const repoDir = join(work, 'airgap');
    const built = await buildBundledRepository([join(work, 'airgap-src')], repoDir, createLogger({ level: 'silent' }));
    expect(built.extensions).toEqual([]);
    extensionDir(join(work, 'airgap-src'), 'offline', '0.1.0');
    extensionDir(join(work, 'airgap-src'), 'notes', '0.2.0', '>=0.1.0', 'docs');
    await buildBundledRepository([join(work, 'airgap-src')], repoDir, createLogger({ level: 'silent' }));
    await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'airgap' }, spec: { url: `file://${repoDir}` } } });
    await eventually(async () => (await t.api(`${ext}/extensions/notes`)).status === 200, 10_000, 'file repository synced');
    // Remove one extension from the index: its objects go on the next sync.
    const indexPath = join(repoDir, 'index.yaml');
    const index = parseRepositoryIndex(readFileSync(indexPath, 'utf8'));
    delete index.entries.notes;
    writeFileSync(indexPath, serializeRepositoryIndex(index));
    await t.api(`${ext}/repositories/airgap`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { metadata: { annotations: { 'extensions.mortise.io/sync-requested-at': new Date().toISOString() } } } });
    await eventually(async () => (await t.api(`${ext}/extensions/notes`)).status === 404, 10_000, 'removed extension gone');
    expect((await t.api(`${ext}/extensionversions/notes-0.2.0`)).status).toBe(404);
    expect((await t.api(`${ext}/extensions/offline`)).status).toBe(200);
    // Deleting the repository deletes what it brought.
    await t.api(`${ext}/repositories/airgap`, { method: 'DELETE' });
    await eventually(async () => (await t.api(`${ext}/extensions/offline`)).status === 404, 10_000, 'cascade');
  });

  it('says so when a second repository offers an extension another provides, and the first keeps it', async () => {
    type Repo = { status: { extensions: number; conflicts?: Array<{ extension: string; repository: string }>; conditions: Array<{ type: string; status: string; reason: string; message: string }> } };
    const build = async (name: string) => {
      extensionDir(join(work, `${name}-src`), 'shared-tool', '1.0.0');
      extensionDir(join(work, `${name}-src`), `${name}-only`, '1.0.0');
      await buildBundledRepository([join(work, `${name}-src`)], join(work, name), createLogger({ level: 'silent' }));
      expect((await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name }, spec: { url: `file://${join(work, name)}`, interval: '1h' } } })).status).toBe(201);
    };
    await build('first-repo');
    await eventually(async () => (await t.api(`${ext}/extensions/shared-tool`)).status === 200, 10_000, 'first repository synced');
    await build('second-repo');
    const second = await eventually(async () => {
      const r = await get<Repo>(`${ext}/repositories/second-repo`);
      return r.status?.conditions?.some((c) => c.type === 'Synced') ? r : undefined;
    }, 10_000, 'second repository synced');
    expect(second.status.extensions).toBe(1);
    expect(second.status.conflicts).toEqual([{ extension: 'shared-tool', repository: 'first-repo' }]);
    const synced = second.status.conditions.find((c) => c.type === 'Synced')!;
    expect(synced).toMatchObject({ status: 'True', reason: 'SyncedWithConflicts' });
    expect(synced.message).toContain('"shared-tool" (provided by repository "first-repo")');
    const conflicting = second.status.conditions.find((c) => c.type === 'Conflicting')!;
    expect(conflicting).toMatchObject({ status: 'True', reason: 'OfferedByAnotherRepository' });
    expect(conflicting.message).toContain('the first repository to offer an extension keeps it');
    expect((await get<{ spec: { repository: string } }>(`${ext}/extensions/shared-tool`)).spec.repository).toBe('first-repo');
    expect((await get<{ spec: { repository: string } }>(`${ext}/extensions/second-repo-only`)).spec.repository).toBe('second-repo');
    const first = await get<Repo>(`${ext}/repositories/first-repo`);
    expect(first.status.conflicts).toEqual([]);
    expect(first.status.conditions.find((c) => c.type === 'Conflicting')).toMatchObject({ status: 'False' });

    // When the first goes, the second takes the extension on its next sync and the conflict clears.
    await t.api(`${ext}/repositories/first-repo`, { method: 'DELETE' });
    await eventually(async () => (await t.api(`${ext}/extensions/shared-tool`)).status === 404, 10_000, 'first repository\'s extension gone');
    await t.api(`${ext}/repositories/second-repo`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { metadata: { annotations: { 'extensions.mortise.io/sync-requested-at': new Date().toISOString() } } } });
    const after = await eventually(async () => {
      const r = await get<Repo>(`${ext}/repositories/second-repo`);
      return r.status.conflicts?.length === 0 ? r : undefined;
    }, 10_000, 'conflict cleared');
    expect(after.status.conditions.find((c) => c.type === 'Conflicting')).toMatchObject({ status: 'False' });
    expect((await get<{ spec: { repository: string } }>(`${ext}/extensions/shared-tool`)).spec.repository).toBe('second-repo');
    await t.api(`${ext}/repositories/second-repo`, { method: 'DELETE' });
  });

  it('bundles the examples shipped in this repository', async () => {
    const dir = join(work, 'bundled');
    const built = await buildBundledRepository([join(import.meta.dirname, '..', '..', 'examples')], dir, createLogger({ level: 'silent' }));
    expect(built.extensions).toContain('hello-world');
    const index = parseRepositoryIndex(readFileSync(join(dir, 'index.yaml'), 'utf8'));
    const first = index.entries['hello-world']![0]!;
    // Rebuilding an unchanged extension keeps its digest and publication time.
    await buildBundledRepository([join(import.meta.dirname, '..', '..', 'examples')], dir, createLogger({ level: 'silent' }));
    const again = parseRepositoryIndex(readFileSync(join(dir, 'index.yaml'), 'utf8')).entries['hello-world']![0]!;
    expect(again.digest).toBe(first.digest);
    expect(again.created).toBe(first.created);
  });
});
