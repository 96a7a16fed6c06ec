import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCliProcess } from '../../extension-sdk/test/helpers/run-cli-process.js';
import { packFixture, tempDir } from './helpers/marketplace.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

let work: string;
let cleanup: () => Promise<void>;
let child: ChildProcess | undefined;

beforeEach(async () => ({ dir: work, cleanup } = await tempDir('mortise-market-')));
afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await cleanup();
});

/** Starts the compiled server and resolves with its URL from the "listening" log line. */
function startMain(env: Record<string, string>, args: string[]): Promise<{ url: string; lines: string[] }> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npx tsc -b extension-sdk marketplace" first`);
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env } });
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        lines.push(line);
        const record = JSON.parse(line) as { msg?: string; url?: string };
        if (record.msg === 'marketplace listening' && record.url) resolve({ url: record.url, lines });
      }
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`marketplace exited with ${code}: ${stderr}`)));
  });
}

describe('mortise-marketplace (main.js)', () => {
  it('starts from the command line, accepts a publish from the CLI, logs JSON lines and stops on SIGTERM', async () => {
    const { url, lines } = await startMain({ MARKETPLACE_TOKENS: JSON.stringify([{ token: 'env-token-123456', publisher: 'Acme' }]) }, [
      '--data-dir', join(work, 'data'), '--port', '0', '--host', '127.0.0.1',
    ]);
    const packed = await packFixture(work);
    const published = await runCliProcess(['publish', packed.file, '--to', url, '--token', 'env-token-123456']);
    expect(published.code, published.stderr).toBe(0);
    expect((await fetch(`${url}/main/index.yaml`).then((r) => r.text()))).toContain(packed.sha256);

    const exited = new Promise<number | null>((resolve) => child!.on('exit', resolve));
    child!.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(lines.some((l) => /"msg":"published"/.test(l) && l.includes('"extension":"devops"'))).toBe(true);
    expect(lines.join('\n')).not.toContain('env-token-123456');
  });

  it('refuses to start without a data directory', async () => {
    await expect(startMain({}, [])).rejects.toThrow(/--data-dir is required/);
  });
});
