import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from '../util/free-port.js';

/**
 * Where the core's entry is: given, `MORTISE_CORE_ENTRY`, else `@mortise/core/main` of the
 * `@mortise/core` package next to the SDK — the bundled core (`dist/bundle/main.js`), what
 * `npm start` runs, a script run for its side effects.
 */
export function findCoreEntry(given?: string): string {
  const explicit = given ?? process.env.MORTISE_CORE_ENTRY;
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`the Mortise core's entry ${explicit} does not exist (coreEntry / MORTISE_CORE_ENTRY: the core's dist/bundle/main.js)`);
    return explicit;
  }
  const unbuilt = (entry: string) => new Error(`the Mortise core's entry ${entry} does not exist: build the core with \`npm run build\` (or \`node core/scripts/bundle.mjs\`) in its checkout`);
  let entry: string;
  try {
    entry = fileURLToPath(import.meta.resolve('@mortise/core/main'));
  } catch (e) {
    // Node 20 resolves without looking at the file; later ones may say it is missing.
    const missing = /'([^']*[/\\]dist[/\\]bundle[/\\]main\.js)'/.exec(String((e as Error).message));
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && missing) throw unbuilt(missing[1]!);
    throw new Error(
      'no Mortise core to test against: install the packed core beside the SDK (`npm pack -w @mortise/core` in a Mortise checkout, '
      + 'then `npm install -D ./mortise-core-<version>.tgz`), set MORTISE_CORE_ENTRY to a core\'s dist/bundle/main.js '
      + '(e.g. <mortise checkout>/core/dist/bundle/main.js), or pass `coreEntry`',
    );
  }
  // A checkout built with `tsc -b` alone has no bundle (`npm run build` and `npm pack` make it).
  if (!existsSync(entry)) throw unbuilt(entry);
  return entry;
}

export interface CoreProcess {
  url: string;
  child: ChildProcess;
  /** What the core wrote (its JSON log lines), for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** Starts `node <entry>` with `env` on a free port and waits until `/readyz` answers 200. */
export async function startCoreProcess(entry: string, env: Record<string, string>, timeoutMs: number): Promise<CoreProcess> {
  const port = await freePort();
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('MORTISE_')) childEnv[k] = v;
  Object.assign(childEnv, { HOST: '127.0.0.1', PORT: String(port), ...env });
  const child = spawn(process.execPath, [entry], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-64 * 1024);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gone) throw new Error(`the Mortise core (${entry}) exited before it was ready:\n${output}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the Mortise core (${entry}) was not ready within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url, child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
