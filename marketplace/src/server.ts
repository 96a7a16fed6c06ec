import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import Router from '@koa/router';
import { resolveLimitsForServer } from './limits.js';
import { toPublicKey } from '@mortise/extension-sdk';
import Koa from 'koa';
import pino from 'pino';
import { createTokenAuthenticator } from './http/auth.js';
import { errorMiddleware } from './http/error-middleware.js';
import { requestLogMiddleware } from './http/request-log.js';
import { DEFAULT_REPOSITORY, type MarketplaceOptions } from './options.js';
import { registerExtensionRoutes } from './routes/extensions.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerPublishRoute } from './routes/publish.js';
import { registerStaticRoutes } from './routes/static-repository.js';
import { registerYankRoute } from './routes/yank.js';
import type { Services } from './services.js';
import { PackageContents } from './store/package-contents.js';
import { Repositories } from './store/repositories.js';

export interface ListeningAddress {
  host: string;
  port: number;
  /** e.g. "http://127.0.0.1:41234" */
  url: string;
}

export interface MarketplaceServer {
  app: Koa;
  listen(port?: number, host?: string): Promise<ListeningAddress>;
  /** Stops accepting requests, waits for pending index writes and persists download counts. */
  close(): Promise<void>;
}

/** The repository server: static repositories plus the publish, search and yank API. */
export async function createMarketplaceServer(options: MarketplaceOptions): Promise<MarketplaceServer> {
  if (options.requireSignature && !(options.trustedKeys && options.trustedKeys.length > 0)) {
    throw new Error('requireSignature needs at least one trusted key to check signatures against');
  }
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const logger = options.logger ?? pino({ level: options.logLevel ?? 'info', base: { service: 'mortise-marketplace' } });
  const repositories = await Repositories.open(dataDir, options.repositories ?? [DEFAULT_REPOSITORY], options.downloadFlushIntervalMs ?? 1000);
  const limits = resolveLimitsForServer(options.limits);
  const baseUrl = options.baseUrl?.replace(/\/+$/, '');

  const services: Services = {
    repositories,
    authenticate: createTokenAuthenticator(options.tokens),
    limits,
    requireSignature: options.requireSignature ?? false,
    trustedKeys: (options.trustedKeys ?? []).map(toPublicKey),
    packages: new PackageContents(limits),
    logger,
    publicUrl: (ctx, path) => `${baseUrl ?? `${ctx.protocol}://${ctx.host}`}${path}`,
  };

  const router = new Router();
  registerHealthRoutes(router, services);
  registerPublishRoute(router, services);
  registerYankRoute(router, services);
  registerExtensionRoutes(router, services);
  registerStaticRoutes(router, services);

  const app = new Koa();
  app.use(requestLogMiddleware(logger));
  app.use(errorMiddleware(logger));
  app.use(router.routes());
  app.use(router.allowedMethods());

  let server: Server | undefined;
  return {
    app,
    listen(port = 0, host = '127.0.0.1') {
      return new Promise((resolveListen, reject) => {
        const httpServer = createServer(app.callback());
        httpServer.once('error', reject);
        httpServer.listen(port, host, () => {
          server = httpServer;
          const address = httpServer.address() as AddressInfo;
          const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          const url = `http://${shownHost}:${address.port}`;
          logger.info({ url, dataDir, repositories: repositories.names() }, 'marketplace listening');
          resolveListen({ host: address.address, port: address.port, url });
        });
      });
    },
    async close() {
      if (server) {
        const closing = server;
        server = undefined;
        await new Promise<void>((done, fail) => {
          // Connections that finish their last response after close() started are not closed
          // by it, so idle ones are swept until the server is down; after the grace period the
          // rest are cut.
          const sweep = setInterval(() => closing.closeIdleConnections(), 50);
          const force = setTimeout(() => closing.closeAllConnections(), options.shutdownGraceMs ?? 5000);
          closing.close((error) => {
            clearInterval(sweep);
            clearTimeout(force);
            if (error) fail(error);
            else done();
          });
          closing.closeIdleConnections();
        });
      }
      await repositories.close();
    },
  };
}
