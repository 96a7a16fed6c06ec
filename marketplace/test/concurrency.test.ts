import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseRepositoryIndex, publishPackage, PublishError, type PackResult } from '@mortise/extension-sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, packFixture, startMarketplace, tempDir, type RunningMarketplace } from './helpers/marketplace.js';

let work: string;
let cleanup: () => Promise<void>;
let market: RunningMarketplace;

beforeEach(async () => {
  ({ dir: work, cleanup } = await tempDir('mortise-market-'));
  market = await startMarketplace(join(work, 'data'));
});
afterEach(async () => {
  await market.close();
  await cleanup();
});

describe('concurrent publishes', () => {
  it('all 20 versions published at once land in the index, none lost', async () => {
    const packs: PackResult[] = [];
    for (let i = 0; i < 20; i++) packs.push(await packFixture(join(work, `v${i}`), { version: `1.${i}.0` }, { minimal: true }));

    const results = await Promise.allSettled(packs.map((p) => publishPackage({ marketplaceUrl: market.url, token: ADMIN_TOKEN, package: p.file })));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);

    const expected = Array.from({ length: 20 }, (_, i) => `1.${19 - i}.0`);
    const served = parseRepositoryIndex(await (await fetch(`${market.url}/main/index.yaml`)).text());
    expect(served.entries.hello!.map((e) => e.version)).toEqual(expected);
    const onDisk = parseRepositoryIndex(await readFile(join(work, 'data', 'main', 'index.yaml'), 'utf8'));
    expect(onDisk.entries.hello!.map((e) => e.version)).toEqual(expected);
    for (const pack of packs) {
      expect(onDisk.entries.hello!.find((e) => e.version === pack.manifest.version)?.digest).toBe(pack.sha256);
    }
    expect((await readdir(join(work, 'data', 'main', 'packages'))).length).toBe(20);
  });

  it('two publishes of the same version at once: exactly one wins, the other gets 409', async () => {
    const a = await packFixture(join(work, 'a'), { description: 'first' }, { minimal: true });
    const b = await packFixture(join(work, 'b'), { description: 'second' }, { minimal: true });
    const results = await Promise.allSettled([a, b].map((p) => publishPackage({ marketplaceUrl: market.url, token: ADMIN_TOKEN, package: p.file })));
    const fulfilled = results.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<typeof publishPackage>>> => r.status === 'fulfilled');
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.reason).toBeInstanceOf(PublishError);
    expect((rejected[0]!.reason as PublishError).status).toBe(409);

    const winner = fulfilled[0]!.value.entry.digest;
    const stored = parseRepositoryIndex(await readFile(join(work, 'data', 'main', 'index.yaml'), 'utf8')).entries.hello![0]!;
    expect(stored.digest).toBe(winner);
  });
});
