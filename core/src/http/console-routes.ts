import { existsSync, readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { extname, join, resolve, sep } from 'node:path';
import type { Next } from 'koa';
import Router from '@koa/router';
import { ApiError, notFound, serviceUnavailable } from '../api/status.js';
import type { AppContext, AppState } from './app-state.js';
import { corePackageDir } from '../package-dir.js';

// The console (core/console, built by `npm run build`): one page and its hashed files, served
// to anyone (they hold no data). Every browser navigation to a path that is not an API answers
// with the same page, which routes on the client (and shows the login page when needed).

/** Where `npm run build` puts the console: core/console/dist, beside core/dist. */
export const defaultConsoleDir = join(corePackageDir(), 'console', 'dist');

/** Scripts only from this origin; no inline script, no eval, no framing. */
export const contentSecurityPolicy = [
  "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data: https:", "font-src 'self' data:",
  "connect-src 'self'", "object-src 'none'", "base-uri 'self'", "frame-ancestors 'none'", "form-action 'self'",
].join('; ');

const types: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.map': 'application/json',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.woff2': 'font/woff2', '.woff': 'font/woff', '.txt': 'text/plain; charset=utf-8',
};

const hashedName = /\.[0-9a-f]{12}\.[a-z0-9]+$/;

/** Paths that are APIs or files, never pages of the console. */
const apiPrefixes = ['/api', '/apis', '/kapis', '/oauth', '/.well-known', '/extensions', '/static', '/healthz', '/livez', '/readyz', '/metrics', '/version', '/openapi'];
const isApiPath = (path: string) => apiPrefixes.some((p) => path === p || path.startsWith(`${p}/`));

const compressible = new Set(['.js', '.css', '.json', '.map', '.svg', '.txt']);

export class ConsoleFiles {
  private index?: Buffer;
  /** Files read (and gzipped) once: a build never changes under a running core's hashed names. */
  private cache = new Map<string, { mtimeMs: number; raw: Buffer; gzip?: Buffer }>();

  constructor(readonly dir: string = defaultConsoleDir) {}

  get built(): boolean {
    return existsSync(join(this.dir, 'index.html'));
  }

  sendIndex(ctx: AppContext): void {
    if (!this.built) throw serviceUnavailable(`the console is not built (no ${join(this.dir, 'index.html')}): run "npm run build"`);
    this.index ??= readFileSync(join(this.dir, 'index.html'));
    ctx.status = 200;
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Cache-Control', 'no-cache');
    ctx.set('Content-Security-Policy', contentSecurityPolicy);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'same-origin');
    ctx.body = this.index;
  }

  sendStatic(ctx: AppContext, path: string): void {
    const root = resolve(this.dir, 'static');
    const file = resolve(root, path);
    if (!file.startsWith(root + sep) || path.split('/').some((p) => p.startsWith('.'))) throw notFound('', 'files', path);
    let mtimeMs: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a file');
      mtimeMs = st.mtimeMs;
    } catch {
      throw notFound('', 'files', path);
    }
    let entry = this.cache.get(file);
    if (!entry || entry.mtimeMs !== mtimeMs) {
      const raw = readFileSync(file);
      entry = { mtimeMs, raw, gzip: compressible.has(extname(file).toLowerCase()) ? gzipSync(raw, { level: 9 }) : undefined };
      this.cache.set(file, entry);
    }
    ctx.type = types[extname(file).toLowerCase()] ?? 'application/octet-stream';
    // A name with a content hash never changes content; the entry (linked with ?<build hash>) is revalidated.
    ctx.set('Cache-Control', hashedName.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.vary('Accept-Encoding');
    if (entry.gzip && ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
      ctx.set('Content-Encoding', 'gzip');
      ctx.body = entry.gzip;
    } else {
      ctx.body = entry.raw;
    }
  }
}

export function consoleRouter(files: ConsoleFiles): Router<AppState> {
  const router = new Router<AppState>();
  router.get('/', (ctx) => {
    ctx.state.routeLabel = 'console';
    files.sendIndex(ctx);
  });
  router.get('/static/{*path}', (ctx) => {
    ctx.state.routeLabel = 'console/static';
    files.sendStatic(ctx, (ctx.params as { path: string }).path);
  });
  return router;
}

const wantsPage = (ctx: AppContext) => (ctx.method === 'GET' || ctx.method === 'HEAD') && !isApiPath(ctx.path) && ctx.accepts('json', 'html') === 'html' && ctx.get('accept').includes('text/html');

/**
 * The single-page fallback: a browser navigation outside the APIs that nothing else answered
 * (not found, or not allowed for this caller) gets the console's page.
 */
export function consoleFallback(files: ConsoleFiles) {
  return async (ctx: AppContext, next: Next) => {
    try {
      await next();
    } catch (e) {
      if (e instanceof ApiError && [401, 403, 404].includes(e.code) && wantsPage(ctx) && files.built) {
        ctx.state.routeLabel = 'console';
        return files.sendIndex(ctx);
      }
      throw e;
    }
    if (ctx.status === 404 && ctx.body === undefined && wantsPage(ctx) && files.built) {
      ctx.state.routeLabel = 'console';
      files.sendIndex(ctx);
    }
  };
}
