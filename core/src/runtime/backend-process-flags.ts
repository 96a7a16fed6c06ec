import type { FsAllowList, NodeFlagSupport } from './permissions.js';
import type { LocalBackendSpec } from './process-runtime-options.js';

// What a backend process is started with: the permission model's flags, its environment, the
// module that ends it with the core.

/** The permission model's flags for a confined backend (`flags.permission` is known to be there). */
export function permissionArgs(spec: LocalBackendSpec, allow: FsAllowList, flags: NodeFlagSupport): string[] {
  const args = [flags.permission!];
  if (flags.disableWarning) args.push('--disable-warning=ExperimentalWarning');
  if (flags.allowNet) args.push('--allow-net');
  // Refused by default under the permission model; only a manifest that declares it gets it.
  if (spec.nativeAddons && flags.allowAddons) args.push('--allow-addons');
  for (const p of allow.read) args.push(`--allow-fs-read=${p}`);
  for (const p of allow.write) args.push(`--allow-fs-write=${p}`);
  if (spec.allowChildProcesses) args.push('--allow-child-process');
  if (spec.allowWorkerThreads) args.push('--allow-worker');
  return args;
}

/**
 * Environment variables of Node itself that a confined backend must not get from its spec:
 * `NODE_OPTIONS` can add `--allow-fs-read=/`, others make Node write files outside the data
 * dir behind the permission model's back (coverage, REPL history, compile cache).
 */
const NODE_VARS_KEPT = new Set(['NODE_ENV', 'NODE_DEBUG', 'NODE_NO_WARNINGS', 'NODE_PENDING_DEPRECATION', 'NODE_EXTRA_CA_CERTS']);
const unsafeForConfined = (name: string) => name.toUpperCase().startsWith('NODE_') && !NODE_VARS_KEPT.has(name.toUpperCase());

/**
 * Loaded into each backend with `--import` (a data: URL, so it needs no file and no read
 * permission): when the core's end of stdin closes the core is gone, so the backend terminates
 * itself (SIGTERM, so its own handlers run; exit after the grace if it ignores it). Worker
 * threads load it too (they inherit the flags) and have a stdin of their own that ends at once:
 * only the main thread watches.
 */
export function exitWithCoreModule(graceMs: number): string {
  const src = [
    "import { isMainThread } from 'node:worker_threads';",
    'const stdin = isMainThread ? process.stdin : undefined;',
    'if (stdin) {',
    "stdin.on('error', () => {});",
    "stdin.once('end', () => {",
    "  process.kill(process.pid, 'SIGTERM');",
    `  setTimeout(() => process.exit(1), ${Math.max(0, Math.floor(graceMs))}).unref();`,
    '});',
    'stdin.resume();',
    "if (typeof stdin.unref === 'function') stdin.unref();",
    '}',
  ].join('\n');
  return `data:text/javascript,${encodeURIComponent(src)}`;
}

/** A minimal environment plus the spec's; `dropped` names what a confined backend may not get. */
export function backendEnvironment(spec: LocalBackendSpec, confined: boolean): { env: Record<string, string>; dropped: string[] } {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: spec.dataDir,
    NODE_ENV: 'production',
  };
  if (process.env.TZ) env.TZ = process.env.TZ;
  const dropped: string[] = [];
  for (const [k, v] of Object.entries(spec.env ?? {})) {
    if (confined && unsafeForConfined(k)) dropped.push(k);
    else env[k] = String(v);
  }
  return { env, dropped };
}
