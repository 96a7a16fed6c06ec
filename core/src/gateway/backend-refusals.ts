import type { Logger } from 'pino';
import { ApiError, badRequest } from '../api/status.js';
import { hasDotSegment, hasHiddenSeparator } from '../http/path-segments.js';
import { extensionsGroup } from '../schemas/extensions.js';
import type { GatewayMetrics } from './gateway-metrics.js';
import type { Route } from './route-table.js';
import { UpstreamTimeout } from './upstream-pools.js';

/** What the runtime knows about an extension's backend; the installer wires it in. */
export type HealthSource = (extension: string) => { healthy: boolean; message?: string };

const retryAfterSeconds = 5;

const extensionDetails = (route: Route) => ({ name: route.extension, group: extensionsGroup, kind: 'extensions' });

/**
 * Refusals that need no backend: odd paths, disabled extensions, broken routes, unready backends.
 * Throws the ApiError the client gets; returns when the request may go to the backend. Without
 * `metrics`, only asks (the native edge's decisions: the core counts when it answers).
 */
export function admit(route: Route, path: string, health: HealthSource | undefined, metrics?: GatewayMetrics): void {
  if (hasDotSegment(path)) throw badRequest(`the path "${path}" has "." or ".." segments, which the gateway does not forward`);
  // An APIService path's segments are names (namespace, resource, object), authorized as decoded:
  // a segment hiding a "/" or "\" would be other segments to a backend that decodes, then resolves.
  if (route.kind === 'apiservice' && hasHiddenSeparator(path)) throw badRequest(`the path "${path}" hides a "/" or "\\" in a segment (%2F, %5C or a raw "\\"), which names cannot hold: the gateway does not forward it`);
  const details = extensionDetails(route);
  if (!route.enabled) {
    throw new ApiError(503, 'ServiceUnavailable',
      `the extension "${route.extension}" is disabled, so ${path} is not served: an administrator can enable it in the Extension Center, or with ` +
      `kubectl patch installplans.${extensionsGroup} ${route.extension} --type merge -p '{"spec":{"enabled":true}}'`, details);
  }
  if (route.problem) {
    metrics?.countError(route, 'misconfigured');
    throw new ApiError(502, 'ServiceUnavailable', `the ${route.kind === 'apiservice' ? 'APIService' : 'ReverseProxy'} "${route.name}" of extension "${route.extension}" cannot be used: ${route.problem}`, details);
  }
  const state = route.dev ? undefined : health?.(route.extension);
  if (state && !state.healthy) {
    metrics?.countError(route, 'unhealthy');
    throw new ApiError(503, 'ServiceUnavailable', `the backend of extension "${route.extension}" is not ready: ${state.message ?? 'it is not running'}`, { ...details, retryAfterSeconds });
  }
}

/** The Status a client gets when the backend could not be reached or failed before answering (504 or 502, with why). */
export function upstreamFailure(route: Route, e: unknown, metrics: GatewayMetrics, logger: Logger): ApiError {
  const details = extensionDetails(route);
  const who = `the backend of extension "${route.extension}"`;
  if (e instanceof UpstreamTimeout) {
    metrics.countError(route, e.phase === 'connect' ? 'connect_timeout' : 'response_timeout');
    return new ApiError(504, 'Timeout', e.phase === 'connect'
      ? `${who} did not accept a connection within ${e.ms} ms`
      : `${who} did not answer within ${e.ms} ms`, details);
  }
  const err = e as NodeJS.ErrnoException;
  const refused = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'].includes(err.code ?? '');
  if (refused) {
    metrics.countError(route, 'connect_error');
    return new ApiError(502, 'ServiceUnavailable', `${who} is unreachable: ${err.message}`, details);
  }
  metrics.countError(route, 'reset');
  logger.warn({ event: 'gateway.upstream-error', extension: route.extension, route: route.name, err: err.message, code: err.code }, 'gateway: backend failed');
  return new ApiError(502, 'ServiceUnavailable', `${who} failed to answer: ${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}`, details);
}
