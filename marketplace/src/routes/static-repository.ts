import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type Router from '@koa/router';
import { notFound } from '../http/api-error.js';
import type { Services } from '../services.js';

/**
 * The static face of a repository — the same paths a plain file server would expose for the
 * directory: `/<repo>/index.yaml` and `/<repo>/packages/<file>`. Downloads are counted.
 */
export function registerStaticRoutes(router: Router, services: Services): void {
  router.get('/:repo/index.yaml', (ctx) => {
    const { store } = services.repositories.get(ctx.params.repo!);
    ctx.set('Cache-Control', 'no-cache');
    ctx.etag = store.etag;
    ctx.type = 'application/yaml';
    ctx.status = 200; // ctx.fresh only compares validators on a 2xx response
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.body = store.indexText;
  });

  router.get('/:repo/packages/:file', async (ctx) => {
    const repository = services.repositories.get(ctx.params.repo!);
    const file = ctx.params.file!;
    // Only files the index lists are served: no temporary or stray files.
    const entry = repository.store.entryForFile(file);
    if (!entry) throw notFound(`package ${file} is not in repository "${repository.store.name}"`);
    const path = repository.store.packagePath(file);
    const stats = await stat(path).catch(() => undefined);
    if (!stats?.isFile()) throw notFound(`package ${file} is listed but missing on disk`);
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.set('Content-Disposition', `attachment; filename="${file}"`);
    ctx.etag = entry.digest;
    ctx.type = 'application/gzip';
    ctx.status = 200;
    ctx.length = stats.size;
    if (ctx.method === 'HEAD') return;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    repository.downloads.increment(entry.name, entry.version);
    ctx.body = createReadStream(path);
  });
}
