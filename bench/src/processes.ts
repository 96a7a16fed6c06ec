import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** What `npm start` runs: the core's bundle (core/scripts/bundle.mjs), built by `npm run build`. */
export const coreMain = fileURLToPath(new URL('../../core/dist/bundle/main.js', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Spawned {
  child: ChildProcess;
  url: string;
  /** ms from spawn until /readyz answered 200. */
  startMs: number;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
/** Processes to kill should the bench exit before it stops them (each a function: their pids are read at exit). */
const leftovers = new Set<() => number[]>();
// A failed run must not leave servers behind. One listener for all of them (a listener each was
// Node's MaxListenersExceededWarning once a run had started eleven).
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const pids of leftovers) {
    for (const pid of pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
});

/** Kills these processes (SIGKILL) should the bench exit first; the returned function forgets them. */
export function killAtExit(pids: () => number[]): () => void {
  leftovers.add(pids);
  return () => leftovers.delete(pids);
}

/**
 * Starts a Node server as a child process (so load and server do not share a thread). `args` go
 * to the script, `nodeArgs` to node itself (e.g. `--cpu-prof`).
 */
export async function spawnServer(script: string, env: Record<string, string>, readyPath = '/readyz', args: string[] = [], nodeArgs: string[] = []): Promise<Spawned> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', MORTISE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${url}${readyPath}`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const startMs = performance.now() - started;
  return {
    child, url, startMs,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/** Resident set size of a process, in MiB (Linux). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}
