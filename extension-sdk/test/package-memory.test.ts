import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manifestEntry, tarOf } from './helpers/tar-builder.js';
import { tempDir } from './helpers/fixtures.js';

const MiB = 1024 * 1024;
const measure = fileURLToPath(new URL('./helpers/measure-extract.mjs', import.meta.url));

/** A small .tgz that unpacks to `count` files of `size` zero bytes, written without holding them in memory. */
async function writeBomb(path: string, count: number, size: number): Promise<number> {
  const gzip = createGzip();
  const out = gzip.pipe(createWriteStream(path));
  const write = async (data: Buffer) => {
    if (!gzip.write(data)) await once(gzip, 'drain');
  };
  await write(tarOf([manifestEntry()], { endMarker: false }));
  const zeros = Buffer.alloc(MiB);
  for (let i = 0; i < count; i++) {
    await write(tarOf([{ path: `zeros-${i}.bin`, size }], { endMarker: false }));
    for (let left = size; left > 0; left -= MiB) await write(left >= MiB ? zeros : zeros.subarray(0, left));
    await write(Buffer.alloc((512 - (size % 512)) % 512));
  }
  await write(Buffer.alloc(1024));
  gzip.end();
  await once(out, 'finish');
  return out.bytesWritten;
}

function run(args: string[]): Promise<{ code: string; message?: string; peakRssGrowth: number; arrayBuffersGrowth: number }> {
  if (!existsSync(new URL('../dist/index.js', import.meta.url))) throw new Error('the SDK is not built: run "npx tsc -b extension-sdk" first');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', measure, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new Error(`measure-extract printed no result: ${stdout} ${stderr}`));
      }
    });
  });
}

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir('mortise-bomb-')));
afterEach(() => cleanup());

describe('unpacking streams: memory stays bounded whatever the entries\' sizes', () => {
  it('refuses a small package that unpacks to 3 × 90 MiB, without holding any of it in memory', async () => {
    const archive = join(dir, 'bomb.tgz');
    const compressed = await writeBomb(archive, 3, 90 * MiB);
    expect(compressed).toBeLessThan(MiB);
    const result = await run([archive, join(dir, 'installed')]);
    expect(result.code).toBe('TOO_LARGE');
    expect(result.message).toMatch(/unpacks to more than the 200\.0 MiB allowed/);
    // Before streaming, this grew by ~290 MB (every file gathered in memory, twice).
    expect(result.peakRssGrowth).toBeLessThan(64 * MiB);
    expect(result.arrayBuffersGrowth).toBeLessThan(64 * MiB);
    expect(await readdir(dir)).toEqual(['bomb.tgz']);
  });

  it('unpacks a package of large files with the same bounded memory', async () => {
    const archive = join(dir, 'large.tgz');
    await writeBomb(archive, 2, 60 * MiB);
    const result = await run([archive, join(dir, 'installed')]);
    expect(result.code).toBe('OK');
    expect(result.peakRssGrowth).toBeLessThan(64 * MiB);
    expect((await readdir(join(dir, 'installed'))).sort()).toEqual(['extension.yaml', 'zeros-0.bin', 'zeros-1.bin']);
  });
});
