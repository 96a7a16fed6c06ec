import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModuleFederationPlugin } from '@module-federation/enhanced/webpack';
import webpack, { type Configuration } from 'webpack';
import { parseYamlDocument } from '../manifest/parse-yaml.js';
import { MANIFEST_FILE_NAME, type ExtensionManifest } from '../manifest/types.js';
import { validateManifest } from '../manifest/validate.js';
import { describeSharedRangeProblem, remoteShared, sharedRangeProblems } from './shared-ranges.js';

const require = createRequire(import.meta.url);

/** Where an extension's console code starts: `frontend/index.tsx` (or .ts, .jsx, .js). */
export const frontendEntryCandidates = ['frontend/index.tsx', 'frontend/index.ts', 'frontend/index.jsx', 'frontend/index.js'];

export class FrontendBuildError extends Error {}

export interface FrontendBuildOptions {
  mode?: 'production' | 'development';
}

export interface FrontendBuildResult {
  /** The directory the build wrote (the directory of `frontend.remoteEntry`). */
  outDir: string;
  remoteEntry: string;
  files: string[];
}

async function readManifest(dir: string): Promise<ExtensionManifest> {
  const parsed = parseYamlDocument(await readFile(join(dir, MANIFEST_FILE_NAME), 'utf8'));
  if (!parsed.ok) throw new FrontendBuildError(`${MANIFEST_FILE_NAME}: ${parsed.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  const result = validateManifest(parsed.value);
  if (!result.valid) throw new FrontendBuildError(`${MANIFEST_FILE_NAME} is invalid: ${result.errors.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  return result.manifest;
}

/**
 * The federation preset: the webpack configuration of an extension's console module. It
 * exposes `frontend.exposedModule` from `frontend/index.*` as the remote `frontend.remoteName`,
 * writes into the directory of `frontend.remoteEntry` (its own directory, never beside server
 * code), shares the console's singletons without bundling copies, and makes CSS local to the
 * extension (CSS modules in "pure" mode: no selector may reach the host or another extension).
 * It refuses an extension whose package.json asks for shared versions the console cannot give.
 */
export async function extensionWebpackConfig(dir: string, opts: FrontendBuildOptions = {}): Promise<Configuration> {
  const root = resolve(dir);
  const manifest = await readManifest(root);
  if (!manifest.frontend) throw new FrontendBuildError(`${MANIFEST_FILE_NAME} of "${manifest.name}" has no frontend: nothing to build`);
  const pkgPath = join(root, 'package.json');
  const pkg = existsSync(pkgPath) ? (JSON.parse(readFileSync(pkgPath, 'utf8')) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string>; peerDependencies?: Record<string, string> }) : {};
  const problems = sharedRangeProblems({ ...pkg.devDependencies, ...pkg.peerDependencies, ...pkg.dependencies });
  if (problems.length) throw new FrontendBuildError(`"${manifest.name}" cannot share the console's modules:\n  ${problems.map(describeSharedRangeProblem).join('\n  ')}`);
  const entry = frontendEntryCandidates.map((c) => join(root, c)).find((p) => existsSync(p));
  if (!entry) throw new FrontendBuildError(`no console entry in ${root}: create one of ${frontendEntryCandidates.join(', ')}`);
  const remoteEntry = resolve(root, manifest.frontend.remoteEntry);
  const outDir = dirname(remoteEntry);
  if (outDir === root || !outDir.startsWith(root + sep)) throw new FrontendBuildError(`frontend.remoteEntry "${manifest.frontend.remoteEntry}" must be in a directory of its own inside the extension (e.g. dist/frontend/remoteEntry.js)`);
  if (manifest.backend?.entry && dirname(resolve(root, manifest.backend.entry)) === outDir) {
    throw new FrontendBuildError(`frontend.remoteEntry "${manifest.frontend.remoteEntry}" is in the directory of the backend's code (${manifest.backend.entry}): its directory is served to anyone, so give the frontend its own (e.g. dist/frontend/)`);
  }
  const remoteName = manifest.frontend.remoteName ?? manifest.name.replace(/-/g, '_');
  const production = (opts.mode ?? 'production') === 'production';
  return {
    mode: production ? 'production' : 'development',
    context: root,
    // The remote has no entry of its own: the container is its entry point.
    entry: {},
    devtool: production ? false : 'cheap-module-source-map',
    output: {
      path: outDir,
      publicPath: 'auto',
      uniqueName: remoteName,
      filename: '[name].[contenthash:12].js',
      chunkFilename: '[name].[contenthash:12].js',
      assetModuleFilename: '[name].[contenthash:12][ext]',
      clean: true,
    },
    resolve: { extensions: ['.tsx', '.ts', '.jsx', '.js', '.mjs'], extensionAlias: { '.js': ['.ts', '.tsx', '.js'] } },
    module: {
      rules: [
        { test: /\.[jt]sx?$/, exclude: /node_modules/, loader: require.resolve('esbuild-loader'), options: { target: 'es2020', jsx: 'automatic' } },
        {
          test: /\.css$/,
          use: [
            require.resolve('style-loader'),
            { loader: require.resolve('css-loader'), options: { modules: { mode: 'pure', namedExport: false, exportLocalsConvention: 'as-is', localIdentName: `${remoteName}__[local]__[hash:base64:6]` } } },
          ],
        },
      ],
    },
    plugins: [
      new ModuleFederationPlugin({
        name: remoteName,
        filename: basename(remoteEntry),
        exposes: { [manifest.frontend.exposedModule]: entry },
        shared: remoteShared(),
        dts: false,
        manifest: false,
        // The console provides the federation runtime (provideExternalRuntime): a remote entry
        // uses the host's instead of bundling its own copy (~88 KB per extension otherwise).
        experiments: { externalRuntime: true },
      }),
    ],
    // Rebuilds (npm test, then npm run pack; dev's first build) reuse what did not change. The
    // cache is keyed by everything above that does not come from a file webpack watches.
    cache: {
      type: 'filesystem',
      name: `${remoteName}-${production ? 'production' : 'development'}`,
      cacheDirectory: join(root, 'node_modules', '.cache', 'mortise-ext-build'),
      version: JSON.stringify({ remoteEntry: manifest.frontend.remoteEntry, exposedModule: manifest.frontend.exposedModule, entry, shared: remoteShared() }),
      buildDependencies: { sdk: [fileURLToPath(import.meta.url)] },
    },
    performance: { hints: false },
    stats: 'errors-warnings',
  };
}

/** `mortise-ext build`: runs the preset with webpack. */
export async function buildFrontend(dir: string, opts: FrontendBuildOptions = {}): Promise<FrontendBuildResult> {
  const config = await extensionWebpackConfig(dir, opts);
  const stats = await new Promise<webpack.Stats>((ok, fail) => {
    const compiler = webpack(config);
    compiler.run((err, s) => {
      compiler.close(() => (err ? fail(err) : ok(s!)));
    });
  });
  if (stats.hasErrors()) {
    const errors = stats.toJson({ all: false, errors: true }).errors ?? [];
    throw new FrontendBuildError(`the frontend of ${resolve(dir)} did not build:\n${errors.map((e) => e.message).join('\n')}`);
  }
  const outDir = config.output!.path!;
  const files = Object.keys(stats.compilation.assets).sort();
  const manifest = await readManifest(resolve(dir));
  return { outDir, remoteEntry: resolve(dir, manifest.frontend!.remoteEntry), files: files.map((f) => relative(resolve(dir), join(outDir, f))) };
}
