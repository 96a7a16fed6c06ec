import { readFile } from 'node:fs/promises';
import { isSha256Hex, parseSha256File, sha256Hex } from '../package/digest.js';
import type { IndexEntry } from './types.js';

export interface PublishOptions {
  /** Base URL of the marketplace server, e.g. "https://marketplace.example.com". */
  marketplaceUrl: string;
  /** Repository to publish to; default "main". */
  repository?: string;
  token: string;
  /** The .tgz: bytes or a file path. With a path, `<path>.sig` and `<path>.sha256` are sent if present. */
  package: Buffer | string;
  /** Base64 signature; overrides a `.sig` file. */
  signature?: string;
  timeoutMs?: number;
}

export interface PublishResult {
  status: number;
  entry: IndexEntry;
}

/** A refusal from the marketplace, with its HTTP status and error code. */
export class PublishError extends Error {
  override readonly name = 'PublishError';
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly code: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/**
 * Uploads a package to a marketplace. The package's sha256 travels in `X-Mortise-Sha256` so
 * the server refuses anything damaged in transit.
 */
export async function publishPackage(options: PublishOptions): Promise<PublishResult> {
  const bytes = typeof options.package === 'string' ? await readFile(options.package) : options.package;
  const sha256 = sha256Hex(bytes);
  if (typeof options.package === 'string') {
    const recorded = parseSha256File((await readOptional(`${options.package}.sha256`)) ?? '');
    if (recorded !== undefined && recorded !== sha256) {
      throw new PublishError(`${options.package} does not match its .sha256 file (${sha256} ≠ ${recorded})`, undefined, 'DigestMismatch');
    }
  }
  const signature = options.signature ?? (typeof options.package === 'string' ? (await readOptional(`${options.package}.sig`))?.trim() : undefined);

  const repository = options.repository ?? 'main';
  const url = new URL(`api/v1/repositories/${encodeURIComponent(repository)}/packages`, withTrailingSlash(options.marketplaceUrl));
  const headers: Record<string, string> = {
    authorization: `Bearer ${options.token}`,
    'content-type': 'application/gzip',
    'x-mortise-sha256': sha256,
  };
  if (signature) headers['x-mortise-signature'] = signature;

  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers,
      body: bytes,
      signal: AbortSignal.timeout(options.timeoutMs ?? 120_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
    throw new PublishError(`cannot reach ${url.origin}: ${cause}`, undefined, 'NetworkError');
  }
  const text = await response.text();
  const body = parseJson(text);
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
    throw new PublishError(
      `publish refused (${response.status}): ${error?.message ?? (text.slice(0, 200) || response.statusText)}`,
      response.status,
      error?.code ?? 'HttpError',
      error?.details,
    );
  }
  const entry = (body as { entry?: IndexEntry } | undefined)?.entry;
  if (!entry || !isSha256Hex(entry.digest)) {
    throw new PublishError('the marketplace answered without an index entry', response.status, 'BadResponse');
  }
  return { status: response.status, entry };
}

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}
