import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseRepositoryIndex, publishPackage } from '@mortise/extension-sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, getJson, packFixture, startMarketplace, tempDir, type RunningMarketplace } from './helpers/marketplace.js';

let work: string;
let cleanup: () => Promise<void>;
let market: RunningMarketplace;
const api = () => `${market.url}/api/v1/repositories/main`;

async function publish(overrides: Record<string, unknown>, minimal = true) {
  const packed = await packFixture(join(work, 'pkg', `${String(overrides.name ?? 'x')}-${String(overrides.version ?? '1.0.0')}`), overrides, { minimal });
  await publishPackage({ marketplaceUrl: market.url, token: ADMIN_TOKEN, package: packed.file });
  return packed;
}

async function yank(name: string, version: string, body: unknown, token = ADMIN_TOKEN) {
  const response = await fetch(`${api()}/extensions/${name}/versions/${version}/yank`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

beforeEach(async () => {
  ({ dir: work, cleanup } = await tempDir('mortise-market-'));
  market = await startMarketplace(join(work, 'data'), { downloadFlushIntervalMs: 20 });
});
afterEach(async () => {
  await market.close();
  await cleanup();
});

describe('search', () => {
  beforeEach(async () => {
    await publish({ name: 'tracer', description: 'Collects logs and traces', keywords: ['apm'], category: 'observability' });
    await publish({ name: 'monitor', keywords: ['metrics', 'log'], category: 'observability' });
    await publish({ name: 'logging', displayName: { en: 'Logging', zh: '日志' }, category: 'observability' });
    await publish({ name: 'log', category: 'storage' });
    await publish({ name: 'devops', description: 'Pipelines', category: 'ci-cd' });
  });

  it('ranks exact name > name prefix > keyword > text, and leaves out what does not match', async () => {
    const { body } = await getJson<{ total: number; items: Array<{ name: string; score: number }> }>(`${api()}/extensions?q=log`);
    expect(body.items.map((i) => i.name)).toEqual(['log', 'logging', 'monitor', 'tracer']);
    expect(body.total).toBe(4);
    const scores = body.items.map((i) => i.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    expect(new Set(scores).size).toBe(4);
  });

  it('matches display text in every language, case-insensitively, and multi-word queries', async () => {
    expect((await getJson<{ items: Array<{ name: string }> }>(`${api()}/extensions?q=${encodeURIComponent('日志')}`)).body.items.map((i) => i.name)).toEqual(['logging']);
    expect((await getJson<{ items: Array<{ name: string }> }>(`${api()}/extensions?q=PIPELINES`)).body.items.map((i) => i.name)).toEqual(['devops']);
    expect((await getJson<{ items: Array<{ name: string }> }>(`${api()}/extensions?q=traces%20collects`)).body.items.map((i) => i.name)).toEqual(['tracer']);
  });

  it('filters by category and keyword, and lists everything without a query', async () => {
    const byCategory = await getJson<{ items: Array<{ name: string }> }>(`${api()}/extensions?category=observability&q=log`);
    expect(byCategory.body.items.map((i) => i.name)).toEqual(['logging', 'monitor', 'tracer']);
    const byKeyword = await getJson<{ items: Array<{ name: string }> }>(`${api()}/extensions?keyword=metrics`);
    expect(byKeyword.body.items.map((i) => i.name)).toEqual(['monitor']);
    const all = await getJson<{ total: number; items: Array<{ name: string }> }>(`${api()}/extensions?limit=2&offset=1`);
    expect(all.body.total).toBe(5);
    expect(all.body.items.map((i) => i.name)).toEqual(['log', 'logging']);
    expect((await getJson(`${api()}/extensions?limit=0`)).status).toBe(400);
  });

  it('lists categories with counts', async () => {
    expect((await getJson(`${api()}/categories`)).body).toEqual({
      items: [
        { name: 'ci-cd', count: 1 },
        { name: 'observability', count: 3 },
        { name: 'storage', count: 1 },
      ],
    });
  });
});

describe('extension details, files and downloads', () => {
  it('shows versions, README, icon and screenshot URLs, and download counts that survive a restart', async () => {
    await publish({ version: '1.0.0' }, false);
    const latest = await publish({ version: '1.1.0' }, false);
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${market.url}/main/packages/devops-1.1.0.tgz`);
      expect(Buffer.from(await response.arrayBuffer()).equals(await readFile(latest.file))).toBe(true);
    }
    await (await fetch(`${market.url}/main/packages/devops-1.0.0.tgz`)).arrayBuffer();

    const { body } = await getJson<Record<string, any>>(`${api()}/extensions/devops`);
    expect(body).toMatchObject({
      name: 'devops',
      latestVersion: '1.1.0',
      readme: '# devops\n\nBuilds things.\n',
      iconUrl: `${api()}/extensions/devops/icon`,
      screenshots: [`${api()}/extensions/devops/files/assets/shot-1.png`, 'https://cdn.acme.example/shot-2.png'],
      downloads: 4,
      homepage: 'https://acme.example/devops',
    });
    expect(body.versions.map((v: { version: string; downloads: number }) => [v.version, v.downloads])).toEqual([
      ['1.1.0', 3],
      ['1.0.0', 1],
    ]);
    expect(body.versions[0].downloadUrl).toBe(`${market.url}/main/packages/devops-1.1.0.tgz`);

    const icon = await fetch(body.iconUrl);
    expect(icon.headers.get('content-type')).toBe('image/svg+xml');
    expect(icon.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await icon.text()).toBe('<svg xmlns="http://www.w3.org/2000/svg"/>');
    const shot = await fetch(body.screenshots[0]);
    expect(shot.headers.get('content-type')).toBe('image/png');

    await market.close();
    market = await startMarketplace(join(work, 'data'));
    const again = await getJson<Record<string, any>>(`${api()}/extensions/devops`);
    expect(again.body.downloads).toBe(4);
  });

  it('serves only files inside the package', async () => {
    await publish({}, false);
    const file = (path: string) => fetch(`${api()}/extensions/devops/files/${path}`);
    expect((await file('crds/pipelines.yaml')).status).toBe(200);
    expect((await file('dist/missing.js')).status).toBe(404);
    for (const attempt of ['%2e%2e/%2e%2e/index.yaml', '..%2F..%2Fpackages%2Fdevops-1.2.0.tgz', '%2Fetc%2Fpasswd']) {
      const response = await file(attempt);
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ error: { code: 'NotFound' } });
    }
  });

  it('answers 404 in JSON for unknown extensions and routes', async () => {
    expect(await getJson(`${api()}/extensions/nothing`)).toEqual({
      status: 404,
      body: { error: { code: 'NotFound', message: 'extension "nothing" is not in repository "main"' } },
    });
    expect((await getJson(`${market.url}/no/such/route`)).status).toBe(404);
    expect((await fetch(`${market.url}/main/packages/stray.tgz`)).status).toBe(404);
    expect(await getJson(`${market.url}/healthz`)).toEqual({ status: 200, body: { status: 'ok', repositories: ['main'] } });
  });
});

describe('yanking', () => {
  it('marks the version in the index, keeps it downloadable and stops offering it', async () => {
    await publish({ name: 'hello', version: '1.0.0' });
    await publish({ name: 'hello', version: '1.1.0' });

    expect((await yank('hello', '1.1.0', { reason: 'corrupts data' }, 'wrong-token')).status).toBe(401);
    const yanked = await yank('hello', '1.1.0', { reason: 'corrupts data' });
    expect(yanked.status).toBe(200);
    expect(yanked.body.entry).toMatchObject({ version: '1.1.0', yanked: true, yankedReason: 'corrupts data' });

    const index = parseRepositoryIndex(await (await fetch(`${market.url}/main/index.yaml`)).text());
    expect(index.entries.hello!.map((e) => [e.version, e.yanked ?? false, e.yankedReason])).toEqual([
      ['1.1.0', true, 'corrupts data'],
      ['1.0.0', false, undefined],
    ]);
    expect((await fetch(`${market.url}/main/packages/hello-1.1.0.tgz`)).status).toBe(200);

    const search = await getJson<{ items: Array<{ name: string; latestVersion: string }> }>(`${api()}/extensions?q=hello`);
    expect(search.body.items).toMatchObject([{ name: 'hello', latestVersion: '1.0.0' }]);

    await yank('hello', '1.0.0', {});
    expect((await getJson<{ items: unknown[] }>(`${api()}/extensions?q=hello`)).body.items).toEqual([]);
    const details = await getJson<Record<string, any>>(`${api()}/extensions/hello`);
    expect(details.body.versions.map((v: { yanked: boolean }) => v.yanked)).toEqual([true, true]);
  });

  it('answers 404 for unknown versions and 400 for a malformed body', async () => {
    await publish({ name: 'hello' });
    expect((await yank('hello', '9.9.9', {})).status).toBe(404);
    const response = await fetch(`${api()}/extensions/hello/versions/1.0.0/yank`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      body: '{not json',
    });
    expect(response.status).toBe(400);
    expect((await yank('hello', '1.0.0', { reason: 42 })).status).toBe(400);
  });
});
