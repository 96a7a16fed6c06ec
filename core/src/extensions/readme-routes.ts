import { extname } from 'node:path';
import Router from '@koa/router';
import type { Logger } from 'pino';
import { DEFAULT_README, type ExtensionManifest } from '@mortise/extension-sdk/manifest';
import { readPackageFiles } from '@mortise/extension-sdk/package';
import { normalizePackagePath, unsafePackagePathReason } from '@mortise/extension-sdk/util';
import { parse } from 'yaml';
import { notFound, serviceUnavailable, tooLarge, unsupportedMediaType } from '../api/status.js';
import type { AppContext, AppState } from '../http/app-state.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import { extensionsGroup } from '../schemas/extensions.js';
import { decodeAssetPath } from './asset-routes.js';
import { versionObjectName } from './extension-versions.js';
import { readInstalledFile } from './installed-file.js';
import type { PackageStore } from './package-store.js';
import { resolveVersionSource } from './version-source.js';

/** The Extension Center shows a README, not a book. */
export const MAX_README_BYTES = 1024 * 1024;
/** An icon or a screenshot: an image for the Extension Center, not a download. */
export const MAX_MEDIA_BYTES = 5 * 1024 * 1024;
const base = `/kapis/${extensionsGroup}/v1alpha1`;

/** The images the media route serves, by extension; anything else is refused. */
const imageTypes: Record<string, string> = {
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp',
  '.avif': 'image/avif', '.ico': 'image/x-icon', '.svg': 'image/svg+xml',
};
/**
 * An SVG opened on its own (not through <img>) could run script as the core's origin: every
 * image is served as a sandboxed document that may load nothing and run nothing.
 */
const imageCsp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox";

/** The package paths of a manifest's icon and screenshots (URLs are shown from where they are). */
function mediaPaths(manifest: Partial<ExtensionManifest>): Set<string> {
  const paths = new Set<string>();
  for (const value of [manifest.icon, ...(Array.isArray(manifest.screenshots) ? manifest.screenshots : [])]) {
    if (typeof value === 'string' && !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value) && !unsafePackagePathReason(value)) paths.add(normalizePackagePath(value));
  }
  return paths;
}

function readmePath(manifest: Partial<Pick<ExtensionManifest, 'readme'>> | undefined): string | undefined {
  const path = typeof manifest?.readme === 'string' ? manifest.readme : DEFAULT_README;
  return unsafePackagePathReason(path) ? undefined : normalizePackagePath(path);
}

/**
 * The details of an extension the Extension Center shows beside what the repository index says.
 * The README of an extension, for the Extension Center — authenticated and authorized like any
 * API (`get` on `extensions/readme` or `extensionversions/readme`), never through the anonymous
 * asset path:
 * - `GET /kapis/extensions.mortise.io/v1alpha1/extensions/{name}/readme`: the installed version's;
 * - `GET /kapis/extensions.mortise.io/v1alpha1/extensionversions/{name}-{version}/readme`: that
 *   version's, from the installed package when it is the installed version, else from its
 *   archive (downloaded into the package cache, digest and signature checked, never unpacked).
 * Answered as `text/markdown`; 404 with a Status when there is none.
 */
export function extensionReadmeRouter(deps: { service: ResourceService; kinds: KindRegistry; packages: PackageStore; logger: Logger }): Router<AppState> {
  const router = new Router<AppState>();
  const plans = () => deps.kinds.byGroupResource(extensionsGroup, 'installplans')!;
  const noReadme = (what: string) => notFound(extensionsGroup, 'readmes', what);

  const send = (ctx: AppContext, text: Buffer, what: string) => {
    if (text.length > MAX_README_BYTES) throw tooLarge(`the README of ${what} is larger than ${MAX_README_BYTES} bytes`);
    ctx.type = 'text/markdown; charset=utf-8';
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'private, no-cache');
    ctx.body = text;
  };

  /** The README of an unpacked version, or undefined when it has none. */
  const fromInstalled = async (name: string, version: string): Promise<Buffer | undefined> => {
    const installed = deps.packages.installedManifest(deps.packages.unpackedDir(name, version));
    const path = readmePath(installed?.manifest);
    if (!installed || !path) return undefined;
    const text = await readInstalledFile(deps.packages.unpackedDir(name, version), path, MAX_README_BYTES);
    return text === 'too-large' ? Buffer.alloc(MAX_README_BYTES + 1) : text;
  };

  /** Selected files of a cached archive; a package that cannot be read has no README to show. */
  const readArchive = async (archive: string, what: string, select: (path: string, size: number) => boolean) => {
    try {
      return await readPackageFiles(archive, select);
    } catch (e) {
      deps.logger.warn({ event: 'extension.readme-read-failed', package: what, err: (e as Error).message }, 'reading a package for its README failed');
      throw noReadme(what);
    }
  };

  const installedVersion = async (name: string) =>
    ((await deps.service.getStored(plans(), '', name))?.status as { installedVersion?: string } | undefined)?.installedVersion;

  /** The extension and version an ExtensionVersion object names, or 404. */
  const versionNamed = async (objectName: string): Promise<{ name: string; version: string }> => {
    const ev = await deps.service.getStored(deps.kinds.byGroupResource(extensionsGroup, 'extensionversions')!, '', objectName);
    const spec = ev?.spec as { extension?: string; version?: string } | undefined;
    if (!spec?.extension || !spec.version || versionObjectName(spec.extension, spec.version) !== objectName) throw notFound(extensionsGroup, 'extensionversions', objectName);
    return { name: spec.extension, version: spec.version };
  };

  /** The archive of a version that is not installed, downloaded into the package cache (digest and signature checked, never unpacked). */
  const archiveOf = async (name: string, version: string): Promise<string> => {
    try {
      return await deps.packages.download(await resolveVersionSource(deps.service, deps.kinds, name, version));
    } catch (e) {
      deps.logger.warn({ event: 'extension.package-fetch-failed', extension: name, version, err: (e as Error).message }, 'fetching a package for its details failed');
      throw serviceUnavailable(`the package of ${name} ${version} could not be fetched from its repository`);
    }
  };

  /** The manifest inside an archive; undefined when it cannot be read. */
  const archivedManifest = async (archive: string, what: string): Promise<Partial<ExtensionManifest> | undefined> => {
    const text = (await readArchive(archive, what, (p) => p === 'extension.yaml')).get('extension.yaml')?.toString('utf8');
    try {
      const manifest = text ? (parse(text) as unknown) : undefined;
      return manifest && typeof manifest === 'object' ? (manifest as Partial<ExtensionManifest>) : undefined;
    } catch {
      return undefined;
    }
  };

  router.get(`${base}/extensions/:name/readme`, async (ctx: AppContext) => {
    const name = (ctx as unknown as { params: { name: string } }).params.name;
    ctx.state.routeLabel = `kapis/${extensionsGroup}/extensions/readme`;
    const version = await installedVersion(name);
    if (!version) throw notFound(extensionsGroup, 'installplans', name);
    const text = await fromInstalled(name, version);
    if (!text) throw noReadme(`${name} ${version}`);
    send(ctx, text, `${name} ${version}`);
  });

  router.get(`${base}/extensionversions/:name/readme`, async (ctx: AppContext) => {
    ctx.state.routeLabel = `kapis/${extensionsGroup}/extensionversions/readme`;
    const { name, version } = await versionNamed((ctx as unknown as { params: { name: string } }).params.name);
    const what = `${name} ${version}`;
    if ((await installedVersion(name)) === version) {
      const text = await fromInstalled(name, version);
      if (!text) throw noReadme(what);
      return send(ctx, text, what);
    }
    const archive = await archiveOf(name, version);
    const path = readmePath(await archivedManifest(archive, what));
    if (!path) throw noReadme(what);
    let oversized = false;
    const text = (await readArchive(archive, what, (p, size) => p === path && !(oversized = size > MAX_README_BYTES))).get(path);
    if (oversized) throw tooLarge(`the README of ${what} is larger than ${MAX_README_BYTES} bytes`);
    if (!text) throw noReadme(what);
    send(ctx, text, what);
  });

  /**
   * `GET .../extensionversions/{name}-{version}/details`: what the console shows of a version
   * beyond the repository index, from its manifest — `configSchema` (the JSON Schema of the
   * InstallPlan's `spec.config`, null when it takes none; the console generates its form from
   * it), the default `config`, and the package paths of the `icon` and `screenshots` (served
   * under `/extensions/{name}/assets/` once installed).
   */
  router.get(`${base}/extensionversions/:name/details`, async (ctx: AppContext) => {
    ctx.state.routeLabel = `kapis/${extensionsGroup}/extensionversions/details`;
    const { name, version } = await versionNamed((ctx as unknown as { params: { name: string } }).params.name);
    const manifest = (await installedVersion(name)) === version
      ? deps.packages.installedManifest(deps.packages.unpackedDir(name, version))?.manifest
      : await archivedManifest(await archiveOf(name, version), `${name} ${version}`);
    if (!manifest) throw notFound(extensionsGroup, 'extensionversions', versionObjectName(name, version));
    const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
    ctx.set('Cache-Control', 'private, no-cache');
    ctx.body = {
      configSchema: isObject(manifest.configSchema) ? manifest.configSchema : null,
      config: isObject(manifest.config) ? manifest.config : {},
      icon: typeof manifest.icon === 'string' ? manifest.icon : null,
      screenshots: Array.isArray(manifest.screenshots) ? manifest.screenshots.filter((s): s is string => typeof s === 'string') : [],
    };
  });

  /**
   * `GET .../extensionversions/{name}-{version}/media/{path}`: the icon or a screenshot of any
   * offered version — only the files its manifest names as such — from the installed package
   * when it is the installed version, else from its archive (digest and signature checked,
   * never unpacked). At most MAX_MEDIA_BYTES, images only, with their content type; served
   * sandboxed (see imageCsp), so an SVG opened directly runs no script.
   */
  router.get(`${base}/extensionversions/:name/media/{*path}`, async (ctx: AppContext) => {
    ctx.state.routeLabel = `kapis/${extensionsGroup}/extensionversions/media`;
    const objectName = (ctx as unknown as { params: { name: string } }).params.name;
    const prefix = `${base}/extensionversions/${objectName}/media/`;
    const path = ctx.path.startsWith(prefix) ? decodeAssetPath(ctx.path.slice(prefix.length)) : undefined;
    const { name, version } = await versionNamed(objectName);
    const what = `${name} ${version}`;
    const installed = (await installedVersion(name)) === version;
    const archive = installed ? undefined : await archiveOf(name, version);
    const manifest = archive ? await archivedManifest(archive, what) : deps.packages.installedManifest(deps.packages.unpackedDir(name, version))?.manifest;
    if (!manifest) throw notFound(extensionsGroup, 'extensionversions', objectName);
    const missing = () => notFound(extensionsGroup, 'media', `${what}: ${path ?? ctx.path.slice(prefix.length)}`);
    if (path === undefined || !mediaPaths(manifest).has(path)) throw missing();
    const type = imageTypes[extname(path).toLowerCase()];
    if (!type) throw unsupportedMediaType(`${path} of ${what} is not an image the console shows (${Object.keys(imageTypes).join(', ')})`);
    let bytes: Buffer | 'too-large' | undefined;
    if (archive) {
      let oversized = false;
      const read = (await readArchive(archive, what, (p, size) => p === path && !(oversized = size > MAX_MEDIA_BYTES))).get(path);
      bytes = oversized ? 'too-large' : read;
    } else {
      bytes = await readInstalledFile(deps.packages.unpackedDir(name, version), path, MAX_MEDIA_BYTES);
    }
    if (bytes === 'too-large') throw tooLarge(`${path} of ${what} is larger than ${MAX_MEDIA_BYTES} bytes`);
    if (!bytes) throw missing();
    ctx.type = type;
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Content-Security-Policy', imageCsp);
    // A version's files never change (its digest is in the index); private: it took a token to get.
    ctx.set('Cache-Control', 'private, max-age=3600');
    ctx.body = bytes;
  });
  return router;
}
