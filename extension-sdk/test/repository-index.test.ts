import { describe, expect, it } from 'vitest';
import {
  addToIndex,
  emptyRepositoryIndex,
  findEntry,
  latestEntry,
  parseRepositoryIndex,
  RepositoryError,
  serializeRepositoryIndex,
  sha256Hex,
  validateManifest,
  versionsOf,
  yankInIndex,
  type ExtensionManifest,
} from '../src/index.js';
import { fullManifest, minimalManifest } from './helpers/fixtures.js';

const manifest = (overrides: Record<string, unknown>): ExtensionManifest => {
  const result = validateManifest(minimalManifest(overrides));
  if (!result.valid) throw new Error(JSON.stringify(result.errors));
  return result.manifest;
};
const now = new Date('2026-01-02T03:04:05.000Z');
const add = (index: ReturnType<typeof emptyRepositoryIndex>, m: ExtensionManifest) =>
  addToIndex(index, m, { digest: sha256Hex(`${m.name}@${m.version}`), url: `packages/${m.name}-${m.version}.tgz`, now });

describe('repository index', () => {
  it('adds versions newest first and keeps categories', () => {
    let index = emptyRepositoryIndex(now);
    for (const version of ['1.0.0', '1.10.0', '1.2.0', '2.0.0-rc.1']) index = add(index, manifest({ version }));
    index = add(index, manifest({ name: 'logging', category: 'observability' }));
    expect(index.entries.hello!.map((e) => e.version)).toEqual(['2.0.0-rc.1', '1.10.0', '1.2.0', '1.0.0']);
    expect(index.categories).toEqual(['demo', 'observability']);
    expect(index.generated).toBe(now.toISOString());
  });

  it('copies the manifest fields an installer and a catalogue need', () => {
    const m = validateManifest(fullManifest());
    if (!m.valid) throw new Error('fixture invalid');
    const index = addToIndex(emptyRepositoryIndex(), m.manifest, { digest: sha256Hex('x'), url: 'packages/devops-1.2.0.tgz', signature: 'sig', created: now });
    expect(index.entries.devops![0]).toEqual({
      name: 'devops',
      version: '1.2.0',
      digest: sha256Hex('x'),
      urls: ['packages/devops-1.2.0.tgz'],
      created: now.toISOString(),
      engines: { mortise: '>=0.1.0 <1.0.0' },
      dependencies: { logging: '^1.0.0' },
      category: 'ci-cd',
      displayName: { en: 'DevOps', zh: '开发运维' },
      description: 'Pipelines and builds',
      keywords: ['ci', 'pipelines'],
      provider: { name: 'Acme', email: 'ext@acme.example', url: 'https://acme.example' },
      icon: 'assets/icon.svg',
      license: 'Apache-2.0',
      homepage: 'https://acme.example/devops',
      signature: 'sig',
    });
  });

  it('refuses to add a version twice', () => {
    const index = add(emptyRepositoryIndex(), manifest({}));
    expect(() => add(index, manifest({}))).toThrow(RepositoryError);
    expect(() => add(index, manifest({}))).toThrow(/hello 1.0.0 is already published/);
  });

  it('round-trips through YAML, stably', () => {
    let index = emptyRepositoryIndex(now);
    index = add(index, manifest({ name: 'zeta' }));
    index = add(index, manifest({ name: 'alpha', displayName: { en: 'Alpha', zh: '阿尔法' } }));
    index = yankInIndex(index, 'zeta', '1.0.0', 'broken on arm64', now);
    const text = serializeRepositoryIndex(index);
    const parsed = parseRepositoryIndex(text);
    expect(parsed).toEqual(index);
    expect(serializeRepositoryIndex(parsed)).toBe(text);
    expect(text.indexOf('alpha:')).toBeLessThan(text.indexOf('zeta:'));
  });

  it('yanking keeps the version but marks it, and latestEntry skips it', () => {
    let index = emptyRepositoryIndex();
    index = add(index, manifest({ version: '1.0.0' }));
    index = add(index, manifest({ version: '1.1.0' }));
    index = yankInIndex(index, 'hello', '1.1.0', 'data loss');
    expect(index.entries.hello).toHaveLength(2);
    expect(index.entries.hello![0]).toMatchObject({ version: '1.1.0', yanked: true, yankedReason: 'data loss' });
    expect(latestEntry(index, 'hello')?.version).toBe('1.0.0');
    expect(() => yankInIndex(index, 'hello', '9.9.9', undefined)).toThrow(/hello 9.9.9 is not in the repository/);
  });

  it('sorts versions newest first when the file does not', () => {
    const text = serializeRepositoryIndex(add(add(emptyRepositoryIndex(), manifest({ version: '1.0.0' })), manifest({ version: '3.0.0' })));
    const swapped = parseRepositoryIndex(text.replace('version: 3.0.0', 'version: 0.5.0'));
    expect(swapped.entries.hello!.map((e) => e.version)).toEqual(['1.0.0', '0.5.0']);
  });

  it.each([
    ['not YAML', 'entries: [', /YAML syntax error at line 1/],
    ['a wrong apiVersion', 'apiVersion: v2\nentries: {}\n', /\/apiVersion: must be "v1"/],
    ['entries that are not a map', 'apiVersion: v1\nentries: []\n', /\/entries: must be an object/],
  ])('refuses %s with a clear message', (_d, text, message) => {
    expect(() => parseRepositoryIndex(text)).toThrow(message);
  });

  it('refuses entries that are wrong in ways the schema cannot see', () => {
    const good = serializeRepositoryIndex(add(emptyRepositoryIndex(), manifest({})));
    expect(() => parseRepositoryIndex(good.replace(/digest: \w+/, 'digest: abc'))).toThrow(/\/entries\/hello\/0\/digest: must be a sha256 digest/);
    expect(() => parseRepositoryIndex(good.replace('- name: hello', '- name: other'))).toThrow(/\/entries\/hello\/0\/name: must be "hello"/);
    expect(() => parseRepositoryIndex(good.replace('version: 1.0.0', 'version: v1'))).toThrow(/\/entries\/hello\/0\/version: must be a valid semver version/);
    const twice = serializeRepositoryIndex(add(add(emptyRepositoryIndex(), manifest({})), manifest({ version: '2.0.0' }))).replace('version: 2.0.0', 'version: 1.0.0');
    expect(() => parseRepositoryIndex(twice)).toThrow(/duplicates version 1.0.0/);
  });

  it('keeps fields it does not know, for newer index writers', () => {
    const text = serializeRepositoryIndex(add(emptyRepositoryIndex(), manifest({}))).replace('  hello:\n    - name: hello\n', '  hello:\n    - name: hello\n      deprecated: true\n');
    const parsed = parseRepositoryIndex(text);
    expect((parsed.entries.hello![0] as unknown as Record<string, unknown>).deprecated).toBe(true);
    expect(serializeRepositoryIndex(parsed)).toContain('deprecated: true');
  });

  it('finds only the extensions it lists, whatever they are called (constructor, toString, __proto__)', () => {
    let index = add(emptyRepositoryIndex(), manifest({}));
    for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf']) {
      expect(versionsOf(index, name)).toBeUndefined();
      expect(latestEntry(index, name)).toBeUndefined();
      expect(findEntry(index, name, '1.0.0')).toBeUndefined();
      expect(() => yankInIndex(index, name, '1.0.0', undefined)).toThrow(/not in the repository/);
    }
    // `constructor` is a valid extension name: it is added, found, yanked and kept by its own key.
    index = add(index, manifest({ name: 'constructor' }));
    index = yankInIndex(index, 'constructor', '1.0.0', 'test', now);
    expect(findEntry(index, 'constructor', '1.0.0')?.yanked).toBe(true);
    const parsed = parseRepositoryIndex(serializeRepositoryIndex(index));
    expect(Object.keys(parsed.entries).sort()).toEqual(['constructor', 'hello']);
    // An index file listing `__proto__` is refused by name, never taken for the prototype.
    const text = serializeRepositoryIndex(index).replace(/\bconstructor\b/g, '__proto__');
    expect(() => parseRepositoryIndex(text)).toThrow(/key "__proto__" is invalid/);
  });
});
