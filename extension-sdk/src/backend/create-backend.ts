import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa, { type Context, type Next } from 'koa';
import { CoreClient } from './core-client.js';
import { createIdentityVerifier, IDENTITY_HEADER, IdentityError, type Identity, type IdentityVerifier } from './identity.js';

export interface ExtensionBackendOptions {
  /** The extension's name: the audience of the identities the core forwards. Default `MORTISE_EXTENSION`. */
  name?: string;
  /** The core's base URL. Default `MORTISE_CORE_URL`. */
  coreUrl?: string;
  /** Where the core publishes its keys. Default `${coreUrl}/oauth/keys`. */
  jwksUrl?: string;
  /** The `iss` of the core's tokens. Default `MORTISE_ISSUER`, else `coreUrl`. */
  issuer?: string;
  /** Answered 200 without an identity (the runtime's health checks). Default `/healthz`. */
  healthPath?: string;
  /** Paths served without an identity: exact, or a prefix ending in `*` (`/public/*`). */
  publicPaths?: string[];
  /** The service-account token for calls to the core. Default `MORTISE_TOKEN`. */
  token?: string;
  /** Clock skew accepted with the core. Default 5 s. */
  clockToleranceSeconds?: number;
  /** How long in-flight requests may take to finish at shutdown. Default 10 s. */
  shutdownTimeoutMs?: number;
  /** Shut down gracefully on SIGTERM and SIGINT, then exit. Default true. */
  handleSignals?: boolean;
  /** Runs after the server has stopped and before the process exits on a signal (close databases...). */
  onShutdown?: () => void | Promise<void>;
}

/** What every handler finds in `ctx.state`. */
export interface BackendState {
  /** The verified caller (absent only on the health and public paths). */
  identity: Identity;
}

export interface RunningBackend {
  url: string;
  server: Server;
  /** Stops accepting connections and waits (up to the shutdown timeout) for requests in flight. */
  close(): Promise<void>;
}

export interface ExtensionBackend {
  readonly name: string;
  readonly app: Koa<BackendState>;
  /** Add routes here; they are served below the identity check. */
  readonly router: Router<BackendState>;
  /** The core's API as the extension's service account. */
  readonly core: CoreClient;
  /** The extension's configuration (`MORTISE_CONFIG`, JSON), `{}` when unset. */
  readonly config: Record<string, unknown>;
  /** Verifies an `X-Mortise-Identity` value (for websocket handshakes, which do not go through koa). */
  verifyIdentity(token: string | undefined): Promise<Identity>;
  listen(port?: number, host?: string): Promise<RunningBackend>;
}

/**
 * The HTTP server of an extension's backend: a koa app whose routes only run for requests the
 * core's gateway forwarded (a valid `X-Mortise-Identity`, whose caller is `ctx.state.identity`),
 * a health path for the runtime, a client for the core's API, and a graceful shutdown.
 */
export function createExtensionBackend(opts: ExtensionBackendOptions = {}): ExtensionBackend {
  const name = opts.name ?? process.env.MORTISE_EXTENSION;
  if (!name) throw new Error('createExtensionBackend: the extension name is unknown: pass `name` or set MORTISE_EXTENSION');
  const coreUrl = (opts.coreUrl ?? process.env.MORTISE_CORE_URL)?.replace(/\/+$/, '');
  if (!coreUrl && !opts.jwksUrl) throw new Error('createExtensionBackend: the core URL is unknown: pass `coreUrl` or set MORTISE_CORE_URL');
  const issuer = opts.issuer ?? process.env.MORTISE_ISSUER ?? coreUrl;
  if (!issuer) throw new Error('createExtensionBackend: the core\'s issuer is unknown: pass `issuer` or set MORTISE_ISSUER');
  const jwksUrl = opts.jwksUrl ?? `${coreUrl}/oauth/keys`;
  const healthPath = opts.healthPath ?? '/healthz';
  const publicPaths = opts.publicPaths ?? [];
  const verifyIdentity: IdentityVerifier = createIdentityVerifier({ audience: name, issuer, jwksUrl, clockToleranceSeconds: opts.clockToleranceSeconds });
  const core = new CoreClient({ url: coreUrl ?? new URL(jwksUrl).origin, token: opts.token ?? process.env.MORTISE_TOKEN });

  const app = new Koa<BackendState>();
  // Requests come through the core's gateway, which sets X-Forwarded-For/Proto/Host.
  app.proxy = true;
  const router = new Router<BackendState>();
  app.use(errors(app));
  app.use(async (ctx, next) => {
    if (ctx.path === healthPath && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      ctx.body = { status: 'ok' };
      return;
    }
    if (isPublicPath(ctx.path, publicPaths)) return next();
    try {
      ctx.state.identity = await verifyIdentity(ctx.get(IDENTITY_HEADER) || undefined);
    } catch (e) {
      if (!(e instanceof IdentityError)) throw e;
      ctx.status = e.status;
      if (e.status === 401) ctx.set('WWW-Authenticate', 'Bearer realm="mortise"');
      ctx.body = status(e.status, e.status === 401 ? 'Unauthorized' : 'ServiceUnavailable', e.message);
      return;
    }
    await next();
  });
  app.use(router.routes());
  app.use(router.allowedMethods());

  return {
    name, app, router, core, config: parseConfig(process.env.MORTISE_CONFIG), verifyIdentity,
    async listen(port = Number(process.env.PORT ?? 0), host = process.env.HOST ?? '127.0.0.1') {
      const server = createServer(app.callback());
      // Longer than the gateway keeps idle connections, so it never reuses one being closed here.
      server.keepAliveTimeout = 65_000;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const addr = server.address() as AddressInfo;
      const url = `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
      let closing: Promise<void> | undefined;
      const close = () => {
        closing ??= new Promise<void>((resolve) => {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          server.close(() => resolve());
          server.closeIdleConnections();
          const sweep = setInterval(() => server.closeIdleConnections(), 100);
          const deadline = setTimeout(() => server.closeAllConnections(), opts.shutdownTimeoutMs ?? 10_000);
          sweep.unref();
          deadline.unref();
          server.once('close', () => {
            clearInterval(sweep);
            clearTimeout(deadline);
          });
        });
        return closing;
      };
      const onSignal = () => {
        void close()
          .then(() => opts.onShutdown?.())
          .then(() => process.exit(0), (e: unknown) => {
            console.error(`${name}: shutdown failed: ${(e as Error).message}`);
            process.exit(1);
          });
      };
      if (opts.handleSignals !== false) {
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
      }
      return { url, server, close };
    },
  };
}

function isPublicPath(path: string, publicPaths: string[]): boolean {
  return publicPaths.some((p) => (p.endsWith('*') ? path.startsWith(p.slice(0, -1)) : path === p));
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

const reasons: Record<number, string> = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 409: 'Conflict',
  410: 'Gone', 413: 'RequestEntityTooLarge', 415: 'UnsupportedMediaType', 422: 'Invalid', 429: 'TooManyRequests', 503: 'ServiceUnavailable',
};

/** Errors and unmatched routes leave as JSON Status objects; unexpected errors are logged, not leaked. */
function errors(app: Koa<BackendState>) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body == null) {
        ctx.status = 404;
        ctx.body = status(404, 'NotFound', `${ctx.method} ${ctx.path} is not served by this extension`);
      }
    } catch (e) {
      const err = e as { status?: number; expose?: boolean; message?: string };
      const code = typeof err.status === 'number' && err.status >= 400 && err.status < 600 ? err.status : 500;
      if (code >= 500) app.emit('error', e, ctx);
      const message = err.expose || code < 500 ? (err.message ?? 'request failed') : 'an internal error occurred; see the extension\'s log';
      ctx.status = code;
      ctx.body = status(code, reasons[code] ?? (code >= 500 ? 'InternalError' : 'BadRequest'), message);
    }
  };
}

function parseConfig(raw: string | undefined): Record<string, unknown> {
  if (!raw) return {};
  try {
    const v = JSON.parse(raw) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    throw new Error('MORTISE_CONFIG is not valid JSON');
  }
}
