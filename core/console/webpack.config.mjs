// The console host: React + module federation with no remotes at build time (extensions are
// registered at runtime from their JSBundles). Shared singletons come from the SDK's table.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModuleFederationPlugin } from '@module-federation/enhanced/webpack';
import { EsbuildPlugin } from 'esbuild-loader';
import HtmlWebpackPlugin from 'html-webpack-plugin';
import MiniCssExtractPlugin from 'mini-css-extract-plugin';
import { hostShared } from '@mortise/extension-sdk/federation';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

export default (_env, argv) => {
  const production = argv.mode !== 'development';
  return {
    mode: production ? 'production' : 'development',
    entry: { main: './src/index.ts' },
    context: here,
    devtool: production ? false : 'eval-cheap-module-source-map',
    output: {
      path: join(here, 'dist'),
      publicPath: '/',
      // The federation runtime needs the entry's own path before any hash exists, so the (small)
      // entry keeps a plain name, served no-cache and linked with ?<build hash>; chunks are hashed.
      filename: 'static/js/[name].js',
      chunkFilename: 'static/js/[name].[contenthash:12].js',
      assetModuleFilename: 'static/media/[name].[contenthash:12][ext]',
      clean: true,
    },
    resolve: {
      extensions: ['.tsx', '.ts', '.js', '.mjs'],
      extensionAlias: { '.js': ['.ts', '.tsx', '.js'] },
      // @rjsf/core's index re-exports a test helper that imports the Ajv validator; the console
      // validates with @cfworker/json-schema (Ajv compiles with `new Function`, which the CSP forbids).
      alias: { '@rjsf/validator-ajv8': false },
    },
    module: {
      rules: [
        { test: /\.tsx?$/, exclude: /node_modules/, loader: require.resolve('esbuild-loader'), options: { target: 'es2020', jsx: 'automatic' } },
        // @rjsf/mantine imports dayjs plugins without their extension.
        { test: /\.js$/, include: /node_modules[\\/]@rjsf[\\/]/, resolve: { fullySpecified: false } },
        // `*.module.css` are CSS modules (the login page's, painted before the component library loads).
        { test: /\.css$/, use: [MiniCssExtractPlugin.loader, { loader: require.resolve('css-loader'), options: { modules: { auto: true, namedExport: false } } }] },
      ],
    },
    plugins: [
      // provideExternalRuntime: the host publishes its federation runtime for the remotes, which
      // are built with `externalRuntime` (the SDK's preset) and so do not bundle one each.
      new ModuleFederationPlugin({ name: 'mortise_console', remotes: {}, shared: hostShared(), dts: false, manifest: false, experiments: { provideExternalRuntime: true } }),
      new HtmlWebpackPlugin({ template: './src/index.html', scriptLoading: 'defer', hash: true }),
      new MiniCssExtractPlugin({ filename: 'static/css/[name].[contenthash:12].css', chunkFilename: 'static/css/[name].[contenthash:12].css' }),
    ],
    performance: { hints: false },
    // esbuild minifies JS and CSS many times faster than terser (the build counts against CI time).
    optimization: { moduleIds: 'deterministic', minimizer: [new EsbuildPlugin({ target: 'es2020', css: true })] },
    stats: 'errors-warnings',
  };
};
