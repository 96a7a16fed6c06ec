import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { RepositoryClient, extractPackage, sha256File, writeFileAtomic, type IndexEntry, type ExtensionManifest, type RepositoryCredentials } from '@mortise/extension-sdk';

export interface PackageSource {
  repositoryUrl: string;
  credentials?: RepositoryCredentials;
  trustedKeys?: string[];
  entry: IndexEntry;
}

const completeMarker = '.mortise-unpacked';
const manifestFile = '.mortise-manifest.json';

/**
 * Where packages live on disk under the data dir: downloaded archives (kept, so a restart does
 * not download again) and unpacked versions (the backend's working dir). Every step checks the
 * digest again; an unpack that did not finish is redone.
 */
export class PackageStore {
  constructor(private readonly root: string) {}

  archivePath(name: string, version: string): string {
    return join(this.root, 'packages', `${name}-${version}.tgz`);
  }

  /** Where the platform's modules (the SDK and its dependencies) are visible to every package. */
  get unpackedRoot(): string {
    return join(this.root, 'unpacked');
  }

  unpackedDir(name: string, version: string): string {
    return join(this.root, 'unpacked', name, version);
  }

  dataDir(name: string): string {
    return join(this.root, 'data', name);
  }

  /** Downloads (unless already here with the right digest) and returns the archive path. */
  async download(src: PackageSource): Promise<string> {
    const path = this.archivePath(src.entry.name, src.entry.version);
    if (existsSync(path) && (await sha256File(path)) === src.entry.digest) return path;
    const client = new RepositoryClient({ url: src.repositoryUrl, credentials: src.credentials, trustedKeys: src.trustedKeys });
    const bytes = await client.fetchPackage(src.entry);
    mkdirSync(dirname(path), { recursive: true });
    await writeFileAtomic(path, bytes);
    return path;
  }

  /** Unpacks the archive (digest checked again first) unless a complete unpack is already there. */
  async unpack(name: string, version: string, digest: string): Promise<{ dir: string; manifest: ExtensionManifest }> {
    const dir = this.unpackedDir(name, version);
    const marker = join(dir, completeMarker);
    if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === digest) {
      return { dir, manifest: JSON.parse(readFileSync(join(dir, manifestFile), 'utf8')) as ExtensionManifest };
    }
    rmSync(dir, { recursive: true, force: true });
    // Given as a path: the archive is streamed, never held in memory.
    const extracted = await extractPackage(this.archivePath(name, version), dir, { expectedSha256: digest });
    writeFileSync(join(dir, manifestFile), JSON.stringify(extracted.manifest));
    writeFileSync(marker, digest);
    return { dir, manifest: extracted.manifest };
  }

  /** The manifest and digest of a completely unpacked version directory, or undefined. */
  installedManifest(dir: string): { manifest: ExtensionManifest; digest: string } | undefined {
    try {
      const digest = readFileSync(join(dir, completeMarker), 'utf8').trim();
      return { digest, manifest: JSON.parse(readFileSync(join(dir, manifestFile), 'utf8')) as ExtensionManifest };
    } catch {
      return undefined;
    }
  }

  removeVersion(name: string, version: string): void {
    rmSync(this.unpackedDir(name, version), { recursive: true, force: true });
    rmSync(this.archivePath(name, version), { force: true });
  }

  removeAll(name: string, purgeData: boolean): void {
    rmSync(join(this.root, 'unpacked', name), { recursive: true, force: true });
    if (purgeData) rmSync(this.dataDir(name), { recursive: true, force: true });
  }
}

/** The directory of the SDK package the core itself uses. */
export function sdkPackageDir(): string {
  const require = createRequire(import.meta.url);
  return resolve(dirname(require.resolve('@mortise/extension-sdk/package.json')));
}
