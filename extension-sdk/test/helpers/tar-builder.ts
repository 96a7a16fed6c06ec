import { gzipSync } from 'node:zlib';
import { Header, Pax } from 'tar';
import { stringify } from 'yaml';
import { minimalManifest } from './fixtures.js';

/**
 * Builds tar archives by hand, header by header, so tests can make the hostile ones no
 * well-behaved packer would: symlinks, absolute paths, "..", devices, lying sizes.
 */
export interface RawEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  data?: Buffer | string;
  linkpath?: string;
  mode?: number;
  /** Declared size, when it should differ from the data (truncated archives). */
  size?: number;
  /** Write the path through a pax header (for long or tricky paths). */
  pax?: boolean;
}

export function tarOf(entries: RawEntry[], options: { endMarker?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const data = typeof entry.data === 'string' ? Buffer.from(entry.data) : (entry.data ?? Buffer.alloc(0));
    const type = entry.type ?? 'File';
    if (entry.pax) parts.push(new Pax({ path: entry.path }).encode());
    const header = new Header({
      path: entry.pax ? 'placeholder' : entry.path,
      type,
      mode: entry.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      size: entry.size ?? (type === 'File' ? data.length : 0),
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      uname: '',
      gname: '',
      linkpath: entry.linkpath ?? '',
    });
    const block = Buffer.alloc(512);
    header.encode(block);
    parts.push(block);
    if (type === 'File' && data.length > 0) {
      parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
    }
  }
  if (options.endMarker !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function tgzOf(entries: RawEntry[], options: { endMarker?: boolean } = {}): Buffer {
  return gzipSync(tarOf(entries, options));
}

/** A valid extension.yaml entry, so that only the hostile part of an archive is wrong. */
export function manifestEntry(overrides: Record<string, unknown> = {}): RawEntry {
  return { path: 'extension.yaml', data: stringify(minimalManifest(overrides)) };
}
