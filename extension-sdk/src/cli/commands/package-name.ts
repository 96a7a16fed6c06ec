import { basename } from 'node:path';
import { packageFileName } from '../../package/digest.js';
import type { ExtensionManifest } from '../../manifest/types.js';

/** Why a package's file name does not match the manifest inside it (a renamed or stale file), or undefined. */
export function fileNameProblem(file: string, manifest: Pick<ExtensionManifest, 'name' | 'version'>): string | undefined {
  const expected = packageFileName(manifest.name, manifest.version);
  if (basename(file) === expected) return undefined;
  return `${basename(file)} holds ${manifest.name} ${manifest.version} (its extension.yaml says so), so it would be ${expected}: `
    + 'to publish another version, change `version` in extension.yaml and pack again (renaming the file does not change the version)';
}
