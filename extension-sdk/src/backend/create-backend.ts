import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Router, { type RouterContext } from '@koa/router';
import Koa from 'koa';
import { CoreClient } from './core-client.js';
import { errorResponder, type BackendLog, jsonLog } from './errors.js';
import { createIdentityVerifier, IdentityError, type Identity, type IdentityVerifier } from './identity.js';
import { jsonBodies, matchesPath, DEFAULT_MAX_BODY_BYTES } from './json-body.js';
import { DEFAULT_HEALTH_PATH } from '../manifest/types.js';
import { IDENTITY_HEADER, readRuntimeEnvironment, RUNTIME_ENV } from './runtime-env.js';
import { listenOnSocket, removeSocketFile } from './socket-listener.js';
import { backendStatus } from './status.js';

export interface ExtensionBackendOptions {
  /** The extension's name: the audience of the identities the core forwards. Default `MORTISE_EXTENSION`. */
  name?: string;
  /** The core's base URL. Default `MORTISE_CORE_URL`. */
  coreUrl?: string;
  /** Where the core publishes its keys. Default `${coreUrl}/oauth/keys`. */
  jwksUrl?: string;
  /** The `iss` of the core's tokens. Default `MORTISE_ISSUER`, else `coreUrl`. */
  issuer?: string;
  /**
   * Answered 200 without an identity (the runtime's readiness checks). Default `MORTISE_HEALTH_PATH`,
   * which the core sets from the manifest's `backend.healthPath`, else `/healthz`.
   */
  healthPath?: string;
  /** The one directory the backend may write. Default `MORTISE_DATA_DIR` (set by the core and `mortise-ext dev`), else a directory under the OS temp dir. */
  dataDir?: string;
  /** Largest JSON request body accepted (413 beyond). Default 1 MiB. */
  maxBodyBytes?: number;
  /**
   * Paths whose request bodies the handler reads itself from `ctx.req` (streams, binary or
   * compressed pushes, bodies larger than `maxBodyBytes`): exact, or a prefix ending in `*`.
   */
  rawBodyPaths?: string[];
  /** Where the helper logs (one JSON line per event, which the core keeps as the extension's log). Default stderr. */
  log?: BackendLog;
  /**
   * A Unix socket to serve on as well as the port. Default `MORTISE_SOCKET` (the core's process
   * runtime sets it, and then sends the gateway's requests there); false: the port only.
   */
  socketPath?: string | false;
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
  /**
   * The verified caller, as the core vouches for it: `{username, groups, name?}` (see `Identity`).
   * Set on every route but the health path and `publicPaths` (there it is undefined).
   */
  identity: Identity;
}

/** The context of a backend's route handlers: `ctx.state.identity`, and `ctx.request.body` (parsed JSON). */
export type BackendContext = RouterContext<BackendState>;

declare module 'koa' {
  interface Request {
    /** The parsed JSON body of a request sent with a JSON content type (undefined otherwise). */
    body?: unknown;
  }
}

export interface RunningBackend {
  url: string;
  /** The server on PORT (attach websocket `upgrade` handlers here: the core sends upgrades over TCP). */
  server: Server;
  /** The runtime's MORTISE_SOCKET when the backend serves there as well (the core's requests come that way). */
  socketPath?: string;
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
  /** The one directory the backend may write (`MORTISE_DATA_DIR`), kept across versions; created if missing. */
  readonly dataDir: string;
  /** The path the runtime checks readiness on (the manifest's `backend.healthPath`). */
  readonly healthPath: string;
  /** The ports of the manifest's `backend.listeners` by name (`MORTISE_LISTENERS`), `{}` when none. */
  readonly listeners: Record<string, number>;
  /** Verifies an `X-Mortise-Identity` value (for websocket handshakes, which do not go through koa). */
  verifyIdentity(token: string | undefined): Promise<Identity>;
  listen(port?: number, host?: string): Promise<RunningBackend>;
}

/** Longer than the core keeps idle connections, so it never reuses one being closed here. */
const KEEP_ALIVE_MS = 65_000;

/** Stops accepting connections; those idle now or once their request ends are closed, the rest after `timeoutMs`. */
function closeGracefully(server: Server, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    const deadline = setTimeout(() => server.closeAllConnections(), timeoutMs);
    sweep.unref();
    deadline.unref();
    server.close(() => {
      clearInterval(sweep);
      clearTimeout(deadline);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * The HTTP server of an extension's backend: a koa app whose routes only run for requests the
 * core's gateway forwarded (a valid `X-Mortise-Identity`, whose caller is `ctx.state.identity`),
 * a health path for the runtime, a client for the core's API, and a graceful shutdown.
 */
export function createExtensionBackend(opts: ExtensionBackendOptions = {}): ExtensionBackend {
  const env = readRuntimeEnvironment();
  const missing = (what: string, option: string, key: keyof typeof RUNTIME_ENV) =>
    new Error(`createExtensionBackend: ${what} is unknown: pass \`${option}\` or set ${RUNTIME_ENV[key].name} (the core sets it; \`mortise-ext dev\` sets it when run locally)`);
  const name = opts.name ?? env.extension;
  if (!name) throw missing('the extension name', 'name', 'extension');
  const coreUrl = (opts.coreUrl ?? env.coreUrl)?.replace(/\/+$/, '');
  if (!coreUrl && !opts.jwksUrl) throw missing('the core URL', 'coreUrl', 'coreUrl');
  const issuer = opts.issuer ?? env.issuer ?? coreUrl;
  if (!issuer) throw missing("the core's issuer", 'issuer', 'issuer');
  const jwksUrl = opts.jwksUrl ?? `${coreUrl}/oauth/keys`;
  const healthPath = opts.healthPath ?? env.healthPath ?? DEFAULT_HEALTH_PATH;
  const dataDir = resolve(opts.dataDir ?? env.dataDir ?? join(tmpdir(), `mortise-${name}-data`));
  mkdirSync(dataDir, { recursive: true });
  const publicPaths = opts.publicPaths ?? [];
  const log = opts.log ?? jsonLog(name);
  const verifyIdentity: IdentityVerifier = createIdentityVerifier({ audience: name, issuer, jwksUrl, clockToleranceSeconds: opts.clockToleranceSeconds });
  const core = new CoreClient({ url: coreUrl ?? new URL(jwksUrl).origin, token: opts.token ?? env.token });

  const app = new Koa<BackendState>();
  // Requests come through the core's gateway, which sets X-Forwarded-For/Proto/Host.
  app.proxy = true;
  // Errors are answered and logged by errorResponder; koa's own stderr dump would repeat them.
  app.silent = true;
  const router = new Router<BackendState>();
  app.use(errorResponder({ name, dataDir, log }));
  app.use(async (ctx, next) => {
    if (ctx.path === healthPath && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      ctx.body = { status: 'ok' };
      return;
    }
    if (matchesPath(publicPaths, ctx.path)) return next();
    try {
      ctx.state.identity = await verifyIdentity(ctx.get(IDENTITY_HEADER) || undefined);
    } catch (e) {
      if (!(e instanceof IdentityError)) throw e;
      ctx.status = e.status;
      if (e.status === 401) ctx.set('WWW-Authenticate', 'Bearer realm="mortise"');
      ctx.body = backendStatus(e.status, e.message);
      return;
    }
    await next();
  });
  app.use(jsonBodies(opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, opts.rawBodyPaths ?? []));
  app.use(router.routes());
  app.use(router.allowedMethods());

  return {
    name, app, router, core, config: parseConfig(env.config), dataDir, healthPath, verifyIdentity, listeners: parseListeners(env.listeners),
    async listen(port = Number(env.port ?? 0), host = env.host ?? '127.0.0.1') {
      const handler = app.callback();
      // The socket first: once the port answers the runtime's health check, the runtime looks for it.
      const socketPath = opts.socketPath === false ? undefined : opts.socketPath ?? env.socket;
      const socketServer = socketPath ? await listenOnSocket(socketPath, handler, KEEP_ALIVE_MS, log) : undefined;
      const server = createServer(handler);
      server.keepAliveTimeout = KEEP_ALIVE_MS;
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, host, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        socketServer?.close(() => removeSocketFile(socketPath!));
        throw e;
      }
      const addr = server.address() as AddressInfo;
      const url = `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
      const shutdownTimeoutMs = opts.shutdownTimeoutMs ?? 10_000;
      let closing: Promise<void> | undefined;
      const close = () => {
        closing ??= Promise.all([
          closeGracefully(server, shutdownTimeoutMs),
          socketServer && closeGracefully(socketServer, shutdownTimeoutMs).then(() => removeSocketFile(socketPath!)),
        ]).then(() => undefined);
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        return closing;
      };
      const onSignal = () => {
        void close()
          .then(() => opts.onShutdown?.())
          .then(() => process.exit(0), (e: unknown) => {
            log('error', `shutdown failed: ${(e as Error).message}`);
            process.exit(1);
          });
      };
      if (opts.handleSignals !== false) {
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
      }
      log('info', `${name} listening on ${url}${socketServer ? ` and ${socketPath}` : ''}`, { event: 'listening', url, healthPath, ...(socketServer ? { socketPath } : {}) });
      return { url, server, ...(socketServer ? { socketPath } : {}), close };
    },
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

function parseListeners(raw: string | undefined): Record<string, number> {
  if (!raw) return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new Error('MORTISE_LISTENERS is not valid JSON');
  }
  const out: Record<string, number> = {};
  if (typeof v === 'object' && v !== null) for (const [k, p] of Object.entries(v)) if (Number.isInteger(p)) out[k] = p as number;
  return out;
}
