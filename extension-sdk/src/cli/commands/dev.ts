import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { runtimeEnvironment } from '../../backend/runtime-env.js';
import { DEFAULT_HEALTH_PATH, type ExtensionManifest } from '../../manifest/types.js';
import { parseManifestYaml } from '../../manifest/parse-yaml.js';
import { freePort } from '../../util/free-port.js';
import type { DevFrontend } from '../dev-frontend.js';
import { reportFailure, type CliIO } from '../io.js';

export interface DevCommandOptions {
  /** The running core's URL. */
  core: string;
  /** A bearer token of the developer (default `$MORTISE_DEV_TOKEN`). */
  token?: string;
  /** Log in as this user instead, with the password in `$MORTISE_DEV_PASSWORD`. */
  username?: string;
  /** Ends the session (tests); SIGINT and SIGTERM do otherwise. */
  signal?: AbortSignal;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function developerToken(core: string, o: DevCommandOptions): Promise<string> {
  const token = o.token ?? process.env.MORTISE_DEV_TOKEN;
  if (token) return token;
  if (!o.username) throw new Error('who is developing? pass --token (or set MORTISE_DEV_TOKEN), or --username with the password in MORTISE_DEV_PASSWORD');
  const password = process.env.MORTISE_DEV_PASSWORD;
  if (!password) throw new Error(`set MORTISE_DEV_PASSWORD to the password of ${o.username}`);
  const res = await fetch(`${core}/oauth/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: o.username, password }),
  });
  const body = (await res.json().catch(() => ({}))) as { access_token?: string; error_description?: string };
  if (!res.ok || !body.access_token) throw new Error(`logging in to ${core} as ${o.username} failed: ${res.status} ${body.error_description ?? ''}`);
  return body.access_token;
}

function loadManifest(dir: string): ExtensionManifest {
  const file = join(dir, 'extension.yaml');
  if (!existsSync(file)) throw new Error(`${file} does not exist: run mortise-ext dev in an extension's directory (or pass it)`);
  const result = parseManifestYaml(readFileSync(file, 'utf8'));
  if (!result.valid) throw Object.assign(new Error('the extension manifest is invalid'), { problems: result.errors });
  const manifest = result.manifest;
  if (!manifest.backend?.entry) throw new Error('this extension has no backend.entry: mortise-ext dev runs a backend');
  return manifest;
}

/**
 * `mortise-ext dev [DIR] --core URL`: the extension's backend runs here, with the environment the
 * core's runtime would give it, and is registered with the running core as the developer's own
 * development route: the developer's requests to the extension's paths, through the core's
 * gateway and with their real identity, reach it; everyone else's do not. TypeScript is rebuilt
 * (`tsc --watch`) and the backend restarted on every change; stopping removes the route.
 */
export async function devCommand(dirArg: string | undefined, o: DevCommandOptions, io: CliIO): Promise<number> {
  const dir = resolve(dirArg ?? '.');
  const core = o.core.replace(/\/+$/, '');
  let backend: ChildProcess | undefined;
  let frontend: DevFrontend | undefined;
  let watchers: FSWatcher[] = [];
  let renew: NodeJS.Timeout | undefined;
  let registered = false;
  let token = '';
  let name = '';
  const stopped = new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    o.signal?.addEventListener('abort', stop, { once: true });
  });
  try {
    const manifest = loadManifest(dir);
    name = manifest.name;
    token = await developerToken(core, o);
    const discovery = await fetch(`${core}/.well-known/openid-configuration`).then((r) => r.json() as Promise<{ issuer?: string }>).catch(() => ({} as { issuer?: string }));
    const entry = join(dir, manifest.backend!.entry!);
    const healthPath = manifest.backend!.healthPath ?? DEFAULT_HEALTH_PATH;
    const dataDir = join(dir, '.mortise-dev', 'data');
    mkdirSync(dataDir, { recursive: true });
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('MORTISE_')) env[k] = v;
    Object.assign(env, manifest.backend!.env ?? {}, runtimeEnvironment({
      extension: manifest.name, version: manifest.version, coreUrl: core, issuer: discovery.issuer ?? core, token,
      config: JSON.stringify(manifest.config ?? {}), dataDir, healthPath, host: '127.0.0.1',
    }));
    let url = '';

    const transpiler = await projectTranspiler(dir);
    if (!existsSync(entry)) {
      if (!existsSync(join(dir, 'node_modules', '.bin', 'tsc'))) throw new Error(`${entry} does not exist: build the extension first`);
      io.out('dev: building once (tsc -p .)');
      const built = spawn(join(dir, 'node_modules', '.bin', 'tsc'), ['-p', dir], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
      await new Promise((r) => built.once('exit', r));
      if (!existsSync(entry)) throw new Error(`${entry} was not built (is backend.entry where the build writes it?)`);
    }

    const healthy = async (child: ChildProcess, at: string, deadline: number) => {
      for (;;) {
        try {
          if ((await fetch(`${at}${healthPath}`)).ok) return;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the backend did not answer ${healthPath} on ${at}`);
        await sleep(20);
      }
    };
    const stopBackend = async (b: ChildProcess | undefined) => {
      if (!b || b.exitCode !== null || b.signalCode !== null) return;
      const exited = new Promise((r) => b.once('exit', r));
      b.kill('SIGTERM');
      const kill = setTimeout(() => b.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(kill);
    };
    /** A new process on a new port; the route switches to it once it is healthy, then the old one stops (no gap). */
    const start = async () => {
      const port = await freePort();
      const at = `http://127.0.0.1:${port}`;
      const child = spawn(process.execPath, [entry], { cwd: dir, env: { ...env, PORT: String(port) }, stdio: ['ignore', 'inherit', 'inherit'] });
      try {
        await healthy(child, at, Date.now() + 30_000);
      } catch (e) {
        await stopBackend(child);
        throw e;
      }
      const previous = backend;
      backend = child;
      url = at;
      if (registered) await register();
      void stopBackend(previous);
    };

    async function register() {
      const res = await fetch(`${core}/kapis/extensions.mortise.io/v1alpha1/devroutes/${manifest.name}`, {
        method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          url, reverseProxies: manifest.reverseProxies ?? [], apiServices: manifest.apiServices ?? [], ttlSeconds: 60,
          ...(frontend ? { frontend: { url: frontend.url, directory: frontend.directory } } : {}),
        }),
      });
      if (!res.ok) throw new Error(`the core refused the development route: ${res.status} ${(await res.text()).slice(0, 500)}`);
      registered = true;
    }
    // webpack is loaded only for a frontend: every backend imports the SDK's index, which exports the CLI.
    const { hasFrontend, startDevFrontend } = manifest.frontend ? await import('../dev-frontend.js') : { hasFrontend: () => false, startDevFrontend: undefined };
    if (hasFrontend(dir, manifest) && startDevFrontend) {
      io.out('dev: building the frontend (webpack, development mode)');
      frontend = await startDevFrontend(dir, (ms, errors) => {
        if (errors.length) io.err(`dev: the frontend did not build:\n${errors.join('\n')}`);
        else io.out(`dev: rebuilt the frontend in ${ms} ms (reload the console to see it)`);
      });
    }
    await start();
    await register();
    renew = setInterval(() => void register().catch((e: Error) => io.err(`dev: ${e.message}`)), 20_000);
    const paths = [...(manifest.reverseProxies ?? []).map((p) => p.prefix), ...(manifest.apiServices ?? []).map((a) => `/kapis/${a.group}/${a.version}/`)];
    io.out(`dev: ${manifest.name} ${manifest.version} runs at ${url}; your requests to ${paths.map((p) => `${core}${p}`).join(', ')} reach it (others' do not)`);
    if (frontend) io.out(`dev: your console loads this frontend (${frontend.directory}, served at ${frontend.url}); others' load the installed one`);

    // On every change of a source: TypeScript is transpiled file by file (types are checked by
    // `npm run build`, not here: a full type check takes seconds), then the backend restarts.
    let timer: NodeJS.Timeout | undefined;
    let restarting = Promise.resolve();
    const changed = new Set<string>();
    // One inotify watch per source directory (node_modules, the build output and dotted
    // directories left out): Node 20's recursive watch on Linux polls every file below.
    // The frontend's sources are webpack's to watch.
    const skip = new Set(['node_modules', 'packages', ...(frontend ? ['frontend'] : []), ...(transpiler ? [relative(dir, transpiler.outDir).split(sep)[0]!] : [])]);
    const onChange = (base: string) => (_event: string, file: string | Buffer | null) => {
      if (!file) return;
      const path = join(base, String(file));
      if (transpiler && !path.endsWith('.ts')) return;
      changed.add(path);
      clearTimeout(timer);
      timer = setTimeout(() => {
        const files = [...changed];
        changed.clear();
        restarting = restarting.then(async () => {
          const began = Date.now();
          try {
            for (const f of files) transpiler?.emit(f);
            await start();
            io.out(`dev: restarted ${manifest.name} in ${Date.now() - began} ms`);
          } catch (e) {
            io.err(`dev: ${(e as Error).message}; waiting for the next change`);
          }
        });
      }, 30);
    };
    watchers = sourceDirectories(dir, skip).map((d) => watch(d, onChange(d)));

    await stopped;
    clearTimeout(timer);
    await restarting;
    await stopBackend(backend);
    return 0;
  } catch (error) {
    return reportFailure(io, error);
  } finally {
    clearInterval(renew);
    for (const w of watchers) w.close();
    await frontend?.close();
    if (backend && backend.exitCode === null) backend.kill('SIGTERM');
    if (registered) {
      await fetch(`${core}/kapis/extensions.mortise.io/v1alpha1/devroutes/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
      io.out(`dev: removed the development route of ${name}`);
    }
  }
}

interface Transpiler {
  outDir: string;
  /** Writes the JavaScript of one changed source where the project's build would. */
  emit(file: string): void;
}

/** The project's own TypeScript (its tsconfig's rootDir/outDir), or undefined for a JavaScript project. */
async function projectTranspiler(dir: string): Promise<Transpiler | undefined> {
  const tsconfigPath = join(dir, 'tsconfig.json');
  if (!existsSync(tsconfigPath)) return undefined;
  let ts: typeof import('typescript');
  try {
    ts = createRequire(join(dir, 'package.json'))('typescript') as typeof import('typescript');
  } catch {
    return undefined;
  }
  const { config } = ts.readConfigFile(tsconfigPath, (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, dir);
  const outDir = parsed.options.outDir ?? dir;
  // One file at a time TypeScript cannot tell NodeNext's output format: the package's "type" says it.
  const esm = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { type?: string }).type === 'module';
  const options = { ...parsed.options, module: esm ? ts.ModuleKind.ESNext : ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Bundler, sourceMap: false, declaration: false };
  const rootDir = parsed.options.rootDir ?? dir;
  return {
    outDir,
    emit(file) {
      if (!file.endsWith('.ts') || file.endsWith('.d.ts') || !existsSync(file)) return;
      const rel = relative(rootDir, file);
      if (rel.startsWith('..')) return;
      const out = join(outDir, rel).replace(/\.ts$/, '.js');
      const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions: options, fileName: file });
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, outputText);
    },
  };
}

/** `dir` and the directories below it, but not those named in `skip` at the top nor any starting with a dot. */
function sourceDirectories(dir: string, skip: Set<string>): string[] {
  const found = [dir];
  const walk = (d: string, top: boolean) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory() || e.name.startsWith('.') || e.name === 'node_modules' || (top && skip.has(e.name))) continue;
      found.push(join(d, e.name));
      walk(join(d, e.name), false);
    }
  };
  walk(dir, true);
  return found;
}
