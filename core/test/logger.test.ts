import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

// The core's logger writes standard output as each line is logged (ops/logger.ts). With pino's
// asynchronous default, a process whose reader had gone and that exited with a line still queued
// never ended: at exit sonic-boom's flushSync retried the EPIPE forever.

const logger = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '../dist/ops/logger.js')).href;

describe('the logger', () => {
  it('lets a process exit after the reader of its standard output went away', async () => {
    const script = `
      const { createLogger } = await import(${JSON.stringify(logger)});
      const { LogBuffer } = await import(${JSON.stringify(logger.replace('logger.js', 'log-buffer.js'))});
      const log = createLogger({ level: 'info', buffer: new LogBuffer() });
      log.info({ event: 'first' }, 'first');
      // The parent closes its end on the first line; these lines and the exit come after.
      setTimeout(() => { for (let i = 0; i < 50; i++) log.info({ event: 'after', i }, 'x'.repeat(200)); process.exit(3); }, 300);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MORTISE_LOG_LEVEL: 'info' } });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
    try {
      const first = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString())));
      expect(JSON.parse(first.split('\n')[0]!)).toMatchObject({ event: 'first', level: 'info' });
      child.stdout!.destroy();
      const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running 10 s later'), 10_000))]);
      expect(code, stderr).toBe(3);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
