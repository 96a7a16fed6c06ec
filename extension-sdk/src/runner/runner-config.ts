import { isSha256Hex } from '../package/digest.js';
import { RUNTIME_ENV } from '../backend/runtime-env.js';

// What the stock Node runner is told by the runtime that starts it (KubernetesRuntime sets these
// on the container): which package to fetch from the core, what its digest must be, what to run.

export const RUNNER_ENV = {
  packageUrl: 'MORTISE_PACKAGE_URL',
  digest: 'MORTISE_PACKAGE_DIGEST',
  entry: 'MORTISE_PACKAGE_ENTRY',
  packageDir: 'MORTISE_PACKAGE_DIR',
  modulesDir: 'MORTISE_RUNNER_MODULES',
  allowAddons: 'MORTISE_ALLOW_ADDONS',
  allowChildProcesses: 'MORTISE_ALLOW_CHILD_PROCESSES',
  allowWorkerThreads: 'MORTISE_ALLOW_WORKER_THREADS',
} as const;

export interface RunnerConfig {
  /** The core's package URL (GET with the backend's token). */
  packageUrl: string;
  /** sha256 hex the archive must have. */
  digest: string;
  /** The entry file, relative to the package root. */
  entry: string;
  /** Where packages are unpacked (a writable volume). */
  packageDir: string;
  /** The backend's own writable directory. */
  dataDir: string;
  /** The backend's service-account token (also what fetches the package). */
  token: string;
  /** The platform modules (the SDK and its dependencies) the backend may read, when any. */
  modulesDir?: string;
  allowAddons: boolean;
  allowChildProcesses: boolean;
  allowWorkerThreads: boolean;
}

/** The runner's configuration from its environment; throws naming every variable missing or wrong. */
export function runnerConfig(env: NodeJS.ProcessEnv): RunnerConfig {
  const problems: string[] = [];
  const need = (name: string) => {
    const v = env[name];
    if (!v) problems.push(`${name} is not set`);
    return v ?? '';
  };
  const packageUrl = need(RUNNER_ENV.packageUrl);
  const digest = need(RUNNER_ENV.digest).toLowerCase();
  const entry = need(RUNNER_ENV.entry);
  const packageDir = need(RUNNER_ENV.packageDir);
  const dataDir = need(RUNTIME_ENV.dataDir.name);
  const token = need(RUNTIME_ENV.token.name);
  if (digest && !isSha256Hex(digest)) problems.push(`${RUNNER_ENV.digest} must be a sha256 in hex, got ${JSON.stringify(digest)}`);
  if (packageUrl && !/^https?:\/\//.test(packageUrl)) problems.push(`${RUNNER_ENV.packageUrl} must be an http(s) URL, got ${JSON.stringify(packageUrl)}`);
  if (problems.length) throw new Error(`cannot run the backend: ${problems.join('; ')}`);
  return {
    packageUrl, digest, entry, packageDir, dataDir, token,
    ...(env[RUNNER_ENV.modulesDir] ? { modulesDir: env[RUNNER_ENV.modulesDir] } : {}),
    allowAddons: env[RUNNER_ENV.allowAddons] === 'true',
    allowChildProcesses: env[RUNNER_ENV.allowChildProcesses] === 'true',
    allowWorkerThreads: env[RUNNER_ENV.allowWorkerThreads] === 'true',
  };
}
