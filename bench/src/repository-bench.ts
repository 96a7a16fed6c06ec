import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { entryFromManifest, serializeRepositoryIndex, type ExtensionManifest, type IndexEntry, type RepositoryIndex } from '../../extension-sdk/dist/index.js';
import { load, type LoadResult } from './load.js';
import { spawnServer } from './processes.js';

export interface RepositoryFigures {
  extensions: number;
  versions: number;
  firstSyncMs: number;
  resyncMs: number;
  search: Array<{ query: string; result: LoadResult }>;
}

const here = dirname(fileURLToPath(import.meta.url));
const marketplaceMain = join(here, '..', '..', 'marketplace', 'dist', 'main.js');
const ext = '/apis/extensions.mortise.io/v1alpha1';
const words = ['logging', 'metrics', 'devops', 'mesh', 'storage', 'gateway', 'backup', 'alerts', 'tracing', 'policy'];

/** A synthetic repository index: `extensions` × `versions`, realistic text for search. */
function syntheticIndex(extensions: number, versions: number): RepositoryIndex {
  const entries: Record<string, IndexEntry[]> = {};
  for (let i = 0; i < extensions; i++) {
    const name = `ext-${words[i % words.length]}-${i}`;
    entries[name] = [];
    for (let v = versions; v >= 1; v--) {
      const manifest = {
        apiVersion: 'mortise.io/v1alpha1', kind: 'Extension', name, version: `1.${v}.0`,
        displayName: { en: `${words[i % words.length]} tool ${i}` }, description: { en: `Adds ${words[(i + 3) % words.length]} and ${words[(i + 5) % words.length]} to the console (${i})` },
        category: words[i % words.length]!, keywords: [words[i % words.length]!, words[(i + 1) % words.length]!], provider: { name: `vendor-${i % 37}` }, license: 'Apache-2.0',
        engines: { mortise: v === versions ? '>=9.0.0' : '>=0.1.0' },
      } as ExtensionManifest;
      entries[name]!.push(entryFromManifest(manifest, { digest: 'a'.repeat(64), url: `packages/${name}-1.${v}.0.tgz`, created: new Date(Date.UTC(2026, 0, v)).toISOString() }));
    }
  }
  return { apiVersion: 'v1', generated: new Date().toISOString(), entries, categories: [...words].sort() };
}

export async function repositoryBench(coreUrl: string, token: string, seconds: number, extensions = 1000, versions = 5): Promise<RepositoryFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'mortise-bench-repo-'));
  const repoDir = join(dir, 'main');
  mkdirSync(join(repoDir, 'packages'), { recursive: true });
  writeFileSync(join(repoDir, 'index.yaml'), serializeRepositoryIndex(syntheticIndex(extensions, versions)));
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

  const synced = async (after: number) => {
    for (;;) {
      const r = (await (await fetch(`${coreUrl}${ext}/repositories/bench-big`, { headers })).json()) as { status?: { lastSuccessfulSyncTime?: string; extensions?: number } };
      if (r.status?.lastSuccessfulSyncTime && Date.parse(r.status.lastSuccessfulSyncTime) >= after && r.status.extensions === extensions) return;
      await new Promise((res) => setTimeout(res, 20));
    }
  };
  let t0 = Date.now();
  let start = performance.now();
  const created = await fetch(`${coreUrl}${ext}/repositories`, { method: 'POST', headers, body: JSON.stringify({ metadata: { name: 'bench-big' }, spec: { url: `file://${repoDir}`, interval: '1h' } }) });
  if (created.status !== 201) throw new Error(`repository create: ${created.status}`);
  await synced(t0 - 1000);
  const firstSyncMs = performance.now() - start;
  await new Promise((r) => setTimeout(r, 1100));
  t0 = Date.now();
  start = performance.now();
  await fetch(`${coreUrl}${ext}/repositories/bench-big`, { method: 'PATCH', headers: { ...headers, 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ metadata: { annotations: { 'extensions.mortise.io/sync-requested-at': new Date(t0).toISOString() } } }) });
  await synced(t0 - 999);
  const resyncMs = performance.now() - start;

  // The marketplace server over the same repository directory.
  const market = await spawnServer(marketplaceMain, { MARKETPLACE_TOKENS: 'bench-token' }, '/healthz', ['--data-dir', dir]);
  const search: RepositoryFigures['search'] = [];
  for (const query of ['q=metrics', 'q=ext-backup-7', 'category=devops', 'q=console']) {
    search.push({ query, result: await load({ url: market.url, path: `/api/v1/repositories/main/extensions?${query}`, connections: 8, durationSec: seconds }) });
  }
  await market.stop();
  rmSync(dir, { recursive: true, force: true });
  return { extensions, versions, firstSyncMs, resyncMs, search };
}
