import type { IncomingHttpHeaders, IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AuditLog } from '../audit/audit-log.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { Authorizer } from '../auth/authorizer.js';
import type { TokenService } from '../auth/token-service.js';
import type { UserInfo } from '../http/app-state.js';
import type { ResourceStore } from '../store/resource-store.js';
import { admit, upstreamFailure, type HealthSource } from './backend-refusals.js';
import { ForwardedIdentities, type ForwardedIdentityOptions } from './forwarded-identity.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { OpenGrants, type OpenGrant } from './open-grants.js';
import { downstreamResponseHeaders, headerValue, upstreamRequestHeaders } from './headers.js';
import { RouteTable, type RouteMatch } from './route-table.js';
import { ClientClosed, ResponseAborted, UpstreamPools, UpstreamTimeout } from './upstream-pools.js';
import { ApiError } from '../api/status.js';
import { WebsocketUpgrades } from './websocket-upgrade.js';

export type { HealthSource } from './backend-refusals.js';
export type { OpenGrant } from './open-grants.js';

/** Where a proxied request came from, as the backend is told (X-Forwarded-For, -Proto). */
export interface ClientOrigin {
  ip: string;
  proto: 'http' | 'https';
}

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
  tokens: Pick<TokenService, 'signForwarded'>;
  authenticator: Authenticator;
  authorizer: Authorizer;
  registry: Registry;
  logger: Logger;
  /** Denied websocket handshakes are recorded here (the koa pipeline's audit never sees them). */
  audit?: AuditLog;
  /** The groups forwarded for a user (default: those it authenticated with). */
  groupsOf?: (user: UserInfo) => string[];
}

/**
 * The gateway: requests under an APIService group (`/kapis/{group}/{version}/...`) or a
 * ReverseProxy prefix, already authenticated and authorized by the core's pipeline, are streamed
 * to the extension's backend with the caller's identity as a JWT signed by the core, and the
 * backend's answer is streamed back. Websocket handshakes, which never reach koa, are
 * authenticated, authorized and tunnelled by `upgradeHandler` (websocket-upgrade.ts).
 */
export class Gateway {
  readonly routes: RouteTable;
  readonly metrics: GatewayMetrics;
  readonly identities: ForwardedIdentities;
  /**
   * What is open on the strength of one request's authorization (websocket tunnels, proxied
   * answers still streaming): authorized again by `revalidate()`, ended once refused.
   */
  readonly grants = new OpenGrants();
  private health?: HealthSource;
  private readonly healthListeners = new Set<() => void>();
  private readonly responseTimeoutMs: number;
  private readonly upstream: UpstreamPools;
  private readonly websockets: WebsocketUpgrades;

  constructor(private readonly deps: GatewayDeps, opts: GatewayOptions = {}) {
    this.routes = new RouteTable(deps.store, deps.logger);
    this.metrics = new GatewayMetrics(deps.registry);
    this.identities = new ForwardedIdentities(deps.tokens, opts.identity);
    this.health = opts.health;
    const connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
    const responseTimeoutMs = opts.responseTimeoutMs ?? 60_000;
    this.responseTimeoutMs = responseTimeoutMs;
    this.upstream = new UpstreamPools({ connectTimeoutMs, responseTimeoutMs, maxConnections: opts.maxSocketsPerUpstream ?? 256 });
    this.websockets = new WebsocketUpgrades({
      routes: this.routes, authenticator: deps.authenticator, authorizer: deps.authorizer, metrics: this.metrics, logger: deps.logger, audit: deps.audit,
      identity: (user, extension) => this.identity(user, extension), health: () => this.health, connectTimeoutMs, responseTimeoutMs,
      grants: this.grants,
    });
    this.routes.onChange(() => this.pruneUpstreams());
  }

  async start(): Promise<void> {
    await this.routes.start();
  }

  /**
   * Where a backend on this machine serves besides its URL (the process runtime's sockets): its
   * requests go there from the next connection pool made for its origin.
   */
  setBackendSockets(socketOf: (origin: string) => string | undefined): void {
    this.upstream.socketOf = socketOf;
  }

  /** Where the gateway learns whether a backend is ready (the runtime's view); returns the one it replaces. */
  setHealthSource(health: HealthSource | undefined): HealthSource | undefined {
    const previous = this.health;
    this.health = health;
    for (const l of this.healthListeners) l();
    return previous;
  }

  /** Called when the health source is replaced (the native edge forgets its decisions). */
  onHealthSourceChange(listener: () => void): () => void {
    this.healthListeners.add(listener);
    return () => this.healthListeners.delete(listener);
  }

  /**
   * The answer to a request whose backend did not answer in time behind the native edge: the
   * Status the gateway itself gives (and counts), without sending the request again.
   */
  timedOut(method: string, url: string): ApiError {
    const q = url.indexOf('?');
    const match = this.routes.match(method, q < 0 ? url : url.slice(0, q), q < 0 ? '' : url.slice(q));
    const timeout = new UpstreamTimeout('response', this.responseTimeoutMs);
    if (!match) return new ApiError(504, 'Timeout', `the backend did not answer within ${this.responseTimeoutMs} ms`);
    return upstreamFailure(match.route, timeout, this.metrics, this.deps.logger);
  }

  /** The `upgrade` listener of the core's servers (websockets to extension backends; other upgrades go to `fallback`). */
  upgradeHandler(fallback: RequestListener) {
    return this.websockets.handler(fallback);
  }

  /**
   * What authentication or authorization read has changed (a binding, a role, a user, a session):
   * every open websocket tunnel and proxied answer is authorized again, as at its start, and those
   * no longer allowed are ended (the client's connection closed, the backend's request aborted).
   */
  revalidate(): void {
    this.grants.revalidate();
  }

  /** Ends the websocket tunnels (at shutdown, before waiting for requests in flight). */
  closeUpgraded(): void {
    this.websockets.closeAll();
  }

  stop(): void {
    this.routes.stop();
    this.closeUpgraded();
    this.upstream.destroy();
    this.grants.clear();
  }

  /**
   * Answers a request to a gateway route, already authenticated and authorized: refusals that
   * need no backend, then the backend's answer streamed to the client with the caller's identity
   * forwarded. Throws an ApiError while nothing has been sent; once the answer has started, a
   * failure cuts the response. With a `grant` (its `end` cuts `res`), the exchange is registered
   * in `grants` until it ends, authorized as of `since`: a stream stops when its caller's access does.
   */
  async serve(
    req: IncomingMessage, res: ServerResponse, path: string, match: RouteMatch, user: UserInfo, client: ClientOrigin,
    extraHeaders?: Record<string, string>, grant?: OpenGrant, since = 0,
  ): Promise<void> {
    const { route } = match;
    const method = req.method ?? 'GET';
    const started = process.hrtime.bigint();
    res.once('close', () => this.metrics.observe(route, method, res.headersSent ? res.statusCode : 499, started));
    admit(route, path, this.health, this.metrics);
    const identity = await this.identity(user, route.extension);
    const headers = upstreamRequestHeaders(req.headers, {
      identity, clientIp: client.ip, proto: client.proto, host: headerValue(req.headers.host),
      strippedPrefix: match.strippedPrefix, headerUp: route.headerUp, removeHeaders: route.removeHeaders,
      // undici frames the body itself (chunked when its length is unknown).
      markChunked: false,
    });
    const hasBody = !!req.headers['transfer-encoding'] || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    // Registered from here to the answer's end (a change since `since` is checked at once).
    if (grant) this.grants.add(grant, since);
    try {
      await this.upstream.forward(route.upstream!, {
        method, path: match.upstreamPath, headers, body: hasBody ? req : null, res,
        responseHeaders: (h) => {
          const out = downstreamResponseHeaders(h as IncomingHttpHeaders, route.headerDown);
          return extraHeaders ? Object.assign(out, extraHeaders) : out;
        },
      });
    } catch (e) {
      if (e instanceof ClientClosed) return;
      if (e instanceof ResponseAborted) {
        this.metrics.countError(route, 'response_aborted');
        res.destroy();
        return;
      }
      throw upstreamFailure(route, e, this.metrics, this.deps.logger);
    } finally {
      if (grant) this.grants.delete(grant);
    }
  }

  /** Whether a matched route may be forwarded to now; throws the refusal the client would get (nothing counted). */
  admits(match: RouteMatch, path: string): void {
    admit(match.route, path, this.health);
  }

  /** The identity token forwarded for a user to an extension (cached by ForwardedIdentities), in use for at least `usableForMs` more. */
  identity(user: UserInfo, extension: string, usableForMs = 0): Promise<string> {
    return this.identities.token({ username: user.username, groups: this.deps.groupsOf?.(user) ?? user.groups }, extension, usableForMs);
  }

  private pruneUpstreams(): void {
    // Requests in flight to an old backend (an upgrade switching routes) finish; idle connections close.
    this.upstream.retain(new Set(this.routes.routes().flatMap((r) => (r.upstream ? [r.upstream.origin] : []))));
  }
}
