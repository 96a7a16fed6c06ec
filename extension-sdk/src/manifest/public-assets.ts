import { normalizePackagePath, unsafePackagePathReason } from '../util/package-path.js';
import type { ExtensionManifest, ManifestProblem } from './types.js';

/**
 * What of an installed package browsers may load without a token: the frontend's build
 * directory (`frontend.assets`, else the directory of `frontend.remoteEntry`), the icon and the
 * screenshots. Nothing else — not the backend, not `package.json`, not dotfiles. A frontend
 * directory that is the package root exposes only the remote entry itself.
 */
export interface PublicAssets {
  /** The frontend's build directory ("dist/ui"), or undefined when there is none (or it is the root). */
  directory?: string;
  /** Single files that are public wherever they are (remote entry, icon, screenshots). */
  files: ReadonlySet<string>;
  /** The remote entry (loaded by name on every visit, so never cached as immutable). */
  remoteEntry?: string;
  /** Never public even inside the directory: the backend entry and its source map. */
  hidden: ReadonlySet<string>;
}

const isUrl = (value: string) => /^[A-Za-z][A-Za-z0-9+.-]*:/.test(value);

function packagePath(value: string | undefined): string | undefined {
  if (!value || isUrl(value) || unsafePackagePathReason(value)) return undefined;
  return normalizePackagePath(value);
}

/** The frontend's build directory as a normalized package path; "" for the package root. */
export function frontendDirectory(manifest: Pick<ExtensionManifest, 'frontend'>): string | undefined {
  const frontend = manifest.frontend;
  if (!frontend) return undefined;
  if (frontend.assets !== undefined) return packagePath(frontend.assets);
  const entry = packagePath(frontend.remoteEntry);
  if (entry === undefined) return undefined;
  const slash = entry.lastIndexOf('/');
  return slash < 0 ? '' : entry.slice(0, slash);
}

export function publicAssets(manifest: ExtensionManifest): PublicAssets {
  const files = new Set<string>();
  const add = (value: string | undefined) => {
    const path = packagePath(value);
    if (path) files.add(path);
  };
  add(manifest.frontend?.remoteEntry);
  add(manifest.icon);
  for (const screenshot of manifest.screenshots ?? []) add(screenshot);
  const hidden = new Set<string>();
  const backend = packagePath(manifest.backend?.entry);
  if (backend) for (const path of [backend, `${backend}.map`]) {
    hidden.add(path);
    files.delete(path);
  }
  const directory = frontendDirectory(manifest);
  const remoteEntry = packagePath(manifest.frontend?.remoteEntry);
  return { directory: directory ? directory : undefined, files, hidden, ...(remoteEntry && files.has(remoteEntry) ? { remoteEntry } : {}) };
}

/**
 * Whether a normalized package path (already decoded, "/"-separated) is public. Dotfiles and
 * dot-directories never are, nor is anything under `node_modules`.
 */
export function isPublicAsset(assets: PublicAssets, path: string): boolean {
  if (unsafePackagePathReason(path) || normalizePackagePath(path) !== path) return false;
  const segments = path.split('/');
  if (segments.some((s) => s.startsWith('.') || s === 'node_modules')) return false;
  if (assets.hidden.has(path)) return false;
  if (assets.files.has(path)) return true;
  return assets.directory !== undefined && path.startsWith(`${assets.directory}/`) && path !== 'extension.yaml';
}

/**
 * Warnings (not errors: the package still works) when the frontend's build directory would
 * publish server code or the whole package.
 */
export function frontendExposureWarnings(manifest: ExtensionManifest): ManifestProblem[] {
  const directory = frontendDirectory(manifest);
  if (directory === undefined) return [];
  const where = manifest.frontend?.assets !== undefined ? '/frontend/assets' : '/frontend/remoteEntry';
  if (directory === '') {
    return [{
      path: where,
      message: 'the frontend directory is the package root: only the remote entry itself will be served, so its chunks will not load; put the frontend build in its own directory (e.g. "dist/ui") or name it in frontend.assets',
    }];
  }
  const warnings: ManifestProblem[] = [];
  const backend = packagePath(manifest.backend?.entry);
  if (backend && backend.startsWith(`${directory}/`)) {
    warnings.push({
      path: '/backend/entry',
      message: `the backend entry ${JSON.stringify(backend)} lies inside the frontend directory ${JSON.stringify(directory)}, which anyone can download: every file there but the entry itself is public (its modules, its config); build the frontend into its own directory or name it in frontend.assets`,
    });
  }
  if (directory.split('/').includes('node_modules')) {
    warnings.push({ path: where, message: `the frontend directory ${JSON.stringify(directory)} is inside node_modules, which is never served` });
  }
  return warnings;
}
