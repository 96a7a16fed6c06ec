import { createGunzip, type Gunzip } from 'node:zlib';
import { Header, Pax, type HeaderData } from 'tar';
import { normalizePackagePath, unsafePackagePathReason } from '../util/package-path.js';
import { BlockReader, TruncatedError } from './block-reader.js';
import { PackageError } from './errors.js';
import { formatBytes, type PackageLimits } from './limits.js';
import { padding } from './tar-writer.js';

const BLOCK = 512;
/** A pax or GNU long-name record only ever needs to carry a path. */
const MAX_META_ENTRY_SIZE = 64 * 1024;
const MAX_SEGMENT_LENGTH = 255;
/** Compressed bytes handed to zlib at a time: at most ~4 MiB once inflated. */
const INFLATE_SLICE = 4 * 1024;

export interface ScannedFile {
  /** Normalized relative path ("dist/server.js"). */
  path: string;
  /** 0o755 when any execute bit was set in the archive, else 0o644. */
  mode: number;
  data: Buffer;
}

/** A regular file as the archive streams it: its bytes arrive in bounded chunks. */
export interface ScannedEntry {
  path: string;
  mode: number;
  size: number;
  /** The file's bytes; what the handler leaves unread is skipped. Valid only during the handler. */
  content: AsyncIterable<Buffer>;
}

export interface ScanHandlers {
  onFile(file: ScannedEntry): Promise<void> | void;
  onDirectory?(path: string): Promise<void> | void;
}

/** Gathers a streamed entry (for callers that keep files in memory; entries are size-checked first). */
export async function entryBytes(entry: ScannedEntry): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of entry.content) chunks.push(chunk);
  return Buffer.concat(chunks, entry.size);
}

const REFUSED_TYPES: Record<string, string> = {
  '1': 'a hard link',
  '2': 'a symbolic link',
  '3': 'a character device',
  '4': 'a block device',
  '6': 'a FIFO',
  K: 'a link (GNU long link name)',
  S: 'a sparse file',
  D: 'a GNU dump directory',
  M: 'a multi-volume continuation',
  V: 'a tape volume header',
};

/**
 * Reads a gzip-compressed tar of untrusted origin, calling the handlers for each regular
 * file and directory. Accepts only regular files, directories and pax/GNU path records;
 * refuses links, devices, unsafe or duplicate paths, and anything beyond `limits` before
 * reading it. Every refusal is a PackageError naming the entry. The archive (a Buffer or a
 * stream of compressed chunks) is decompressed as it is read: memory stays bounded by the
 * chunk size whatever the entries' sizes.
 */
export async function scanPackageEntries(compressed: Buffer | AsyncIterable<Buffer>, limits: PackageLimits, handlers: ScanHandlers): Promise<void> {
  const gunzip = createGunzip();
  const source = Buffer.isBuffer(compressed) ? (async function* () { yield compressed; })() : compressed;
  const feeding = feedGunzip(source, gunzip);
  const reader = new BlockReader(gunzip);
  try {
    await scanTar(reader, limits, handlers);
  } catch (error) {
    if (error instanceof PackageError) throw error;
    if (error instanceof TruncatedError) throw new PackageError('CORRUPT_ARCHIVE', 'package is truncated: the archive ends inside an entry');
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('Z_')) {
      throw new PackageError('CORRUPT_ARCHIVE', `package is not valid gzip data: ${(error as Error).message}`);
    }
    throw error;
  } finally {
    await reader.close();
    gunzip.destroy();
    await feeding;
  }
}

/**
 * Writes the compressed chunks into gunzip as it asks for them (its backpressure bounds what is
 * buffered), checking the gzip magic first. Never rejects: errors reach the reader through the
 * gunzip stream; once the reader is done (gunzip destroyed) the rest is not read.
 */
async function feedGunzip(source: AsyncIterable<Buffer>, gunzip: Gunzip): Promise<void> {
  let first = true;
  try {
    for await (const chunk of source) {
      if (gunzip.destroyed) return;
      if (first && chunk.length > 0) {
        if (chunk.length < 2 || chunk[0] !== 0x1f || chunk[1] !== 0x8b) throw new PackageError('CORRUPT_ARCHIVE', 'package is not a gzip-compressed tar archive');
        first = false;
      }
      // Small slices: zlib inflates a whole written chunk before it looks at backpressure, and
      // deflate's 1032:1 ratio would turn one 64 KiB chunk into 64 MiB held at once.
      for (let at = 0; at < chunk.length && !gunzip.destroyed; at += INFLATE_SLICE) {
        if (!gunzip.write(chunk.subarray(at, at + INFLATE_SLICE))) await drainedOrClosed(gunzip);
      }
    }
    if (first) throw new PackageError('CORRUPT_ARCHIVE', 'package is not a gzip-compressed tar archive');
    if (!gunzip.destroyed) gunzip.end();
  } catch (error) {
    gunzip.destroy(error as Error);
  }
}

function drainedOrClosed(gunzip: Gunzip): Promise<void> {
  if (gunzip.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      gunzip.off('drain', done);
      gunzip.off('close', done);
      resolve();
    };
    gunzip.on('drain', done);
    gunzip.on('close', done);
  });
}

async function scanTar(reader: BlockReader, limits: PackageLimits, handlers: ScanHandlers): Promise<void> {
  const seen = new EntryRegistry();
  let pending: HeaderData | undefined;
  let headerBlocks = 0;
  let metaBytes = 0;
  let totalSize = 0;
  let entries = 0;
  let previousWasZero = false;

  for (;;) {
    const block = await reader.read(BLOCK);
    if (block === undefined) {
      if (pending) throw new PackageError('CORRUPT_ARCHIVE', 'package is truncated: a path record has no entry after it');
      return; // some writers omit the end-of-archive marker
    }
    // Headers, zero blocks and path records all count, so no archive can make us loop unbounded.
    if (++headerBlocks > limits.maxFiles * 3 + 16) {
      throw new PackageError('TOO_MANY_FILES', `package has more than ${limits.maxFiles} entries`);
    }
    if (isZeroBlock(block)) {
      if (previousWasZero) {
        if (pending) throw new PackageError('CORRUPT_ARCHIVE', 'package is truncated: a path record has no entry after it');
        return; // end-of-archive marker; anything after it is padding
      }
      previousWasZero = true;
      continue;
    }
    previousWasZero = false;

    const header = new Header(block, 0, pending);
    if (!header.cksumValid) throw new PackageError('CORRUPT_ARCHIVE', `package entry header #${headerBlocks} has a bad checksum`);
    const size = header.size;
    if (size === undefined || !Number.isSafeInteger(size) || size < 0) {
      throw new PackageError('CORRUPT_ARCHIVE', `package entry ${quote(header.path)} has an invalid size`);
    }
    const typeKey = header.typeKey;

    if (typeKey === 'x' || typeKey === 'g' || typeKey === 'L') {
      metaBytes += size;
      if (size > MAX_META_ENTRY_SIZE || metaBytes > limits.maxFiles * 1024 + MAX_META_ENTRY_SIZE) {
        throw new PackageError('TOO_LARGE', `package has an oversized ${typeKey === 'L' ? 'long-name' : 'pax'} record`);
      }
      const body = await readBody(reader, size);
      if (typeKey === 'x') pending = { ...pending, ...definedFields(Pax.parse(body.toString('utf8'), undefined, false)) };
      // Global pax records ('g') only carry defaults such as comments; they are ignored.
      if (typeKey === 'L') pending = { ...pending, path: body.toString('utf8').replace(/\0.*$/s, '') };
      continue;
    }
    // A pax or GNU path replaces the header's path outright (Header would prepend the ustar prefix).
    const rawPath = pending?.path ?? header.path ?? '';
    pending = undefined;

    const refused = REFUSED_TYPES[typeKey];
    if (refused) {
      throw new PackageError('UNSUPPORTED_ENTRY', `package entry ${quote(rawPath)} is ${refused}; packages may hold only regular files and directories`);
    }
    const isDirectory = typeKey === '5';
    const isFile = typeKey === '0' || typeKey === '' || typeKey === '7';
    if (!isDirectory && !isFile) {
      throw new PackageError('UNSUPPORTED_ENTRY', `package entry ${quote(rawPath)} has an unsupported type ${JSON.stringify(typeKey)}`);
    }

    const path = safeEntryPath(rawPath);
    if (++entries > limits.maxFiles) throw new PackageError('TOO_MANY_FILES', `package has more than ${limits.maxFiles} entries`);

    if (isDirectory) {
      if (path !== '') {
        seen.addDirectory(path, rawPath);
        await handlers.onDirectory?.(path);
      }
      continue;
    }

    if (path === '') throw new PackageError('UNSAFE_PATH', `package entry ${quote(rawPath)} has no file name`);
    if (size > limits.maxFileSize) {
      throw new PackageError('TOO_LARGE', `package entry ${quote(path)} is ${formatBytes(size)}, more than the ${formatBytes(limits.maxFileSize)} allowed per file`);
    }
    totalSize += size;
    if (totalSize > limits.maxTotalSize) {
      throw new PackageError('TOO_LARGE', `package unpacks to more than the ${formatBytes(limits.maxTotalSize)} allowed`);
    }
    seen.addFile(path, rawPath);
    const mode = ((header.mode ?? 0) & 0o111) !== 0 ? 0o755 : 0o644;
    const content = reader.body(size);
    await handlers.onFile({ path, mode, size, content });
    // Whatever the handler left unread, and the padding to the next block.
    await content.skipRest();
    if (padding(size) > 0 && (await reader.read(padding(size))) === undefined) throw new TruncatedError();
  }
}

async function readBody(reader: BlockReader, size: number): Promise<Buffer> {
  if (size === 0) return Buffer.alloc(0);
  const data = await reader.read(size + padding(size));
  if (data === undefined) throw new TruncatedError();
  return data.subarray(0, size);
}

function safeEntryPath(rawPath: string): string {
  if (rawPath === './' || rawPath === '.') return '';
  const reason = unsafePackagePathReason(rawPath);
  if (reason) throw new PackageError('UNSAFE_PATH', `package entry ${quote(rawPath)} ${reason}`);
  const path = normalizePackagePath(rawPath);
  if (path.split('/').some((segment) => Buffer.byteLength(segment) > MAX_SEGMENT_LENGTH)) {
    throw new PackageError('UNSAFE_PATH', `package entry ${quote(rawPath)} has a name longer than ${MAX_SEGMENT_LENGTH} bytes`);
  }
  return path;
}

/**
 * Refuses an entry that appears twice, that differs from another only by letter case (it
 * would overwrite it on case-insensitive file systems), or that is both a file and a directory.
 */
class EntryRegistry {
  private readonly files = new Map<string, string>();
  private readonly directories = new Map<string, string>();

  addFile(path: string, rawPath: string): void {
    const key = path.toLowerCase();
    const file = this.files.get(key);
    if (file !== undefined) {
      throw new PackageError('DUPLICATE_ENTRY', file === path ? `package entry ${quote(rawPath)} appears more than once` : caseOnly(rawPath, file));
    }
    const directory = this.directories.get(key);
    if (directory !== undefined) throw conflict(rawPath, directory);
    for (const parent of parents(path)) this.addDirectory(parent, rawPath);
    this.files.set(key, path);
  }

  addDirectory(path: string, rawPath: string): void {
    const key = path.toLowerCase();
    const file = this.files.get(key);
    if (file !== undefined) throw conflict(rawPath, file);
    const directory = this.directories.get(key);
    if (directory !== undefined && directory !== path) throw new PackageError('DUPLICATE_ENTRY', caseOnly(rawPath, directory));
    this.directories.set(key, path);
  }
}

function caseOnly(rawPath: string, other: string): string {
  return `package entry ${quote(rawPath)} differs from ${quote(other)} only by letter case`;
}

function conflict(rawPath: string, other: string): PackageError {
  return new PackageError('DUPLICATE_ENTRY', `package entry ${quote(rawPath)} conflicts with ${quote(other)} (a path cannot be both a file and a directory)`);
}

function parents(path: string): string[] {
  const segments = path.split('/');
  return segments.slice(0, -1).map((_, i) => segments.slice(0, i + 1).join('/'));
}

function isZeroBlock(block: Buffer): boolean {
  for (const byte of block) if (byte !== 0) return false;
  return true;
}

function quote(path: string | undefined): string {
  return JSON.stringify(path ?? '');
}

function definedFields(pax: Pax): HeaderData {
  const { global: _global, ...fields } = pax;
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as HeaderData;
}
