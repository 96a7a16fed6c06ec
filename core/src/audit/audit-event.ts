import { parseRequestInfo, type RequestInfo } from '../api/request-info.js';
import { uuidV7 } from '../api/uuid-v7.js';
import type { UserInfo } from '../http/app-state.js';
import { isPublic } from '../http/public-routes.js';
import { moveToAnnotation } from '../tenant/tenant-move-admission.js';
import type { AuditEvent, AuditObjectRef } from './audit-log.js';

const mutating = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const workspaceLabel = 'tenant.mortise.io/workspace';
/** Query parameters whose values never reach the log. */
const secretParams = /^(access_token|id_token|refresh_token|token|password|client_secret|code)$/i;

export const anonymousUser = { username: 'system:anonymous', groups: ['system:unauthenticated'] };

/** Every mutating request, and every 401 and 403 on any method. */
export function isAudited(method: string, code: number): boolean {
  return mutating.has(method) || code === 401 || code === 403;
}

/** A finished request as the audit log sees it, whoever answered it (koa or the gateway). */
export interface AuditedRequest {
  method: string;
  path: string;
  querystring: string;
  sourceIp: string;
  userAgent?: string;
  info?: RequestInfo;
  user?: UserInfo;
  /** The username a login attempt named. */
  auditUser?: string;
  /** Annotations the handlers added (e.g. a move between workspaces). */
  annotations?: Record<string, string>;
  code: number;
  /** What the client got (an object, a Status, an OAuth error); never the request body. */
  body?: unknown;
}

export function auditEventOf(r: AuditedRequest, received: Date): AuditEvent {
  const info = r.info ?? parseRequestInfo(r.method, r.path, new URLSearchParams(r.querystring));
  const body = r.body as Body | undefined;
  const objectRef = info.isResourceRequest ? objectRefOf(info, body, r.annotations?.[moveToAnnotation]) : undefined;
  const responseStatus: AuditEvent['responseStatus'] = { code: r.code };
  if (r.code >= 400 && body && typeof body === 'object' && !Buffer.isBuffer(body)) {
    // A metav1.Status, or an OAuth error ({error, error_description}): never the request body.
    const reason = body.kind === 'Status' ? body.reason : typeof body.error === 'string' ? body.error : undefined;
    const message = body.kind === 'Status' ? body.message : typeof body.error_description === 'string' ? body.error_description : undefined;
    if (reason) responseStatus.reason = reason;
    if (message) responseStatus.message = message;
  }
  const user = r.auditUser
    ? { username: r.auditUser, groups: [] }
    : r.user ? { username: r.user.username, groups: [...r.user.groups] } : anonymousUser;
  const event: AuditEvent = {
    // In time order: the audit log's index of IDs appends (api/uuid-v7.ts).
    auditID: uuidV7(),
    stage: 'ResponseComplete',
    requestReceivedTimestamp: received.toISOString(),
    stageTimestamp: new Date().toISOString(),
    verb: info.isResourceRequest ? info.verb : r.method.toLowerCase(),
    requestURI: redactedUri(r.path, r.querystring),
    user,
    sourceIPs: [r.sourceIp],
    userAgent: r.userAgent,
    ...(objectRef ? { objectRef } : {}),
    responseStatus,
  };
  // Authorization ran (and allowed) for every authenticated, non-public request that was not denied.
  if (r.code === 403) event.annotations = { decision: 'forbid', ...(responseStatus.message ? { reason: responseStatus.message } : {}) };
  else if (r.code !== 401 && r.user && !isPublic(r.method, r.path)) event.annotations = { decision: 'allow' };
  if (r.annotations) event.annotations = { ...r.annotations, ...event.annotations };
  return event;
}

type Body = {
  kind?: string; reason?: string; message?: string; error?: unknown; error_description?: unknown;
  details?: { name?: string };
  metadata?: { name?: string; labels?: Record<string, string> };
};

function objectRefOf(info: RequestInfo, body: Body | undefined, movedTo: string | undefined): AuditObjectRef {
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
