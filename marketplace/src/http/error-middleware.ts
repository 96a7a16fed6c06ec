import type { Middleware } from 'koa';
import type pino from 'pino';
import { ApiError } from './api-error.js';

/**
 * Every failure becomes JSON `{ error: { code, message } }`. Unexpected errors are logged and
 * answered 500 without internals; unknown routes answer 404 in the same shape.
 */
export function errorMiddleware(logger: pino.Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new ApiError(404, 'NotFound', `no such resource: ${ctx.method} ${ctx.path}`);
      }
      if (ctx.status === 405 && typeof ctx.body !== 'object') {
        throw new ApiError(405, 'MethodNotAllowed', `${ctx.method} is not allowed on ${ctx.path}`);
      }
    } catch (error) {
      const apiError = error instanceof ApiError ? error : toApiError(error);
      if (apiError.status >= 500) logger.error({ err: error, method: ctx.method, path: ctx.path }, 'request failed');
      ctx.status = apiError.status;
      ctx.body = { error: { code: apiError.code, message: apiError.message, ...(apiError.details !== undefined ? { details: apiError.details } : {}) } };
    }
  };
}

function toApiError(error: unknown): ApiError {
  const status = (error as { status?: unknown; expose?: unknown }).status;
  // http-errors thrown by koa/router (e.g. 405, 501) are safe to show as they are.
  if (typeof status === 'number' && status >= 400 && status < 500 && (error as { expose?: boolean }).expose) {
    return new ApiError(status, 'HttpError', (error as Error).message);
  }
  return new ApiError(500, 'InternalError', 'internal error');
}
