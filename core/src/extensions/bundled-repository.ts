import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { packExtension } from '@mortise/extension-sdk/package';
import { addToIndex, emptyRepositoryIndex, parseRepositoryIndex, serializeRepositoryIndex, type RepositoryIndex, versionsOf } from '@mortise/extension-sdk/repository';
import { writeFileAtomic } from '@mortise/extension-sdk/util';
import type { Logger } from 'pino';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import { extensionsGroup } from '../schemas/extensions.js';
import { syncRequestedAnnotation } from './repository-controller.js';

export interface BundledRepository {
  dir: string;
  url: string;
  extensions: string[];
}

/**
 * Packs the extensions shipped in this repository (`examples/*`, `extensions/*`) into a local
 * `file://` repository under the data dir, so a new user can browse and install at once. Packing
 * is reproducible, so an unchanged extension keeps its digest and publication time.
 */
export async function buildBundledRepository(sourceRoots: string[], outDir: string, logger: Logger): Promise<BundledRepository> {
  const packagesDir = join(outDir, 'packages');
  mkdirSync(packagesDir, { recursive: true });
  const indexPath = join(outDir, 'index.yaml');
  let previous: RepositoryIndex | undefined;
  try {
    previous = existsSync(indexPath) ? parseRepositoryIndex(readFileSync(indexPath, 'utf8')) : undefined;
  } catch {
    previous = undefined;
  }
  let index = emptyRepositoryIndex();
  const names: string[] = [];
  for (const root of sourceRoots) {
    if (!existsSync(root)) continue;
    for (const entry of readdirSync(root, { withFileTypes: true })) {
      const dir = join(root, entry.name);
      if (!entry.isDirectory() || !existsSync(join(dir, 'extension.yaml'))) continue;
      try {
        const packed = await packExtension(dir, { outDir: packagesDir });
        const before = (previous && versionsOf(previous, packed.manifest.name))?.find((e) => e.version === packed.manifest.version && e.digest === packed.sha256);
        index = addToIndex(index, packed.manifest, { digest: packed.sha256, url: `packages/${basename(packed.file)}`, created: before?.created ?? new Date().toISOString() });
        names.push(packed.manifest.name);
      } catch (e) {
        logger.warn({ event: 'bundled-repository.skip', dir, err: (e as Error).message }, 'an extension could not be packed and is left out of the bundled repository');
      }
    }
  }
  await writeFileAtomic(indexPath, serializeRepositoryIndex(index));
  logger.info({ event: 'bundled-repository.built', dir: outDir, extensions: names }, 'bundled repository ready');
  return { dir: outDir, url: `file://${outDir}`, extensions: names };
}

export const bundledRepositoryName = 'bundled';

/** Registers (or repoints) the `bundled` Repository at the local repository. */
export async function registerBundledRepository(service: ResourceService, kinds: KindRegistry, url: string): Promise<void> {
  const def = kinds.byGroupResource(extensionsGroup, 'repositories')!;
  const existing = await service.getStored(def, '', bundledRepositoryName);
  const spec = { url, interval: '10m', description: 'The extensions shipped with this Mortise' };
  if (!existing) {
    await service.create(def, '', { apiVersion: `${extensionsGroup}/v1alpha1`, kind: 'Repository', metadata: { name: bundledRepositoryName }, spec }, {});
  } else {
    // Re-read at every start: the packages may have changed.
    await service.patch(def, '', bundledRepositoryName, 'merge', { spec, metadata: { annotations: { [syncRequestedAnnotation]: new Date().toISOString() } } }, {});
  }
}
