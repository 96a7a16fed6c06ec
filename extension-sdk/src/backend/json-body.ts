import type { Middleware } from 'koa';
import getRawBody from 'raw-body';

/** Default bound on a JSON request body. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Whether `path` is one of `paths`: exact, or under a prefix written with a trailing `*`. */
export function matchesPath(paths: readonly string[], path: string): boolean {
  return paths.some((p) => (p.endsWith('*') ? path.startsWith(p.slice(0, -1)) : p === path));
}

/**
 * Parses request bodies sent as JSON (`application/json`, `*+json`) into `ctx.request.body`,
 * reading at most `maxBytes` (413 beyond); a body that is not JSON is a 400 saying where it broke.
 * Other bodies are left unread for the handler: other content types, compressed bodies
 * (`Content-Encoding`), and those on `rawPaths`, whose handlers read `ctx.req` themselves.
 */
export function jsonBodies(maxBytes: number, rawPaths: readonly string[] = []): Middleware {
  return async (ctx, next) => {
    if (!ctx.request.is('json', '+json')) return next();
    const encoding = ctx.get('content-encoding');
    if ((encoding && encoding.toLowerCase() !== 'identity') || matchesPath(rawPaths, ctx.path)) return next();
    let text = '';
    try {
      text = await getRawBody(ctx.req, { limit: maxBytes, length: ctx.request.length, encoding: ctx.request.charset || 'utf-8' });
    } catch (e) {
      const err = e as { status?: number; type?: string; message: string };
      if (err.status === 413) ctx.throw(413, `the request body is larger than ${maxBytes} bytes`);
      if (err.status === 415) ctx.throw(415, `the request body's charset is not supported: ${err.message}`);
      ctx.throw(400, `the request body could not be read: ${err.message}`);
    }
    if (text.trim() === '') ctx.throw(400, 'the request body is empty but its content type says JSON');
    try {
      ctx.request.body = JSON.parse(text) as unknown;
    } catch (e) {
      ctx.throw(400, `the request body is not valid JSON: ${(e as Error).message}`);
    }
    return next();
  };
}
