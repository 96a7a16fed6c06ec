import type Router from '@koa/router';
import { RepositoryError, versionsOf, yankInIndex, type IndexEntry } from '@mortise/extension-sdk';
import getRawBody from 'raw-body';
import { ApiError, badRequest, notFound } from '../http/api-error.js';
import { assertMayActOn } from '../http/auth.js';
import type { Services } from '../services.js';

const MAX_REASON_LENGTH = 1024;

/**
 * `POST .../extensions/<name>/versions/<version>/yank` with `{ "reason": "..." }`. The version
 * stays downloadable (pinned installs keep working) but is marked yanked in the index, so it
 * is no longer offered.
 */
export function registerYankRoute(router: Router, services: Services): void {
  router.post('/api/v1/repositories/:repo/extensions/:name/versions/:version/yank', async (ctx) => {
    const principal = services.authenticate(ctx);
    const repository = services.repositories.get(ctx.params.repo!);
    const { name, version } = ctx.params as { name: string; version: string };
    const reason = await readReason(ctx.req, ctx.request.length);

    const entry = await repository.store.update(async (index) => {
      const versions = versionsOf(index, name) ?? [];
      if (!versions.some((v) => v.version === version)) throw notFound(`${name} ${version} is not in repository "${repository.store.name}"`);
      assertMayActOn(principal, versions.map((v) => v.provider.name), name);
      try {
        const next = yankInIndex(index, name, version, reason);
        return { index: next, result: versionsOf(next, name)!.find((v) => v.version === version) as IndexEntry };
      } catch (error) {
        if (error instanceof RepositoryError && error.code === 'NOT_FOUND') throw notFound(error.message);
        throw error;
      }
    });
    services.logger.info({ repository: repository.store.name, extension: name, version, reason, publisher: principal.publisher }, 'yanked');
    ctx.body = { repository: repository.store.name, entry };
  });
}

async function readReason(req: NodeJS.ReadableStream, length: number | undefined): Promise<string | undefined> {
  let text: string;
  try {
    text = await getRawBody(req as Parameters<typeof getRawBody>[0], { limit: 16 * 1024, length, encoding: 'utf8' });
  } catch (error) {
    if ((error as { type?: string }).type === 'entity.too.large') {
      throw new ApiError(413, 'BodyTooLarge', 'the request body must be a small JSON object such as {"reason": "..."}');
    }
    throw badRequest(`the request body could not be read: ${(error as Error).message}`);
  }
  if (text.trim() === '') return undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw badRequest('the request body must be JSON such as {"reason": "..."}');
  }
  const reason = (body as { reason?: unknown } | null)?.reason;
  if (reason === undefined || reason === null) return undefined;
  if (typeof reason !== 'string' || reason.length > MAX_REASON_LENGTH) {
    throw badRequest(`reason must be a string of at most ${MAX_REASON_LENGTH} characters`);
  }
  return reason.trim() || undefined;
}
