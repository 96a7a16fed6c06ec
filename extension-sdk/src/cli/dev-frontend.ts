import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, relative, resolve, sep } from 'node:path';
import webpack from 'webpack';
import { extensionWebpackConfig, frontendEntryCandidates } from '../federation/frontend-build.js';
import type { ExtensionManifest } from '../manifest/types.js';

// The frontend half of `mortise-ext dev`: webpack watches the console module and rebuilds it into
// the directory of `frontend.remoteEntry`; a small server on 127.0.0.1 serves that directory to
// the core, which hands it to the developer's browser alone (the dev route's `frontend`).

export interface DevFrontend {
  /** Where the build is served (the dev route's `frontend.url`). */
  url: string;
  /** The build's directory relative to the extension (`dist/frontend`): the dev route's `frontend.directory`. */
  directory: string;
  close(): Promise<void>;
}

const types: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8', '.map': 'application/json; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.woff2': 'font/woff2', '.wasm': 'application/wasm',
};

/** Whether `dir` has a console module to develop: a manifest `frontend` and a `frontend/index.*`. */
export function hasFrontend(dir: string, manifest: ExtensionManifest): boolean {
  return !!manifest.frontend && frontendEntryCandidates.some((c) => existsSync(join(dir, c)));
}

/** Serves the files of `root` (GET/HEAD only, never outside it, never cached). */
function serveDirectory(root: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://dev.invalid').pathname);
    const file = resolve(root, `.${path}`);
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      ok({ server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` });
    });
  });
}

/**
 * Builds the frontend (development mode), then keeps rebuilding it on every change, and serves
 * the build. Resolves once the first build is done; `onBuilt` hears of every rebuild.
 */
export async function startDevFrontend(dir: string, onBuilt: (ms: number, errors: string[]) => void): Promise<DevFrontend> {
  const config = await extensionWebpackConfig(dir, { mode: 'development' });
  const outDir = config.output!.path!;
  const compiler = webpack(config);
  let first: ((errors: string[]) => void) | undefined;
  const firstBuild = new Promise<string[]>((ok) => (first = ok));
  const watching = compiler.watch({ aggregateTimeout: 30, ignored: ['**/node_modules/**', `${outDir}/**`] }, (err, stats) => {
    const errors = err ? [err.message] : (stats?.toJson({ all: false, errors: true }).errors ?? []).map((e) => e.message);
    const ms = stats ? stats.endTime - stats.startTime : 0;
    if (first) {
      first(errors);
      first = undefined;
    } else onBuilt(ms, errors);
  })!;
  const errors = await firstBuild;
  if (errors.length) {
    await new Promise((r) => watching.close(r));
    throw new Error(`the frontend of ${dir} did not build:\n${errors.join('\n')}`);
  }
  const { server, url } = await serveDirectory(outDir);
  return {
    url,
    directory: relative(dir, outDir).split(sep).join('/'),
    async close() {
      await new Promise((r) => watching.close(r));
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
