import type { Middleware } from 'koa';
import type pino from 'pino';

/** One JSON line per request: method, path, status, duration. Never headers (tokens). */
export function requestLogMiddleware(logger: pino.Logger): Middleware {
  return async (ctx, next) => {
    const start = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const durationMs = Number(process.hrtime.bigint() - start) / 1e6;
      logger.info({ method: ctx.method, path: ctx.path, status: ctx.status, durationMs: Math.round(durationMs * 10) / 10 }, 'request');
    }
  };
}
