import type { Next } from 'koa';
import type { Logger } from 'pino';
import { ApiError } from '../api/status.js';
import type { AppContext } from '../http/app-state.js';
import type { AuditLog } from './audit-log.js';
import { auditEventOf, isAudited } from './audit-event.js';

export { anonymousUser } from './audit-event.js';

/**
 * Records every mutating request whatever its outcome, and every 401 and 403 on any method.
 * Reads (watches included) that succeed are not recorded.
 *
 * It goes outside the error middleware, so what it reads is the code the client got: an
 * authentication or authorization failure is still an exception while it travels back
 * through the pipeline and only becomes a 401/403 Status in `errors`.
 */
export function auditRequests(log: AuditLog, logger?: Logger) {
  return async (ctx: AppContext, next: Next) => {
    const received = new Date();
    let thrown: unknown;
    try {
      await next();
    } catch (e) {
      thrown = e;
      throw e;
    } finally {
      const code = thrown === undefined ? ctx.status : codeOf(thrown);
      if (isAudited(ctx.method, code)) {
        try {
          const event = auditEventOf({
            method: ctx.method, path: ctx.path, querystring: ctx.querystring, sourceIp: ctx.request.ip, userAgent: ctx.get('user-agent') || undefined,
            info: ctx.state.requestInfo, user: ctx.state.user, auditUser: ctx.state.auditUser, annotations: ctx.state.auditAnnotations, code,
            body: thrown instanceof ApiError ? thrown.toStatus() : ctx.body,
          }, received);
          log.record(event);
          ctx.set('Audit-ID', event.auditID);
        } catch (e) {
          // Auditing must never turn a request into a failure.
          logger?.error({ event: 'audit.record-failed', err: (e as Error).message }, 'could not build an audit event');
        }
      }
    }
  };
}

function codeOf(e: unknown): number {
  if (e instanceof ApiError) return e.code;
  const status = (e as { status?: unknown })?.status;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}
