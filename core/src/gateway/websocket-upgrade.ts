import { randomUUID } from 'node:crypto';
import {
  ServerResponse, STATUS_CODES, request as httpRequest,
  type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders, type RequestListener,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { parseRequestInfo, type RequestInfo } from '../api/request-info.js';
import { ApiError, badRequest, forbidden, unauthorized } from '../api/status.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Authenticator } from '../auth/authenticator.js';
import { describeRequest, type Authorizer } from '../auth/authorizer.js';
import { cookieValue, sessionCookie } from '../auth/session-cookies.js';
import type { UserInfo } from '../http/app-state.js';
import { admit, upstreamFailure, type HealthSource } from './backend-refusals.js';
import type { GatewayMetrics } from './gateway-metrics.js';
import type { OpenGrant, OpenGrants } from './open-grants.js';
import { downstreamResponseHeaders, headerValue, takeBearerProtocol, upstreamRequestHeaders } from './headers.js';
import type { Route, RouteTable } from './route-table.js';
import { UpstreamTimeout } from './upstream-pools.js';

export interface WebsocketUpgradeDeps {
  routes: RouteTable;
  authenticator: Authenticator;
  authorizer: Authorizer;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Denied handshakes are recorded here (the koa pipeline's audit never sees them). */
  audit?: AuditLog;
  /** The identity token forwarded to the extension's backend for this user. */
  identity: (user: UserInfo, extension: string) => Promise<string>;
  /** The runtime's view of the backends, read at each handshake (it is swapped at run time). */
  health: () => HealthSource | undefined;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  /** Where open tunnels are registered, to be authorized again when RBAC, a user or a session changes. */
  grants: OpenGrants;
}

/**
 * Websocket handshakes to gateway routes, which never reach koa: authenticated (the
 * Authorization header, the bearer subprotocol browsers use, or the console's session cookie from
 * the core's own origin), authorized, forwarded with the identity header, and then the two sockets
 * are piped together until either side closes.
 */
export class WebsocketUpgrades {
  private readonly tunnels = new Set<Duplex>();

  constructor(private readonly deps: WebsocketUpgradeDeps) {}

  /**
   * The `upgrade` listener of the core's servers. Any upgrade request that is not a websocket to
   * a gateway route is answered by `fallback` (the koa app) as the plain request it also is.
   */
  handler(fallback: RequestListener) {
    return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      socket.on('error', () => socket.destroy());
      this.upgrade(req, socket, head, fallback).catch((e: unknown) => {
        const err = e instanceof ApiError ? e : new ApiError(500, 'InternalError', 'an internal error occurred; see the server log');
        if (!(e instanceof ApiError)) this.deps.logger.error({ event: 'gateway.upgrade-error', err: (e as Error).stack ?? String(e) }, 'gateway: upgrade failed');
        writeStatus(socket, err);
      });
    };
  }

  /** Ends the tunnels (at shutdown, before waiting for requests in flight). */
  closeAll(): void {
    for (const s of this.tunnels) s.destroy();
    this.tunnels.clear();
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, fallback: RequestListener): Promise<void> {
    const { metrics } = this.deps;
    const url = new URL(req.url ?? '/', 'http://gateway.invalid');
    const websocket = req.method === 'GET' && String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
    const match = websocket ? this.deps.routes.match('GET', url.pathname, url.search) : undefined;
    if (!match) {
      serveAsPlainRequest(req, socket, fallback);
      return;
    }
    const { route } = match;
    const started = process.hrtime.bigint();
    let code = 0;
    socket.once('close', () => metrics.observe(route, 'GET', code || 499, started));
    const fail = (e: ApiError, user?: UserInfo, info?: RequestInfo) => {
      code = e.code;
      if ((e.code === 401 || e.code === 403) && this.deps.audit) this.auditDenial(req, url, e, user, info);
      writeStatus(socket, e);
    };

    // Authentication: the header, else the subprotocol (never a query parameter: URLs get logged),
    // else the console's session cookie — only from a page of the core's own origin: a websocket
    // is not held to CORS, so the Origin the browser sets is what stops another site's page
    // (cross-site websocket hijacking; the cookie is also SameSite=Strict).
    const protocols = takeBearerProtocol(headerValue(req.headers['sec-websocket-protocol']));
    let authorization = headerValue(req.headers.authorization) ?? (protocols.token ? `Bearer ${protocols.token}` : undefined);
    const session = authorization ? undefined : cookieValue(headerValue(req.headers.cookie), sessionCookie);
    if (session) {
      const origin = headerValue(req.headers.origin);
      if (!origin || !sameOrigin(origin, headerValue(req.headers.host))) {
        return fail(forbidden(`a websocket opened with the console's session cookie must come from the core's own origin, not ${origin ?? 'a page without an Origin'}`));
      }
      authorization = `Bearer ${session}`;
    }
    // A change to RBAC, a user or a session from here on is checked against the tunnel once open.
    const since = this.deps.grants.generation;
    let user: UserInfo | undefined;
    try {
      user = await this.deps.authenticator.authenticate(authorization);
    } catch (e) {
      if (e instanceof ApiError) return fail(e);
      throw e;
    }
    if (!user) return fail(unauthorized('authentication required: send "Authorization: Bearer <token>", or from a browser the subprotocol "base64url.bearer.authorization.k8s.io.<token>"'));
    const impersonate = Object.keys(req.headers).find((h) => h.toLowerCase().startsWith('impersonate-'));
    if (impersonate) return fail(forbidden(`${user.username} cannot impersonate: impersonation (the ${impersonate} header) is not supported by this server`), user);

    const info = parseRequestInfo('GET', url.pathname, url.searchParams);
    const decision = await this.deps.authorizer.authorize(user, info);
    if (!decision.allowed) return fail(forbidden(`${user.username} cannot ${describeRequest(info)}: ${decision.reason}`), user, info);
    try {
      admit(route, url.pathname, this.deps.health(), metrics);
    } catch (e) {
      if (e instanceof ApiError) return fail(e, user, info);
      throw e;
    }

    const identity = await this.deps.identity(user, route.extension);
    const tls = (socket as { encrypted?: boolean }).encrypted === true;
    const headers = upstreamRequestHeaders(req.headers, {
      identity, clientIp: (socket as Partial<Socket>).remoteAddress ?? '', proto: tls ? 'https' : 'http', host: headerValue(req.headers.host),
      strippedPrefix: match.strippedPrefix, headerUp: route.headerUp, removeHeaders: route.removeHeaders, upgrade: headerValue(req.headers.upgrade),
    });
    if (protocols.rest) headers['sec-websocket-protocol'] = protocols.rest;
    else delete headers['sec-websocket-protocol'];

    // A handshake gets its own connection (it becomes the tunnel; pooling it would be wrong).
    const upReq = this.request(route, 'GET', match.upstreamPath, headers);
    let answered = false;
    const timers = this.watchTimeouts(upReq, () => answered);
    const onClientGone = () => {
      if (!answered) upReq.destroy();
    };
    socket.once('close', onClientGone);
    upReq.once('upgrade', (upRes: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
      answered = true;
      timers.clear();
      socket.off('close', onClientGone);
      if (socket.destroyed) {
        upSocket.destroy();
        return;
      }
      code = 101;
      const out = downstreamResponseHeaders(upRes.headers, route.headerDown, { upgrade: true });
      socket.write(`HTTP/1.1 101 ${upRes.statusMessage || 'Switching Protocols'}\r\n${serializeHeaders(out)}\r\n`);
      if (upHead.length) socket.write(upHead);
      if (head.length) upSocket.write(head);
      // The tunnel stays open while its handshake would still be allowed (OpenGrants).
      this.tunnel(socket, upSocket, since, {
        stillAllowed: async () => {
          try {
            const again = await this.deps.authenticator.authenticate(authorization);
            return !!again && (await this.deps.authorizer.authorize(again, info)).allowed;
          } catch {
            return false;
          }
        },
        end: () => socket.destroy(),
      });
    });
    upReq.once('response', (upRes: IncomingMessage) => {
      // The backend declined to switch protocols: pass its answer on and close.
      answered = true;
      timers.clear();
      socket.off('close', onClientGone);
      code = upRes.statusCode ?? 502;
      const out = downstreamResponseHeaders(upRes.headers, route.headerDown);
      delete out['transfer-encoding'];
      out.connection = 'close';
      socket.write(`HTTP/1.1 ${code} ${upRes.statusMessage || STATUS_CODES[code] || ''}\r\n${serializeHeaders(out)}\r\n`);
      upRes.pipe(socket);
      upRes.once('error', () => socket.destroy());
    });
    upReq.on('error', (e) => {
      timers.clear();
      socket.off('close', onClientGone);
      if (answered || socket.destroyed) return;
      answered = true;
      const err = upstreamFailure(route, e, metrics, this.deps.logger);
      metrics.countError(route, 'upgrade_failed');
      code = err.code;
      writeStatus(socket, err);
    });
    upReq.end();
  }

  private request(route: Route, method: string, path: string, headers: OutgoingHttpHeaders): ClientRequest {
    const url = route.upstream!;
    const https = url.protocol === 'https:';
    return (https ? httpsRequest : httpRequest)({
      protocol: url.protocol, hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port || (https ? 443 : 80),
      method, path, headers, agent: false,
    });
  }

  /** Connect timeout from the request's start to a connected socket; response timeout from the request sent to the headers. */
  private watchTimeouts(req: ClientRequest, answered: () => boolean): { clear(): void } {
    const { connectTimeoutMs, responseTimeoutMs } = this.deps;
    let responseTimer: NodeJS.Timeout | undefined;
    const connectTimer = setTimeout(() => req.destroy(new UpstreamTimeout('connect', connectTimeoutMs)), connectTimeoutMs);
    const connected = () => clearTimeout(connectTimer);
    req.once('socket', (socket: Socket) => {
      if (socket.connecting) socket.once('connect', connected);
      else connected();
    });
    req.once('finish', () => {
      if (answered()) return;
      responseTimer = setTimeout(() => req.destroy(new UpstreamTimeout('response', responseTimeoutMs)), responseTimeoutMs);
    });
    return {
      clear() {
        clearTimeout(connectTimer);
        if (responseTimer) clearTimeout(responseTimer);
      },
    };
  }

  private tunnel(client: Duplex, upstream: Socket, since: number, grant: OpenGrant): void {
    this.tunnels.add(client);
    this.tunnels.add(upstream);
    this.deps.grants.add(grant, since);
    for (const s of [client, upstream] as Array<Duplex & Partial<Socket>>) {
      s.setTimeout?.(0);
      s.setNoDelay?.(true);
      s.setKeepAlive?.(true, 30_000);
    }
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.tunnels.delete(client);
      this.tunnels.delete(upstream);
      this.deps.grants.delete(grant);
    };
    client.once('close', end);
    upstream.once('close', end);
    upstream.on('error', end);
    client.on('error', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private auditDenial(req: IncomingMessage, url: URL, e: ApiError, user?: UserInfo, info?: RequestInfo): void {
    try {
      const now = new Date().toISOString();
      this.deps.audit!.record({
        auditID: randomUUID(), stage: 'ResponseComplete', requestReceivedTimestamp: now, stageTimestamp: now,
        verb: info?.verb ?? 'get', requestURI: url.pathname,
        user: user ? { username: user.username, groups: [...user.groups] } : { username: 'system:anonymous', groups: ['system:unauthenticated'] },
        sourceIPs: [req.socket.remoteAddress ?? ''], userAgent: headerValue(req.headers['user-agent']),
        responseStatus: { code: e.code, reason: e.reason, message: e.message },
        ...(e.code === 403 ? { annotations: { decision: 'forbid' as const, reason: e.message } } : {}),
      });
    } catch (err) {
      this.deps.logger.error({ event: 'audit.record-failed', err: (err as Error).message }, 'could not record a denied websocket handshake');
    }
  }
}

function serializeHeaders(headers: Record<string, string | string[]>): string {
  let out = '';
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) out += `${name}: ${String(v).replace(/[\r\n]/g, ' ')}\r\n`;
  }
  return out;
}

/** Answers a handshake with a Status and closes the connection. */
function writeStatus(socket: Duplex, e: ApiError): void {
  if (socket.destroyed || !socket.writable) return;
  const body = JSON.stringify(e.toStatus());
  const extra = (e.code === 401 ? 'WWW-Authenticate: Bearer realm="mortise"\r\n' : '')
    + (e.details?.retryAfterSeconds ? `Retry-After: ${e.details.retryAfterSeconds}\r\n` : '');
  socket.end(`HTTP/1.1 ${e.code} ${STATUS_CODES[e.code] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`);
}

/**
 * An upgrade request that is not a websocket for the gateway (say `Upgrade: h2c`) is still a
 * plain HTTP request: the app answers it on this connection, which then closes.
 */
function serveAsPlainRequest(req: IncomingMessage, socket: Duplex, handler: RequestListener): void {
  if (req.headers['transfer-encoding'] || (req.headers['content-length'] && req.headers['content-length'] !== '0')) {
    writeStatus(socket, badRequest('an upgrade request with a body is not supported here'));
    return;
  }
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.once('finish', () => {
    res.detachSocket(socket as Socket);
    socket.end();
  });
  handler(req, res);
}

/** Whether a browser's Origin header names the host the request was sent to (scheme aside: one port speaks both). */
function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
