import type { KeyObject } from 'node:crypto';
import { createHash, randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Hex } from '../package/digest.js';
import { DEFAULT_PACKAGE_LIMITS, formatBytes } from '../package/limits.js';
import { toPublicKey, verifyDigestSignature } from '../package/signing.js';
import { fetchBounded, redact, streamBounded } from './bounded-fetch.js';
import { RepositoryError } from './errors.js';
import { parseRepositoryIndex } from './parse-index.js';
import { REPOSITORY_INDEX_FILE, type IndexEntry, type RepositoryIndex } from './types.js';

export type RepositoryCredentials = { username: string; password: string } | { token: string };

export interface RepositoryClientOptions {
  /** `http(s)://host/path/` of a repository, or `file:///dir/` for an air-gapped copy. */
  url: string;
  credentials?: RepositoryCredentials;
  /** Per request; default 30 s. */
  timeoutMs?: number;
  /** Default 32 MiB. */
  maxIndexSize?: number;
  /** Default 200 MiB, as for package reading. */
  maxPackageSize?: number;
  /** When set, every package must carry a signature by one of these ed25519 keys. */
  trustedKeys?: ReadonlyArray<string | KeyObject>;
}

/**
 * Reads a repository: its `index.yaml` and its packages, over HTTP(S) or from a directory.
 * Packages are checked against the index digest (and signature, with trusted keys) before
 * they are returned. Credentials are only sent to the repository's own origin.
 */
export class RepositoryClient {
  readonly baseUrl: URL;
  private readonly timeoutMs: number;
  private readonly maxIndexSize: number;
  private readonly maxPackageSize: number;
  private readonly trustedKeys: KeyObject[];

  constructor(private readonly options: RepositoryClientOptions) {
    this.baseUrl = normalizeBaseUrl(options.url);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxIndexSize = options.maxIndexSize ?? 32 * 1024 * 1024;
    this.maxPackageSize = options.maxPackageSize ?? DEFAULT_PACKAGE_LIMITS.maxPackageSize;
    this.trustedKeys = (options.trustedKeys ?? []).map(toPublicKey);
  }

  async fetchIndex(): Promise<RepositoryIndex> {
    const url = new URL(REPOSITORY_INDEX_FILE, this.baseUrl);
    const bytes = await this.get(url, this.maxIndexSize, 'repository index');
    return parseRepositoryIndex(bytes.toString('utf8'));
  }

  /** Downloads a package, trying each of the entry's URLs in turn, and verifies it. */
  async fetchPackage(entry: IndexEntry): Promise<Buffer> {
    let firstError: unknown;
    for (const location of entry.urls) {
      try {
        const bytes = await this.get(this.packageUrl(location), this.maxPackageSize, `package ${entry.name} ${entry.version}`);
        this.verify(entry, bytes);
        return bytes;
      } catch (error) {
        if (error instanceof RepositoryError && error.code.startsWith('SIGNATURE')) throw error;
        firstError ??= error;
      }
    }
    throw firstError ?? new RepositoryError('NOT_FOUND', `${entry.name} ${entry.version} lists no download URL`);
  }

  /**
   * Downloads a package straight to `destination` (never held in memory), trying each of the
   * entry's URLs in turn: written to a temporary file beside it (`<destination>.<hex>.tmp`),
   * flushed, verified like `fetchPackage`, then renamed into place. Returns the path.
   */
  async downloadPackage(entry: IndexEntry, destination: string): Promise<string> {
    let firstError: unknown;
    for (const location of entry.urls) {
      const temp = `${destination}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        const hash = createHash('sha256');
        const handle = await open(temp, 'wx', 0o644);
        try {
          for await (const chunk of this.stream(this.packageUrl(location), this.maxPackageSize, `package ${entry.name} ${entry.version}`)) {
            hash.update(chunk);
            await handle.write(chunk);
          }
          await handle.sync();
        } finally {
          await handle.close();
        }
        this.verifyDigest(entry, hash.digest('hex'));
        await rename(temp, destination);
        return destination;
      } catch (error) {
        await rm(temp, { force: true });
        if (error instanceof RepositoryError && error.code.startsWith('SIGNATURE')) throw error;
        firstError ??= error;
      }
    }
    throw firstError ?? new RepositoryError('NOT_FOUND', `${entry.name} ${entry.version} lists no download URL`);
  }

  /** Where a package location from the index points, resolved against the repository URL. */
  packageUrl(location: string): URL {
    let url: URL;
    try {
      url = new URL(location, this.baseUrl);
    } catch {
      throw new RepositoryError('INVALID_URL', `invalid package URL ${JSON.stringify(location)}`);
    }
    if (url.protocol === 'file:' && (this.baseUrl.protocol !== 'file:' || !isInside(fileURLToPath(url), fileURLToPath(this.baseUrl)))) {
      throw new RepositoryError('INVALID_URL', `package URL ${JSON.stringify(location)} points outside the repository`);
    }
    if (!['http:', 'https:', 'file:'].includes(url.protocol)) {
      throw new RepositoryError('INVALID_URL', `package URL ${JSON.stringify(location)} uses an unsupported scheme`);
    }
    return url;
  }

  private verify(entry: IndexEntry, bytes: Buffer): void {
    this.verifyDigest(entry, sha256Hex(bytes));
  }

  private verifyDigest(entry: IndexEntry, digest: string): void {
    if (digest !== entry.digest) {
      throw new RepositoryError('DIGEST_MISMATCH', `package ${entry.name} ${entry.version} has sha256 ${digest}, but the index says ${entry.digest}`);
    }
    if (this.trustedKeys.length === 0) return;
    if (!entry.signature) {
      throw new RepositoryError('SIGNATURE_MISSING', `package ${entry.name} ${entry.version} is not signed, and this repository requires signatures`);
    }
    if (!verifyDigestSignature(entry.digest, entry.signature, this.trustedKeys)) {
      throw new RepositoryError('SIGNATURE_INVALID', `package ${entry.name} ${entry.version} is not signed by a trusted key`);
    }
  }

  private async get(url: URL, maxBytes: number, what: string): Promise<Buffer> {
    if (url.protocol === 'file:') return readLocal(fileURLToPath(url), maxBytes, what);
    return fetchBounded(url, { headers: this.headersFor(url), timeoutMs: this.timeoutMs, maxBytes, what });
  }

  private stream(url: URL, maxBytes: number, what: string): AsyncIterable<Buffer> {
    if (url.protocol === 'file:') return streamLocal(fileURLToPath(url), maxBytes, what);
    return streamBounded(url, { headers: this.headersFor(url), timeoutMs: this.timeoutMs, maxBytes, what });
  }

  private headersFor(url: URL): Record<string, string> {
    const headers: Record<string, string> = {};
    const credentials = this.options.credentials;
    if (credentials && url.origin === this.baseUrl.origin) {
      headers.authorization =
        'token' in credentials
          ? `Bearer ${credentials.token}`
          : `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    }
    return headers;
  }
}

function normalizeBaseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RepositoryError('INVALID_URL', `invalid repository URL ${JSON.stringify(raw)}`);
  }
  if (!['http:', 'https:', 'file:'].includes(url.protocol)) {
    throw new RepositoryError('INVALID_URL', `repository URL must be http(s):// or file://, got ${redact(url)}`);
  }
  if (url.username || url.password) {
    throw new RepositoryError('INVALID_URL', 'put repository credentials in the credentials option, not in the URL');
  }
  if (url.pathname.endsWith(`/${REPOSITORY_INDEX_FILE}`)) url.pathname = url.pathname.slice(0, -REPOSITORY_INDEX_FILE.length);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = '';
  url.hash = '';
  return url;
}

async function openLocal(path: string, maxBytes: number, what: string): Promise<FileHandle> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'NETWORK_ERROR';
    throw new RepositoryError(code, `cannot read the ${what} at ${path}: ${(error as Error).message}`);
  }
  const stats = await handle.stat();
  if (stats.size > maxBytes) {
    await handle.close();
    throw new RepositoryError('TOO_LARGE', `the ${what} is larger than the ${formatBytes(maxBytes)} allowed`);
  }
  return handle;
}

async function readLocal(path: string, maxBytes: number, what: string): Promise<Buffer> {
  const handle = await openLocal(path, maxBytes, what);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

async function* streamLocal(path: string, maxBytes: number, what: string): AsyncGenerator<Buffer> {
  const handle = await openLocal(path, maxBytes, what);
  let read = 0;
  // The handle's stream closes it when done or abandoned.
  for await (const chunk of handle.createReadStream({ highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>) {
    read += chunk.length;
    if (read > maxBytes) throw new RepositoryError('TOO_LARGE', `the ${what} is larger than the ${formatBytes(maxBytes)} allowed`);
    yield chunk;
  }
}

function isInside(path: string, root: string): boolean {
  const resolvedRoot = resolve(root);
  return resolve(path).startsWith(resolvedRoot.endsWith(sep) ? resolvedRoot : resolvedRoot + sep);
}
