import { randomUUID } from 'node:crypto';
import type { Next } from 'koa';
import type { Logger } from 'pino';
import { parseRequestInfo } from '../api/request-info.js';
import { ApiError } from '../api/status.js';
import type { AppContext } from '../http/app-state.js';
import { isPublic } from '../http/public-routes.js';
import type { AuditEvent, AuditLog, AuditObjectRef } from './audit-log.js';
import { moveToAnnotation as movedToAnnotation } from '../tenant/tenant-move-admission.js';

const mutating = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const workspaceLabel = 'tenant.mortise.io/workspace';
/** Query parameters whose values never reach the log. */
const secretParams = /^(access_token|id_token|refresh_token|token|password|client_secret|code)$/i;

export const anonymousUser = { username: 'system:anonymous', groups: ['system:unauthenticated'] };

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
      if (mutating.has(ctx.method) || code === 401 || code === 403) {
        try {
          const event = eventOf(ctx, received, code, thrown);
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

function eventOf(ctx: AppContext, received: Date, code: number, thrown: unknown): AuditEvent {
  const info = ctx.state.requestInfo ?? parseRequestInfo(ctx.method, ctx.path, ctx.URL.searchParams);
  const body = (thrown instanceof ApiError ? thrown.toStatus() : ctx.body) as Body | undefined;
  const objectRef = info.isResourceRequest ? objectRefOf(info, body, ctx.state.auditAnnotations?.[movedToAnnotation]) : undefined;
  const responseStatus: AuditEvent['responseStatus'] = { code };
  if (code >= 400 && body && typeof body === 'object' && !Buffer.isBuffer(body)) {
    // A metav1.Status, or an OAuth error ({error, error_description}): never the request body.
    const reason = body.kind === 'Status' ? body.reason : typeof body.error === 'string' ? body.error : undefined;
    const message = body.kind === 'Status' ? body.message : typeof body.error_description === 'string' ? body.error_description : undefined;
    if (reason) responseStatus.reason = reason;
    if (message) responseStatus.message = message;
  }
  const attempted = ctx.state.auditUser;
  const user = attempted
    ? { username: attempted, groups: [] }
    : ctx.state.user ? { username: ctx.state.user.username, groups: [...ctx.state.user.groups] } : anonymousUser;
  const event: AuditEvent = {
    auditID: randomUUID(),
    stage: 'ResponseComplete',
    requestReceivedTimestamp: received.toISOString(),
    stageTimestamp: new Date().toISOString(),
    verb: info.isResourceRequest ? info.verb : ctx.method.toLowerCase(),
    requestURI: redactedUri(ctx.path, ctx.querystring),
    user,
    sourceIPs: [ctx.request.ip],
    userAgent: ctx.get('user-agent') || undefined,
    ...(objectRef ? { objectRef } : {}),
    responseStatus,
  };
  // Authorization ran (and allowed) for every authenticated, non-public request that was not denied.
  if (code === 403) event.annotations = { decision: 'forbid', ...(responseStatus.message ? { reason: responseStatus.message } : {}) };
  else if (code !== 401 && ctx.state.user && !isPublic(ctx.method, ctx.path)) event.annotations = { decision: 'allow' };
  if (ctx.state.auditAnnotations) event.annotations = { ...ctx.state.auditAnnotations, ...event.annotations };
  return event;
}

type Body = {
  kind?: string; reason?: string; message?: string; error?: unknown; error_description?: unknown;
  details?: { name?: string };
  metadata?: { name?: string; labels?: Record<string, string> };
};

function objectRefOf(info: AppContext['state']['requestInfo'], body: Body | undefined, movedTo: string | undefined): AuditObjectRef {
  const ref: AuditObjectRef = { apiGroup: info.apiGroup, apiVersion: info.apiVersion, resource: info.resource };
  if (info.subresource) ref.subresource = info.subresource;
  if (info.namespace) ref.namespace = info.namespace;
  // A create names its object in the body: take the name from the answer (the object, or the Status).
  const obj = body && typeof body === 'object' && !Buffer.isBuffer(body) && body.kind !== 'Table' && !body.kind?.endsWith('List') ? body : undefined;
  const name = info.name || (obj?.kind === 'Status' ? obj.details?.name : obj?.metadata?.name);
  if (name) ref.name = name;
  const workspace = info.workspace
    || (info.apiGroup === 'tenant.mortise.io' && info.resource === 'workspaces' ? name : undefined)
    || (obj?.kind !== 'Status' ? obj?.metadata?.labels?.[workspaceLabel] : undefined)
    // A refused move into a workspace is that workspace's business too.
    || movedTo;
  if (workspace) ref.workspace = workspace;
  return ref;
}

function redactedUri(path: string, querystring: string): string {
  if (!querystring) return path;
  const q = new URLSearchParams(querystring);
  let redacted = false;
  for (const key of [...q.keys()]) {
    if (secretParams.test(key)) {
      q.set(key, '[redacted]');
      redacted = true;
    }
  }
  return redacted ? `${path}?${q.toString()}` : `${path}?${querystring}`;
}
