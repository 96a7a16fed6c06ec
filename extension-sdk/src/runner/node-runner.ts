import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { extractPackage } from '../package/extract-package.js';
import { fetchPackage, RunnerError } from './fetch-package.js';
import { RUNNER_ENV, runnerConfig, type RunnerConfig } from './runner-config.js';

// The stock Node runner (deploy/node-runner/Dockerfile runs it): fetches a process backend's
// package from the core with the backend's token, checks its digest, unpacks it (entries
// confined to the destination: no absolute paths, no `..`, no links), then runs its entry on
// Node confined by Node's permission model (reads: the package and the platform modules;
// writes: the data directory), forwarding signals and exiting as the backend exits.

/** Fetches, checks and unpacks the package; returns the entry file to run and its package directory. */
export async function preparePackage(config: RunnerConfig): Promise<{ dir: string; entry: string }> {
  const archive = await fetchPackage(config);
  const dir = join(config.packageDir, config.digest);
  try {
    // A restarted container finds its volume as it was: what is there is not trusted, it is redone.
    await rm(dir, { recursive: true, force: true });
    await extractPackage(archive, dir, { expectedSha256: config.digest });
  } catch (e) {
    throw e instanceof RunnerError ? e : new RunnerError(`the package cannot be unpacked: ${(e as Error).message}`);
  } finally {
    await rm(archive, { force: true });
  }
  const entry = resolve(dir, config.entry);
  const rel = relative(dir, entry);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new RunnerError(`the entry ${config.entry} is outside the package`);
  return { dir, entry };
}

/** Node's permission flags for the backend, as far as this node has them. */
export function confinementArgs(config: RunnerConfig, dir: string, flags: ReadonlySet<string> = process.allowedNodeEnvironmentFlags): string[] {
  const permission = flags.has('--permission') ? '--permission' : flags.has('--experimental-permission') ? '--experimental-permission' : undefined;
  if (!permission) return [];
  const args = [permission, `--allow-fs-read=${dir}`, `--allow-fs-read=${config.dataDir}`, `--allow-fs-write=${config.dataDir}`];
  if (config.modulesDir) args.push(`--allow-fs-read=${config.modulesDir}`);
  if (flags.has('--allow-net')) args.push('--allow-net');
  if (config.allowAddons && flags.has('--allow-addons')) args.push('--allow-addons');
  if (config.allowChildProcesses) args.push('--allow-child-process');
  if (config.allowWorkerThreads) args.push('--allow-worker');
  return args;
}

/** Runs the backend; resolves with the exit code the runner should exit with. */
export async function runBackend(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const config = runnerConfig(env);
  const { dir, entry } = await preparePackage(config);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const childEnv: NodeJS.ProcessEnv = { ...env, HOME: config.dataDir };
  for (const name of Object.values(RUNNER_ENV)) delete childEnv[name];
  delete childEnv.NODE_OPTIONS; // it could widen the permission model
  const child = spawn(process.execPath, [...confinementArgs(config, dir), entry], { cwd: dir, env: childEnv, stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, forward(signal));
  return new Promise((done) => {
    child.once('error', (e) => {
      process.stderr.write(`mortise-node-runner: could not start the backend: ${e.message}\n`);
      done(1);
    });
    child.once('exit', (code, signal) => done(code ?? (signal ? 128 + signalNumber(signal) : 1)));
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 1;
}

/** The program: `mortise-node-runner` (no arguments; everything comes from the environment). */
export async function main(): Promise<void> {
  try {
    process.exitCode = await runBackend();
  } catch (e) {
    process.stderr.write(`mortise-node-runner: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
