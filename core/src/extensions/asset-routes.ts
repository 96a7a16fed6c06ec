import { createReadStream, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import Router from '@koa/router';
import { notFound, serviceUnavailable } from '../api/status.js';
import type { AppContext, AppState } from '../http/app-state.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import { extensionsGroup } from '../schemas/extensions.js';
import type { PackageStore } from './package-store.js';

const types: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.map': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp', '.woff2': 'font/woff2', '.woff': 'font/woff', '.html': 'text/html; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8', '.txt': 'text/plain; charset=utf-8',
};

/**
 * An installed extension's static files (its federated UI module, icon, screenshots), served
 * from the unpacked package of the installed version. Public, like the console's own files:
 * browsers load remote entries with <script> tags that carry no token.
 */
export function extensionAssetRouter(deps: { service: ResourceService; kinds: KindRegistry; packages: PackageStore }): Router<AppState> {
  const router = new Router<AppState>();
  router.get('/extensions/:name/assets/{*path}', async (ctx: AppContext) => {
    const { name, path } = (ctx as unknown as { params: { name: string; path: string } }).params;
    const plan = await deps.service.getStored(deps.kinds.byGroupResource(extensionsGroup, 'installplans')!, '', name);
    const status = plan?.status as { installedVersion?: string } | undefined;
    if (!plan || !status?.installedVersion) throw notFound(extensionsGroup, 'installplans', name);
    if ((plan.spec as { enabled?: boolean }).enabled === false) throw serviceUnavailable(`the extension "${name}" is disabled`);
    const root = resolve(deps.packages.unpackedDir(name, status.installedVersion));
    const file = resolve(join(root, path));
    if (!file.startsWith(root + sep) || path.split('/').some((p) => p.startsWith('.'))) throw notFound('', 'files', path);
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      throw notFound('', 'files', path);
    }
    ctx.type = types[extname(file).toLowerCase()] ?? 'application/octet-stream';
    ctx.length = size;
    ctx.set('Cache-Control', 'no-cache');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.body = createReadStream(file);
  });
  return router;
}
