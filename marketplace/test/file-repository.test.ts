import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateSigningKeyPair, publishPackage, readPackage, RepositoryClient, sha256Hex } from '@mortise/extension-sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, packFixture, startMarketplace, tempDir, type RunningMarketplace } from './helpers/marketplace.js';

let work: string;
let cleanup: () => Promise<void>;
let market: RunningMarketplace;
const keys = generateSigningKeyPair();

beforeEach(async () => {
  ({ dir: work, cleanup } = await tempDir('mortise-market-'));
  market = await startMarketplace(join(work, 'data'), { repositories: ['main', 'airgap'] });
});
afterEach(async () => {
  await market.close();
  await cleanup();
});

describe('a repository directory is a static repository', () => {
  it('RepositoryClient reads what the marketplace wrote through file://, signatures included', async () => {
    const packed = await packFixture(work, {}, { signingKey: keys.privateKeyPem });
    await publishPackage({ marketplaceUrl: market.url, repository: 'airgap', token: ADMIN_TOKEN, package: packed.file });

    const client = new RepositoryClient({ url: pathToFileURL(join(work, 'data', 'airgap')).href, trustedKeys: [keys.publicKeyPem] });
    const index = await client.fetchIndex();
    const entry = index.entries.devops![0]!;
    expect(entry.digest).toBe(packed.sha256);
    const bytes = await client.fetchPackage(entry);
    expect(sha256Hex(bytes)).toBe(packed.sha256);
    expect((await readPackage(bytes)).manifest.name).toBe('devops');

    // The other repository is untouched and served separately.
    expect((await (await fetch(`${market.url}/main/index.yaml`)).text())).toContain('entries: {}');
    expect(await (await fetch(`${market.url}/airgap/index.yaml`)).text()).toBe(await readFile(join(work, 'data', 'airgap', 'index.yaml'), 'utf8'));
  });

  it('answers index.yaml with an ETag and 304 when unchanged', async () => {
    const first = await fetch(`${market.url}/main/index.yaml`);
    const etag = first.headers.get('etag')!;
    await first.text();
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    // fetch() adds "Cache-Control: no-cache" to conditional requests unless one is given, and
    // no-cache rightly disables 304s; a sync controller revalidating would send max-age=0.
    const conditional = { 'if-none-match': etag, 'cache-control': 'max-age=0' };
    const again = await fetch(`${market.url}/main/index.yaml`, { headers: conditional });
    expect(again.status).toBe(304);
    await publishPackage({ marketplaceUrl: market.url, token: ADMIN_TOKEN, package: (await packFixture(work)).file });
    const changed = await fetch(`${market.url}/main/index.yaml`, { headers: conditional });
    expect(changed.status).toBe(200);
    expect(await changed.text()).toContain('devops');
  });
});
