import { randomUUID } from 'node:crypto';
import {
  ServerResponse, STATUS_CODES, request as httpRequest,
  type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type RequestListener,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Next } from 'koa';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { parseRequestInfo, type RequestInfo } from '../api/request-info.js';
import { ApiError, badRequest, forbidden, unauthorized } from '../api/status.js';
import { cookieValue, sessionCookie } from '../auth/session-cookies.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Authenticator } from '../auth/authenticator.js';
import { describeRequest, type Authorizer } from '../auth/authorizer.js';
import type { TokenService } from '../auth/token-service.js';
import type { AppContext, UserInfo } from '../http/app-state.js';
import { extensionsGroup } from '../schemas/extensions.js';
import type { ResourceStore } from '../store/resource-store.js';
import { ForwardedIdentities, type ForwardedIdentityOptions, type ForwardedUser } from './forwarded-identity.js';
import { GatewayMetrics, type UpstreamErrorReason } from './gateway-metrics.js';
import { downstreamResponseHeaders, takeBearerProtocol, upstreamRequestHeaders } from './headers.js';
import { RouteTable, type Route, type RouteMatch } from './route-table.js';
import { ClientClosed, ResponseAborted, UpstreamPools, UpstreamTimeout } from './upstream-pools.js';

/** Where a proxied request came from, as the backend is told (X-Forwarded-For, -Proto). */
export interface ClientOrigin {
  ip: string;
  proto: 'http' | 'https';
}

/** What the runtime knows about an extension's backend; the installer wires it in. */
export type HealthSource = (extension: string) => { healthy: boolean; message?: string };

export interface GatewayOptions {
  /** Time to get a connection to a backend (waiting for a pooled socket included). Default 5 s. */
  connectTimeoutMs?: number;
  /** Time from the request (its body included) being sent to the response headers. Default 60 s. */
  responseTimeoutMs?: number;
  /** Bound on concurrent connections to one backend (more requests queue). Default 256. */
  maxSocketsPerUpstream?: number;
  /** The forwarded identity tokens (lifetime, reuse, cache bound). */
  identity?: ForwardedIdentityOptions;
  health?: HealthSource;
}

export interface GatewayDeps {
  store: ResourceStore;
  tokens: Pick<TokenService, 'sign'>;
  authenticator: Authenticator;
  authorizer: Authorizer;
  registry: Registry;
  logger: Logger;
  /** Denied websocket handshakes are recorded here (the koa pipeline's audit never sees them). */
  audit?: AuditLog;
  /** The groups forwarded for a user (default: those it authenticated with). */
  groupsOf?: (user: UserInfo) => string[];
}

const retryAfterSeconds = 5;

/**
 * The gateway: requests under an APIService group (`/kapis/{group}/{version}/...`) or a
 * ReverseProxy prefix, already authenticated and authorized by the core's pipeline, are streamed
 * to the extension's backend with the caller's identity as a JWT signed by the core, and the
 * backend's answer is streamed back. Websocket handshakes, which never reach koa, are
 * authenticated, authorized and tunnelled by `upgradeHandler`.
 */
export class Gateway {
  readonly routes: RouteTable;
  readonly metrics: GatewayMetrics;
  readonly identities: ForwardedIdentities;
  private health?: HealthSource;
  private readonly upstream: UpstreamPools;
  private readonly tunnels = new Set<Duplex>();
  private readonly connectTimeoutMs: number;
  private readonly responseTimeoutMs: number;

  constructor(private readonly deps: GatewayDeps, opts: GatewayOptions = {}) {
    this.routes = new RouteTable(deps.store, deps.logger);
    this.metrics = new GatewayMetrics(deps.registry);
    this.identities = new ForwardedIdentities(deps.tokens, opts.identity);
    this.health = opts.health;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
    this.responseTimeoutMs = opts.responseTimeoutMs ?? 60_000;
    this.upstream = new UpstreamPools({ connectTimeoutMs: this.connectTimeoutMs, responseTimeoutMs: this.responseTimeoutMs, maxConnections: opts.maxSocketsPerUpstream ?? 256 });
    this.routes.onChange(() => this.pruneUpstreams());
  }

  async start(): Promise<void> {
    await this.routes.start();
  }

  /** Where the gateway learns whether a backend is ready (the runtime's view); returns the one it replaces. */
  setHealthSource(health: HealthSource | undefined): HealthSource | undefined {
    const previous = this.health;
    this.health = health;
    return previous;
  }

  /** Ends the websocket tunnels (at shutdown, before waiting for requests in flight). */
  closeUpgraded(): void {
    for (const s of this.tunnels) s.destroy();
    this.tunnels.clear();
  }

  stop(): void {
    this.routes.stop();
    this.closeUpgraded();
    this.upstream.destroy();
  }

  /**
   * Answers a request to a gateway route, already authenticated and authorized: refusals that
   * need no backend, then the backend's answer streamed to the client with the caller's identity
   * forwarded. Throws an ApiError while nothing has been sent; once the answer has started, a
   * failure cuts the response.
   */
  async serve(req: IncomingMessage, res: ServerResponse, path: string, match: RouteMatch, user: UserInfo, client: ClientOrigin, extraHeaders?: Record<string, string>): Promise<void> {
    const { route } = match;
    const method = req.method ?? 'GET';
    const started = process.hrtime.bigint();
    res.once('close', () => this.observe(route, method, res.headersSent ? res.statusCode : 499, started));
    this.admit(route, path);
    const identity = await this.identities.token(this.forwardedUser(user), route.extension);
    const headers = upstreamRequestHeaders(req.headers, {
      identity, clientIp: client.ip, proto: client.proto, host: headerValue(req.headers.host),
      strippedPrefix: match.strippedPrefix, headerUp: route.headerUp, removeHeaders: route.removeHeaders,
    });
    // undici frames the body itself (chunked when its length is unknown).
    delete headers['transfer-encoding'];
    const hasBody = !!req.headers['transfer-encoding'] || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    try {
      await this.upstream.forward(route.upstream!, {
        method, path: match.upstreamPath, headers, body: hasBody ? req : null, res,
        responseHeaders: (h) => ({ ...downstreamResponseHeaders(h as IncomingHttpHeaders, route.headerDown), ...extraHeaders }),
      });
    } catch (e) {
      if (e instanceof ClientClosed) return;
      if (e instanceof ResponseAborted) {
        this.countError(route, 'response_aborted');
        res.destroy();
        return;
      }
      throw this.upstreamFailure(route, e);
    }
  }

  /** Refusals that need no backend: odd paths, disabled extensions, broken routes, unready backends. */
  private admit(route: Route, path: string): void {
    if (hasDotSegment(path)) throw badRequest(`the path "${path}" has "." or ".." segments, which the gateway does not forward`);
    const details = { name: route.extension, group: extensionsGroup, kind: 'extensions' };
    if (!route.enabled) {
      throw new ApiError(503, 'ServiceUnavailable',
        `the extension "${route.extension}" is disabled, so ${path} is not served: an administrator can enable it in the Extension Center, or with ` +
        `kubectl patch installplans.${extensionsGroup} ${route.extension} --type merge -p '{"spec":{"enabled":true}}'`, details);
    }
    if (route.problem) {
      this.countError(route, 'misconfigured');
      throw new ApiError(502, 'ServiceUnavailable', `the ${route.kind === 'apiservice' ? 'APIService' : 'ReverseProxy'} "${route.name}" of extension "${route.extension}" cannot be used: ${route.problem}`, details);
    }
    const health = route.dev ? undefined : this.health?.(route.extension);
    if (health && !health.healthy) {
      this.countError(route, 'unhealthy');
      throw new ApiError(503, 'ServiceUnavailable', `the backend of extension "${route.extension}" is not ready: ${health.message ?? 'it is not running'}`, { ...details, retryAfterSeconds });
    }
  }

  private forwardedUser(user: UserInfo): ForwardedUser {
    return { username: user.username, groups: this.deps.groupsOf?.(user) ?? user.groups };
  }

  private request(route: Route, method: string, path: string, headers: OutgoingHttpHeaders, agent: false): ClientRequest {
    const url = route.upstream!;
    const https = url.protocol === 'https:';
    return (https ? httpsRequest : httpRequest)({
      protocol: url.protocol, hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port || (https ? 443 : 80),
      method, path, headers, agent,
    });
  }

  /** Connect timeout from the request's start to a connected socket; response timeout from the request sent to the headers. */
  private watchTimeouts(req: ClientRequest, answered: () => boolean): { clear(): void } {
    let responseTimer: NodeJS.Timeout | undefined;
    const connectTimer = setTimeout(() => req.destroy(new UpstreamTimeout('connect', this.connectTimeoutMs)), this.connectTimeoutMs);
    const connected = () => clearTimeout(connectTimer);
    req.once('socket', (socket: Socket) => {
      if (socket.connecting) socket.once('connect', connected);
      else connected();
    });
    req.once('finish', () => {
      if (answered()) return;
      responseTimer = setTimeout(() => req.destroy(new UpstreamTimeout('response', this.responseTimeoutMs)), this.responseTimeoutMs);
    });
    return {
      clear() {
        clearTimeout(connectTimer);
        if (responseTimer) clearTimeout(responseTimer);
      },
    };
  }

  private upstreamFailure(route: Route, e: unknown): ApiError {
    const details = { name: route.extension, group: extensionsGroup, kind: 'extensions' };
    const who = `the backend of extension "${route.extension}"`;
    if (e instanceof UpstreamTimeout) {
      this.countError(route, e.phase === 'connect' ? 'connect_timeout' : 'response_timeout');
      return new ApiError(504, 'Timeout', e.phase === 'connect'
        ? `${who} did not accept a connection within ${e.ms} ms`
        : `${who} did not answer within ${e.ms} ms`, details);
    }
    const err = e as NodeJS.ErrnoException;
    const refused = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'].includes(err.code ?? '');
    if (refused) {
      this.countError(route, 'connect_error');
      return new ApiError(502, 'ServiceUnavailable', `${who} is unreachable: ${err.message}`, details);
    }
    this.countError(route, 'reset');
    this.deps.logger.warn({ event: 'gateway.upstream-error', extension: route.extension, route: route.name, err: err.message, code: err.code }, 'gateway: backend failed');
    return new ApiError(502, 'ServiceUnavailable', `${who} failed to answer: ${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}`, details);
  }

  private countError(route: Route, reason: UpstreamErrorReason): void {
    this.metrics.upstreamErrors.inc({ extension: route.extension, route: route.kind, reason });
  }

  private observe(route: Route, method: string, code: number, started: bigint): void {
    const labels = { extension: route.extension, route: route.kind, method };
    this.metrics.requests.inc({ ...labels, code: String(code) });
    this.metrics.duration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
  }

  private pruneUpstreams(): void {
    // Requests in flight to an old backend (an upgrade switching routes) finish; idle connections close.
    this.upstream.retain(new Set(this.routes.routes().flatMap((r) => (r.upstream ? [r.upstream.origin] : []))));
  }

  // --- websockets -------------------------------------------------------------------------

  /**
   * The `upgrade` listener of the core's servers. A websocket handshake to a gateway route is
   * authenticated (the Authorization header, or the bearer subprotocol browsers use), authorized,
   * forwarded with the identity header, and then the two sockets are piped together. Any other
   * upgrade request is answered by `fallback` (the koa app) as the plain request it also is.
   */
  upgradeHandler(fallback: RequestListener) {
    return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      socket.on('error', () => socket.destroy());
      this.upgrade(req, socket, head, fallback).catch((e: unknown) => {
        const err = e instanceof ApiError ? e : new ApiError(500, 'InternalError', 'an internal error occurred; see the server log');
        if (!(e instanceof ApiError)) this.deps.logger.error({ event: 'gateway.upgrade-error', err: (e as Error).stack ?? String(e) }, 'gateway: upgrade failed');
        writeStatus(socket, err);
      });
    };
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, fallback: RequestListener): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gateway.invalid');
    const websocket = req.method === 'GET' && String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
    const match = websocket ? this.routes.match('GET', url.pathname, url.search) : undefined;
    if (!match) {
      serveAsPlainRequest(req, socket, fallback);
      return;
    }
    const { route } = match;
    const started = process.hrtime.bigint();
    let code = 0;
    socket.once('close', () => this.observe(route, 'GET', code || 499, started));
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
      this.admit(route, url.pathname);
    } catch (e) {
      if (e instanceof ApiError) return fail(e, user, info);
      throw e;
    }

    const identity = await this.identities.token(this.forwardedUser(user), route.extension);
    const tls = (socket as { encrypted?: boolean }).encrypted === true;
    const headers = upstreamRequestHeaders(req.headers, {
      identity, clientIp: (socket as Partial<Socket>).remoteAddress ?? '', proto: tls ? 'https' : 'http', host: headerValue(req.headers.host),
      strippedPrefix: match.strippedPrefix, headerUp: route.headerUp, removeHeaders: route.removeHeaders, upgrade: headerValue(req.headers.upgrade),
    });
    if (protocols.rest) headers['sec-websocket-protocol'] = protocols.rest;
    else delete headers['sec-websocket-protocol'];

    // A handshake gets its own connection (it becomes the tunnel; pooling it would be wrong).
    const upReq = this.request(route, 'GET', match.upstreamPath, headers, false);
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
      this.tunnel(socket, upSocket);
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
      const err = this.upstreamFailure(route, e);
      this.countError(route, 'upgrade_failed');
      code = err.code;
      writeStatus(socket, err);
    });
    upReq.end();
  }

  private tunnel(client: Duplex, upstream: Socket): void {
    this.tunnels.add(client);
    this.tunnels.add(upstream);
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

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
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

function hasDotSegment(path: string): boolean {
  return path.split('/').some((s) => {
    if (!s.includes('.')) return s.toLowerCase().includes('%2e') && isDot(safeDecode(s));
    return isDot(s) || isDot(safeDecode(s));
  });
}

const isDot = (s: string) => s === '.' || s === '..';

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Whether a browser's Origin header names the host the request was sent to (scheme aside: one port speaks both). */
function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
