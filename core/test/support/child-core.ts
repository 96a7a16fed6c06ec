import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// `node core/dist/bundle/main.js` as a child process: what `npm start` runs (the bundle of the
// core, core/scripts/bundle.mjs; vitest's global setup rebuilds it when tsc's output is newer).

export const mainJs = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/bundle/main.js');

/** A port that was free a moment ago (the core is told to use it). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolvePort(port));
    });
  });
}

export interface ChildCore {
  child: ChildProcess;
  url: string;
  port: number;
  /** Everything written to stdout / stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  /** Sends a signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Starts main.js on a free port with the given environment and waits until /readyz answers 200. */
export async function startChildCore(env: Record<string, string | undefined>, opts: { readyTimeoutMs?: number } = {}): Promise<ChildCore> {
  if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: run \`npx tsc -b && node core/scripts/bundle.mjs\` (npm test builds first)`);
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, HOST: '127.0.0.1', PORT: String(port), ...env })) if (v !== undefined) childEnv[k] = v;
  const child = spawn(process.execPath, [mainJs], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((res) => child.once('exit', (code, signal) => res(code ?? signal ?? -1)));
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
  for (;;) {
    if (exitedEarly) throw new Error(`main.js exited before it was ready\nstdout: ${out}\nstderr: ${err}`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`main.js was not ready within the deadline\nstdout: ${out}\nstderr: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child, url, port, exited,
    stdout: () => out,
    stderr: () => err,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export const dbPath = (dataDir: string) => join(dataDir, 'mortise.db');

/** The generated admin passwords main.ts printed: a JSON `bootstrap.password` line, or the terminal form. */
export function generatedPasswords(stdout: string): string[] {
  const found: string[] = [];
  for (const line of stdout.split('\n').map((l) => l.trim()).filter(Boolean)) {
    if (line.startsWith('{')) {
      try {
        const o = JSON.parse(line) as { event?: string; password?: string };
        if (o.event === 'bootstrap.password' && o.password) found.push(o.password);
      } catch {
        // not JSON after all
      }
      continue;
    }
    const m = /admin password \(shown once\):\s*(\S+)/.exec(line);
    if (m) found.push(m[1]!);
  }
  return found;
}
