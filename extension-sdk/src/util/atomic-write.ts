import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';

// Files readers see with either the old or the new content, never a torn one: written to a
// uniquely named temporary file beside the target, flushed to disk, then renamed over it.

const tempBeside = (path: string) => `${path}.${randomBytes(6).toString('hex')}.tmp`;

export async function writeFileAtomic(path: string, data: Buffer | string, mode = 0o644): Promise<void> {
  const temp = tempBeside(path);
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** The same, for callers that cannot wait (small state files written between two steps), confined backends included. */
export function writeFileAtomicSync(path: string, data: Buffer | string, mode = 0o644): void {
  const temp = tempBeside(path);
  try {
    const fd = openSync(temp, 'wx', mode);
    try {
      writeFileSync(fd, data);
      try {
        fsyncSync(fd);
      } catch (error) {
        // Node 20's permission model denies fsync to a confined backend: the rename still
        // replaces the file whole, only a power loss could then see the old content.
        if ((error as NodeJS.ErrnoException).code !== 'ERR_ACCESS_DENIED') throw error;
      }
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}
