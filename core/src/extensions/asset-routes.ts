import { createReadStream } from 'node:fs';
import { lstat, realpath } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import Router from '@koa/router';
import { isPublicAsset, publicAssets, type PublicAssets } from '@mortise/extension-sdk/manifest';
import { notFound, serviceUnavailable } from '../api/status.js';
import type { AppContext, AppState } from '../http/app-state.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import { extensionsGroup } from '../schemas/extensions.js';
import type { PackageStore } from './package-store.js';

const types: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.cjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json; charset=utf-8', '.map': 'application/json; charset=utf-8', '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp',
  '.avif': 'image/avif', '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.woff': 'font/woff', '.ttf': 'font/ttf', '.otf': 'font/otf',
  '.html': 'text/html; charset=utf-8', '.txt': 'text/plain; charset=utf-8',
};
/** Documents that could run script if opened directly: sandboxed, so they never act as the core's origin. */
const sandboxed = new Set(['.html', '.svg']);

/**
 * A name that carries a content hash, as bundlers write them: `app.3f9a1c2b.js`,
 * `index-B7x2kq9d.js`. The hash is 8–64 letters/digits mixing both (so `main-component.js`
 * is not taken for one). Such a file never changes under its name: cached for a year.
 */
export function hasContentHash(fileName: string): boolean {
  const match = /[.-]([A-Za-z0-9_]{8,64})(?:\.[A-Za-z0-9]+)+$/.exec(fileName);
  if (!match) return false;
  const token = match[1]!;
  const transitions = token.split('').filter((c, i) => i > 0 && /\d/.test(c) !== /\d/.test(token[i - 1]!)).length;
  return /\d/.test(token) && /[A-Za-z]/.test(token) && (/^[0-9a-f]+$/.test(token) || transitions >= 2);
}

/**
 * The request path after `/extensions/<name>/assets/`, decoded exactly once, segment by
 * segment. Anything that only makes sense as an attack — an encoded "/" or "\", a NUL, a "%"
 * left after decoding (double encoding), empty, "." or ".." segments — is no path at all.
 */
export function decodeAssetPath(raw: string): string | undefined {
  const segments: string[] = [];
  for (const encoded of raw.split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(encoded);
    } catch {
      return undefined;
    }
    if (segment === '' || segment === '.' || segment === '..' || /[/\\\0%]/.test(segment)) return undefined;
    segments.push(segment);
  }
  return segments.join('/');
}

/**
 * An installed extension's browser files, served from the unpacked package of the installed
 * version. Public, like the console's own files (browsers load remote entries with <script>
 * tags that carry no token) — but only what the manifest declares for the browser: the
 * frontend's build directory, the icon and the screenshots (see `publicAssets`). Anything else,
 * however the path is spelt, is 404. The README and other details come through the
 * authenticated APIs (readme-routes.ts).
 */
export function extensionAssetRouter(deps: { service: ResourceService; kinds: KindRegistry; packages: PackageStore }): Router<AppState> {
  const router = new Router<AppState>();
  const rules = new Map<string, { digest: string; assets: PublicAssets }>();
  /** The public rules of an unpacked version, recomputed only when that directory is unpacked again. */
  const assetsOf = (dir: string): PublicAssets | undefined => {
    const installed = deps.packages.installedManifest(dir);
    if (!installed) return undefined;
    const cached = rules.get(dir);
    if (cached?.digest === installed.digest) return cached.assets;
    const assets = publicAssets(installed.manifest);
    rules.set(dir, { digest: installed.digest, assets });
    return assets;
  };

  router.get('/extensions/:name/assets/{*path}', async (ctx: AppContext) => {
    const name = (ctx as unknown as { params: { name: string } }).params.name;
    const prefix = `/extensions/${name}/assets/`;
    const path = ctx.path.startsWith(prefix) ? decodeAssetPath(ctx.path.slice(prefix.length)) : undefined;
    const missing = () => notFound('', 'files', path ?? ctx.path.slice(prefix.length));
    const plan = await deps.service.getStored(deps.kinds.byGroupResource(extensionsGroup, 'installplans')!, '', name);
    const status = plan?.status as { installedVersion?: string } | undefined;
    if (!plan || !status?.installedVersion) throw notFound(extensionsGroup, 'installplans', name);
    if ((plan.spec as { enabled?: boolean }).enabled === false) throw serviceUnavailable(`the extension "${name}" is disabled`);
    if (path === undefined) throw missing();
    const root = deps.packages.unpackedDir(name, status.installedVersion);
    const assets = assetsOf(root);
    if (!assets || !isPublicAsset(assets, path)) throw missing();
    const file = join(root, path);
    let stats;
    try {
      // Packages hold no links (the unpacker refuses them); checked again, in case the directory was altered.
      stats = await lstat(file);
      if (!stats.isFile() || !(await realpath(file)).startsWith((await realpath(root)) + sep)) throw new Error('not a regular file in the package');
    } catch {
      throw missing();
    }
    const extension = extname(file).toLowerCase();
    ctx.type = types[extension] ?? 'application/octet-stream';
    ctx.set('X-Content-Type-Options', 'nosniff');
    if (sandboxed.has(extension)) ctx.set('Content-Security-Policy', 'sandbox');
    ctx.set('Cache-Control', path !== assets.remoteEntry && hasContentHash(path.slice(path.lastIndexOf('/') + 1)) ? 'public, max-age=31536000, immutable' : 'no-cache');
    ctx.etag = `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
    ctx.lastModified = stats.mtime;
    ctx.status = 200;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.length = stats.size;
    ctx.body = createReadStream(file);
  });
  return router;
}
