import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { parseRequestInfo, type RequestInfo } from '../api/request-info.js';
import { defaultBodyLimit } from '../api/body.js';
import { ApiError, internalError, tooLarge } from '../api/status.js';
import { auditEventOf, isAudited } from '../audit/audit-event.js';
import type { AuditLog } from '../audit/audit-log.js';
import { stripIdentityHeaders } from '../auth/authenticator.js';
import type { UserInfo } from '../http/app-state.js';
import { recordRequest } from '../http/middleware.js';
import { isPublic } from '../http/public-routes.js';
import type { RequestGuard } from '../http/request-guard.js';
import type { CoreMetrics } from '../ops/metrics.js';
import type { DevRoutes } from './dev-routes.js';
import type { Gateway, OpenGrant } from './gateway.js';
import type { Route, RouteMatch } from './route-table.js';

export interface GatewayListenerDeps {
  gateway: Gateway;
  guard: RequestGuard;
  audit: AuditLog;
  metrics: CoreMetrics;
  logger: Logger;
  /** Developers' own routes (`mortise-ext dev`), matched after authentication, for them alone. */
  devRoutes?: DevRoutes;
}

/**
 * The front of the core's HTTP server. A request to a gateway route is answered here, without
 * koa: the same steps as the koa pipeline (identity headers stripped, authentication,
 * authorization, audit, metrics, Status errors), none of what only the API needs (routing, body
 * parsing, content negotiation). Every other request goes to `fallback`, the koa app.
 */
export function gatewayListener(deps: GatewayListenerDeps, fallback: RequestListener): RequestListener {
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const search = q < 0 ? '' : url.slice(q);
    const method = req.method ?? 'GET';
    if ((method === 'GET' || method === 'HEAD') && deps.devRoutes?.claimsAssets(path)) {
      void devAssets(deps, req, res, path, search, fallback);
      return;
    }
    const routable = path.startsWith('/') && !isPublic(method, path);
    const match = routable ? deps.gateway.routes.match(method, path, search) : undefined;
    // A path only a developer's route covers is looked at too: who asks decides after authentication.
    if (!match && !(routable && deps.devRoutes?.claims(path))) {
      fallback(req, res);
      return;
    }
    void proxied(deps, req, res, method, path, search, match);
  };
}

async function proxied(deps: GatewayListenerDeps, req: IncomingMessage, res: ServerResponse, method: string, path: string, search: string, installed: RouteMatch | undefined): Promise<void> {
  let match = installed;
  const received = Date.now();
  const started = process.hrtime.bigint();
  const socket = req.socket as Partial<TLSSocket>;
  let info: RequestInfo | undefined;
  let user: UserInfo | undefined;
  let failure: ApiError | undefined;
  // Audited requests carry their audit ID in the response, whoever answers.
  let auditID = isAudited(method, 0) ? randomUUID() : undefined;
  res.once('close', () => {
    const code = res.headersSent ? res.statusCode : 499;
    const route = match ? metricsRoute(match.route) : 'gateway/dev';
    recordRequest(deps.metrics, deps.logger, { route, method, path, code, seconds: Number(process.hrtime.bigint() - started) / 1e9, user: user?.username });
    if (!isAudited(method, code)) return;
    try {
      deps.audit.record({
        ...auditEventOf({
          method, path, querystring: search.slice(1), sourceIp: socket.remoteAddress ?? '', userAgent: req.headers['user-agent'],
          info, user, code, body: failure?.toStatus(),
        }, new Date(received)),
        ...(auditID ? { auditID } : {}),
      });
    } catch (e) {
      deps.logger.error({ event: 'audit.record-failed', err: (e as Error).message }, 'could not build an audit event');
    }
  });
  // A change to RBAC, a user or a session from here on is checked against the open answer.
  const since = deps.gateway.grants.generation;
  let grant: OpenGrant | undefined;
  try {
    stripIdentityHeaders(req.headers);
    info = parseRequestInfo(method, path, new URLSearchParams(search));
    if (installed?.route.anonymous) {
      // A manifest webhook: nobody is logged in, the backend checks the sender (e.g. an HMAC).
      // Its body is bounded up front, since anyone on the network may send one.
      checkAnonymousBody(req.headers['content-length'], req.headers['transfer-encoding']);
      user = anonymousCaller;
    } else {
      user = await deps.guard.authenticate(req.headers, false, method);
      await deps.guard.authorize(user!, info);
      match = deps.devRoutes?.match(user!.username, path, search) ?? installed;
      // While it is answered (a stream may last hours), the request stays authorized or is cut.
      grant = new ProxiedAnswer(deps.guard, req, res, method, info);
    }
    if (!match) throw new ApiError(404, 'NotFound', `${path} is not served: no extension route matches it`);
    const client = { ip: socket.remoteAddress ?? '', proto: socket.encrypted ? 'https' as const : 'http' as const };
    await deps.gateway.serve(req, res, path, match, user!, client, auditID ? { 'audit-id': auditID } : undefined, grant, since);
  } catch (e) {
    if (!(e instanceof ApiError)) deps.logger.error({ event: 'request.error', method, path, err: (e as Error).stack ?? String(e) }, 'unhandled error');
    failure = e instanceof ApiError ? e : internalError('an internal error occurred; see the server log');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (!auditID && isAudited(method, failure.code)) auditID = randomUUID();
    writeStatus(res, failure, auditID);
  }
}

/**
 * A proxied request while its answer is open, as an OpenGrant: asked again, it is authenticated
 * from the same headers and authorized for the same RequestInfo as when it came in; ended, its
 * response is cut, which aborts the backend's request (upstream-pools.ts).
 */
class ProxiedAnswer implements OpenGrant {
  constructor(
    private readonly guard: RequestGuard, private readonly req: IncomingMessage, private readonly res: ServerResponse,
    private readonly method: string, private readonly info: RequestInfo,
  ) {}

  stillAllowed(): Promise<boolean> {
    return this.guard.stillAllows(this.req.headers, this.method, this.info);
  }

  end(): void {
    this.res.destroy();
  }
}

/**
 * An extension's browser files while a developer runs `mortise-ext dev` with its frontend: the
 * developer's own browser (their session cookie or token) gets their build; everyone else, and
 * anyone whose credentials do not verify, gets the installed version's files as always.
 */
async function devAssets(deps: GatewayListenerDeps, req: IncomingMessage, res: ServerResponse, path: string, search: string, fallback: RequestListener): Promise<void> {
  try {
    const user = await deps.guard.authenticate(req.headers, true, req.method);
    const match = user && deps.devRoutes!.matchAssets(user.username, path, search);
    if (!match || !user) {
      fallback(req, res);
      return;
    }
    stripIdentityHeaders(req.headers);
    const socket = req.socket as Partial<TLSSocket>;
    await deps.gateway.serve(req, res, path, match, user, { ip: socket.remoteAddress ?? '', proto: socket.encrypted ? 'https' : 'http' });
  } catch (e) {
    if (!(e instanceof ApiError)) deps.logger.error({ event: 'request.error', method: req.method, path, err: (e as Error).stack ?? String(e) }, 'unhandled error');
    if (res.headersSent) res.destroy();
    else writeStatus(res, e instanceof ApiError ? e : internalError('an internal error occurred; see the server log'));
  }
}

/** The `route` label of a gateway route's requests, made once per route (the same string object: hashed once). */
const routeLabels = new WeakMap<Route, string>();

function metricsRoute(route: Route): string {
  let label = routeLabels.get(route);
  if (label === undefined) routeLabels.set(route, (label = `gateway/${route.dev ? 'dev' : route.kind}/${route.extension}`));
  return label;
}

const anonymousCaller: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'], via: 'anonymous' };

function checkAnonymousBody(contentLength: string | undefined, transferEncoding: string | undefined): void {
  if (transferEncoding !== undefined) throw new ApiError(411, 'BadRequest', 'a webhook request must give its Content-Length (no chunked bodies)');
  if (contentLength !== undefined && Number(contentLength) > defaultBodyLimit) throw tooLarge(`a webhook body is limited to ${defaultBodyLimit} bytes`);
}

function writeStatus(res: ServerResponse, e: ApiError, auditID?: string): void {
  const body = JSON.stringify(e.toStatus());
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
  if (e.code === 401) headers['www-authenticate'] = 'Bearer realm="mortise"';
  if (e.details?.retryAfterSeconds) headers['retry-after'] = String(e.details.retryAfterSeconds);
  if (auditID) headers['audit-id'] = auditID;
  res.writeHead(e.code, headers);
  res.end(body);
}
