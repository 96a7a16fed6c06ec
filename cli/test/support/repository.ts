import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  addToIndex, emptyRepositoryIndex, packExtension, serializeRepositoryIndex, yankInIndex, type RepositoryIndex,
} from '@mortise/extension-sdk';
import { stringify } from 'yaml';

/**
 * A static repository in a directory, as an air-gapped site keeps one: `index.yaml` plus
 * `packages/*.tgz`, packed and indexed with the SDK from extension directories written here.
 */
export class TestRepository {
  private index: RepositoryIndex = emptyRepositoryIndex();
  private readonly sources: string;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    // Beside the repository, in the test's own dir: removed with it.
    this.sources = `${dir}-sources`;
    mkdirSync(this.sources, { recursive: true });
    this.write();
  }

  get url(): string {
    return pathToFileURL(this.dir).href;
  }

  /** Packs an extension with this manifest (merged over a small valid one) and lists it in the index. */
  async publish(manifest: Record<string, unknown>): Promise<void> {
    const full: Record<string, unknown> = {
      apiVersion: 'mortise.io/v1alpha1', kind: 'Extension', version: '1.0.0', displayName: 'An extension',
      description: 'Does things', category: 'demo', provider: { name: 'Acme' }, license: 'MIT',
      engines: { mortise: '>=0.1.0' }, ...manifest,
    };
    const src = join(this.sources, `${String(full.name)}-${String(full.version)}`);
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'extension.yaml'), stringify(full));
    writeFileSync(join(src, 'README.md'), `# ${String(full.name)}\n`);
    const packed = await packExtension(src, { outDir: join(this.dir, 'packages') });
    this.index = addToIndex(this.index, packed.manifest, { digest: packed.sha256, url: `packages/${basename(packed.file)}` });
    this.write();
  }

  yank(name: string, version: string, reason: string): void {
    this.index = yankInIndex(this.index, name, version, reason);
    this.write();
  }

  private write(): void {
    writeFileSync(join(this.dir, 'index.yaml'), serializeRepositoryIndex(this.index));
  }
}
