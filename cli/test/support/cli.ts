import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const cliDir = fileURLToPath(new URL('../..', import.meta.url));
/** The compiled CLI, run as users run it: `node cli/dist/mortise.js`. */
export const cliEntry = join(cliDir, 'dist', 'mortise.js');

/** Fails early, and says what to do, when the compiled CLI is missing or older than its source. */
export function assertCliBuilt(): void {
  if (!existsSync(cliEntry)) throw new Error(`${cliEntry} is missing: run \`npx tsc -b cli\` (or \`npm run build\`) first`);
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
  const src = join(cliDir, 'src');
  for (const file of walk(src).filter((f) => f.endsWith('.ts'))) {
    const out = join(cliDir, 'dist', relative(src, file)).replace(/\.ts$/, '.js');
    if (!existsSync(out) || statSync(out).mtimeMs + 1000 < statSync(file).mtimeMs) {
      throw new Error(`${relative(cliDir, file)} is newer than its build: run \`npx tsc -b cli\` first`);
    }
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** MORTISE_CONFIG for the child. */
  config: string;
  /** Written to the child's stdin, which is then closed (it is a pipe, never a terminal). */
  input?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

/** Runs `mortise ...args` in a child process with a clean environment. */
export function runCli(args: string[], options: RunOptions): Promise<CliResult> {
  return run(process.execPath, [cliEntry, ...args], `mortise ${args.join(' ')}`, options);
}

/** Whether util-linux `script` is here to give a child a pseudo-terminal. */
export function hasScript(): boolean {
  return spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Runs `mortise ...args` with a pseudo-terminal as stdin, stdout and stderr (util-linux
 * `script`), as a person at a terminal would. Everything the CLI wrote comes back in stdout.
 */
export function runCliInTerminal(args: string[], options: RunOptions): Promise<CliResult> {
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, cliEntry, ...args].map(quote).join(' ');
  return run('script', ['-qec', command, '/dev/null'], `mortise ${args.join(' ')} (in a terminal)`, { ...options, env: { TERM: 'xterm', ...options.env } });
}

function run(file: string, argv: string[], what: string, options: RunOptions): Promise<CliResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('MORTISE_') && k !== 'CI') env[k] = v;
  env.LANG = 'C';
  delete env.LC_ALL;
  delete env.LC_MESSAGES;
  env.MORTISE_CONFIG = options.config;
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not exit within ${options.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** The rows of a table the CLI printed, split on runs of 3+ spaces, header first. */
export function tableRows(text: string): string[][] {
  return text.trim().split('\n').map((line) => line.trim().split(/ {3,}/));
}
