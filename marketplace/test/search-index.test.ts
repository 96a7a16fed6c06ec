import { addToIndex, emptyRepositoryIndex, sha256Hex, validateManifest, yankInIndex, type RepositoryIndex } from '@mortise/extension-sdk';
import { describe, expect, it } from 'vitest';
import { MATCH_SCORES, SearchIndex } from '../src/index.js';
import { minimalManifest } from './helpers/marketplace.js';

function indexOf(...manifests: Array<Record<string, unknown>>): RepositoryIndex {
  let index = emptyRepositoryIndex();
  for (const raw of manifests) {
    const result = validateManifest(minimalManifest(raw));
    if (!result.valid) throw new Error(JSON.stringify(result.errors));
    const m = result.manifest;
    index = addToIndex(index, m, { digest: sha256Hex(`${m.name}${m.version}`), url: `packages/${m.name}-${m.version}.tgz` });
  }
  return index;
}

describe('SearchIndex', () => {
  const index = indexOf(
    { name: 'metrics', description: 'Prometheus metrics' },
    { name: 'metrics-exporter', description: 'Exports' },
    { name: 'dashboards', keywords: ['metrics'] },
    { name: 'alerts', keywords: ['metrics-rules'] },
    { name: 'grafana', displayName: { en: 'Grafana', zh: '仪表盘' }, description: 'Shows metrics' },
    { name: 'unrelated' },
  );

  it('scores each tier as documented', () => {
    const hits = new SearchIndex(index).search({ q: 'metrics' });
    expect(hits.map((h) => [h.entry.name, h.score])).toEqual([
      ['metrics', MATCH_SCORES.exactName],
      ['metrics-exporter', MATCH_SCORES.namePrefix],
      ['dashboards', MATCH_SCORES.exactKeyword],
      ['alerts', MATCH_SCORES.keywordPrefix],
      ['grafana', MATCH_SCORES.text],
    ]);
  });

  it('breaks ties by popularity, then by name', () => {
    const tied = indexOf({ name: 'a-tool', description: 'logs' }, { name: 'b-tool', description: 'logs' }, { name: 'c-tool', description: 'logs' });
    const popularity = (name: string) => (name === 'c-tool' ? 10 : 0);
    expect(new SearchIndex(tied).search({ q: 'logs' }, popularity).map((h) => h.entry.name)).toEqual(['c-tool', 'a-tool', 'b-tool']);
  });

  it('offers the newest version that is not yanked, and nothing when all are', () => {
    let versions = indexOf({ name: 'x', version: '1.0.0' }, { name: 'x', version: '2.0.0' });
    versions = yankInIndex(versions, 'x', '2.0.0', 'bad');
    expect(new SearchIndex(versions).search({ q: 'x' }).map((h) => h.entry.version)).toEqual(['1.0.0']);
    versions = yankInIndex(versions, 'x', '1.0.0', 'bad');
    expect(new SearchIndex(versions).search({})).toEqual([]);
  });

  it('counts extensions per category', () => {
    const categories = indexOf({ name: 'a', category: 'one' }, { name: 'b', category: 'one' }, { name: 'c', category: 'two' });
    expect([...new SearchIndex(categories).categoryCounts()]).toEqual([['one', 2], ['two', 1]]);
  });
});
