import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DEFAULT_PACKAGE_LIMITS, formatBytes } from '../package/limits.js';
import type { RunnerConfig } from './runner-config.js';

/** Why the runner will not run what it was given: said once, plainly, on stderr. */
export class RunnerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunnerError';
  }
}

/**
 * Downloads the package from the core with the backend's token into `<packageDir>/.download-*`,
 * hashing as it streams (never held in memory, at most the package size limit), and keeps it only
 * when its sha256 is the one the spec names. Returns the archive's path.
 */
export async function fetchPackage(config: RunnerConfig, limit = DEFAULT_PACKAGE_LIMITS.maxPackageSize): Promise<string> {
  let res: Response;
  try {
    res = await fetch(config.packageUrl, { headers: { authorization: `Bearer ${config.token}`, accept: 'application/gzip' }, redirect: 'error' });
  } catch (e) {
    throw new RunnerError(`could not reach the core at ${config.packageUrl}: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`);
  }
  if (res.status !== 200 || !res.body) {
    const text = await res.text().catch(() => '');
    let why = text.slice(0, 500);
    try {
      why = (JSON.parse(text) as { message?: string }).message ?? why;
    } catch {
      // Not a Status: the text as it came.
    }
    throw new RunnerError(`GET ${config.packageUrl} answered ${res.status}${why ? `: ${why}` : ''}`);
  }
  await mkdir(config.packageDir, { recursive: true });
  const file = join(config.packageDir, `.download-${randomBytes(6).toString('hex')}.tgz`);
  const hash = createHash('sha256');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > limit) return done(new RunnerError(`the package from ${config.packageUrl} is larger than ${formatBytes(limit)}`));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), count, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  } catch (e) {
    await rm(file, { force: true });
    throw e instanceof RunnerError ? e : new RunnerError(`downloading ${config.packageUrl} failed: ${(e as Error).message}`);
  }
  const digest = hash.digest('hex');
  if (digest !== config.digest) {
    await rm(file, { force: true });
    throw new RunnerError(`refusing to run the package from ${config.packageUrl}: its sha256 is ${digest}, but the backend's spec says ${config.digest}`);
  }
  return file;
}
