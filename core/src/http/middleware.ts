import type { Next } from 'koa';
import type { Logger } from 'pino';
import { parseRequestInfo, type RequestInfo } from '../api/request-info.js';
import { ApiError, internalError } from '../api/status.js';
import { stripIdentityHeaders } from '../auth/authenticator.js';
import type { CoreMetrics } from '../ops/metrics.js';
import { queryOf, type AppContext } from './app-state.js';
import { isPublic } from './public-routes.js';
import type { RequestGuard } from './request-guard.js';

// The request pipeline, one concern a function; server.ts puts them in order.

/** Every failure leaves as a metav1.Status; unexpected ones are logged, not leaked. */
export function errors(logger: Logger) {
  return async (ctx: AppContext, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${ctx.method} ${ctx.path})`);
      }
    } catch (e) {
      const err = e instanceof ApiError ? e : httpErrorToApi(e);
      if (!err) {
        logger.error({ event: 'request.error', method: ctx.method, path: ctx.path, err: (e as Error).stack ?? String(e) }, 'unhandled error');
      }
      const status = (err ?? internalError('an internal error occurred; see the server log')).toStatus();
      ctx.status = status.code;
      ctx.type = 'application/json';
      if (status.code === 401) ctx.set('WWW-Authenticate', 'Bearer realm="mortise"');
      if (status.details?.retryAfterSeconds) ctx.set('Retry-After', String(status.details.retryAfterSeconds));
      ctx.body = status;
    }
  };
}

function httpErrorToApi(e: unknown): ApiError | undefined {
  const err = e as { status?: number; expose?: boolean; message?: string };
  if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500 && err.expose) {
    return new ApiError(err.status, err.status === 405 ? 'MethodNotAllowed' : 'BadRequest', err.message ?? 'bad request');
  }
  return undefined;
}

/** A finished request, whoever answered it (koa, the gateway's listener, the plain-read listener). */
export interface FinishedRequest {
  route: string;
  method: string;
  path: string;
  code: number;
  seconds: number;
  user?: string;
}

/** One metrics sample per request, and its log line (a warning from 500 on, else at debug level). */
export function recordRequest(metrics: CoreMetrics, logger: Logger, r: FinishedRequest): void {
  metrics.requests.inc({ route: r.route, method: r.method, code: String(r.code) });
  metrics.latency.observe({ route: r.route, method: r.method }, r.seconds);
  if (r.code < 500 && !logger.isLevelEnabled('debug')) return;
  const fields = { event: 'request', method: r.method, path: r.path, status: r.code, ms: Math.round(r.seconds * 1e4) / 10, user: r.user };
  if (r.code >= 500) logger.warn(fields, 'request');
  else logger.debug(fields, 'request');
}

/** One log line and one metrics sample per request. */
export function accessLog(logger: Logger, metrics: CoreMetrics, labelOf?: (info: RequestInfo) => string | undefined) {
  return async (ctx: AppContext, next: Next) => {
    const start = process.hrtime.bigint();
    try {
      await next();
    } finally {
      recordRequest(metrics, logger, {
        route: ctx.state.routeLabel ?? routeOf(ctx, labelOf), method: ctx.method, path: ctx.path, code: ctx.status,
        seconds: Number(process.hrtime.bigint() - start) / 1e9, user: ctx.state.user?.username,
      });
    }
  };
}

/**
 * A bounded label for a request no handler labelled (denied, unknown, not found). The group and
 * resource in a path are whatever the client sent, so they only name a label when `labelOf`
 * knows them (a kind the core serves); otherwise the router's pattern, else a fixed word.
 */
function routeOf(ctx: AppContext, labelOf?: (info: RequestInfo) => string | undefined): string {
  const info = ctx.state.requestInfo;
  const matched = (ctx as unknown as { _matchedRoute?: string })._matchedRoute;
  if (info?.isResourceRequest) return labelOf?.(info) ?? matched ?? `${info.prefix}/unmatched`;
  if (info?.prefix) return `${info.prefix}/discovery`;
  return matched ?? 'other';
}

/** Parses the request's attributes once and removes client-claimed identity headers. */
export function requestInfo() {
  return async (ctx: AppContext, next: Next) => {
    stripIdentityHeaders(ctx.req.headers);
    ctx.state.requestInfo = parseRequestInfo(ctx.method, ctx.path, queryOf(ctx));
    await next();
  };
}

/**
 * Bearer token (or the console's session cookie) → user. No credentials is anonymous, which only
 * public routes accept. Cookie-authenticated writes need the CSRF header (see RequestGuard).
 */
export function authentication(guard: RequestGuard) {
  return async (ctx: AppContext, next: Next) => {
    ctx.state.user = await guard.authenticate(ctx.req.headers, isPublic(ctx.method, ctx.path), ctx.method);
    await next();
  };
}

/** Nothing reaches a handler or a proxied backend unless the authorizer allows it. */
export function authorization(guard: RequestGuard) {
  return async (ctx: AppContext, next: Next) => {
    if (isPublic(ctx.method, ctx.path)) return next();
    await guard.authorize(ctx.state.user!, ctx.state.requestInfo);
    await next();
  };
}
