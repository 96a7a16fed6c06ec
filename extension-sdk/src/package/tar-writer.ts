import { Header, Pax } from 'tar';

/** Every entry gets this mtime, so packing the same files twice gives the same bytes. */
export const PACKAGE_ENTRY_MTIME = new Date(Date.UTC(2000, 0, 1));

const BLOCK = 512;

export interface TarFileInput {
  path: string;
  executable: boolean;
  data: Buffer;
}

/**
 * A ustar archive of regular files with normalized metadata: mode 0644 or 0755, uid/gid 0,
 * empty user and group names, fixed mtime. Long paths get a pax header. Entries are written
 * in the order given.
 */
export function writeTar(files: readonly TarFileInput[]): Buffer {
  const parts: Buffer[] = [];
  for (const file of files) {
    const fields = {
      path: file.path,
      mode: file.executable ? 0o755 : 0o644,
      uid: 0,
      gid: 0,
      size: file.data.length,
      mtime: PACKAGE_ENTRY_MTIME,
      type: 'File' as const,
      uname: '',
      gname: '',
      devmaj: 0,
      devmin: 0,
    };
    const header = new Header(fields);
    const block = Buffer.alloc(BLOCK);
    if (header.encode(block)) {
      parts.push(new Pax({ path: file.path, mtime: PACKAGE_ENTRY_MTIME, uid: 0, gid: 0, uname: '', gname: '' }).encode());
    }
    parts.push(block, file.data, Buffer.alloc(padding(file.data.length)));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}
