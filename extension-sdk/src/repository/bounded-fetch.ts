import { formatBytes } from '../package/limits.js';
import { RepositoryError } from './errors.js';

export interface BoundedFetchOptions {
  headers?: Record<string, string>;
  timeoutMs: number;
  maxBytes: number;
  /** "index", "package x-1.0.0.tgz": used in messages. */
  what: string;
}

/**
 * GETs a URL into memory, refusing bodies larger than `maxBytes` (by Content-Length and
 * while streaming, for servers that lie or omit it) and giving up after `timeoutMs`.
 */
export async function fetchBounded(url: URL, options: BoundedFetchOptions): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of streamBounded(url, options)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** The same GET as a stream of chunks, for bodies that go to disk rather than memory. */
export async function* streamBounded(url: URL, options: BoundedFetchOptions): AsyncGenerator<Buffer> {
  const controller = new AbortController();
  const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(options.timeoutMs)]);
  let response: Response;
  try {
    response = await fetch(url, { headers: options.headers, signal, redirect: 'follow' });
  } catch (error) {
    throw networkError(error, url, options);
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    const code = response.status === 404 ? 'NOT_FOUND' : 'HTTP_ERROR';
    throw new RepositoryError(code, `GET ${redact(url)} for the ${options.what} answered ${response.status} ${response.statusText}`.trim(), { status: response.status });
  }
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    controller.abort();
    throw tooLarge(options);
  }
  let received = 0;
  const reader = (response.body ?? new ReadableStream<Uint8Array>())[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await reader.next();
      } catch (error) {
        throw networkError(error, url, options);
      }
      if (next.done) return;
      received += next.value.byteLength;
      if (received > options.maxBytes) throw tooLarge(options);
      yield Buffer.from(next.value);
    }
  } finally {
    // Done, refused or abandoned by the consumer: the connection is not left open.
    controller.abort();
  }
}

function tooLarge(options: BoundedFetchOptions): RepositoryError {
  return new RepositoryError('TOO_LARGE', `the ${options.what} is larger than the ${formatBytes(options.maxBytes)} allowed`);
}

function networkError(error: unknown, url: URL, options: BoundedFetchOptions): RepositoryError {
  const name = (error as Error).name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new RepositoryError('TIMEOUT', `GET ${redact(url)} for the ${options.what} did not complete within ${options.timeoutMs} ms`);
  }
  const cause = (error as { cause?: { message?: string; code?: unknown } }).cause;
  return new RepositoryError('NETWORK_ERROR', `GET ${redact(url)} for the ${options.what} failed: ${cause?.message ?? (error as Error).message}`, typeof cause?.code === 'string' ? { cause: cause.code } : {});
}

/** A URL for messages, without any user:password it may carry. */
export function redact(url: URL): string {
  if (!url.username && !url.password) return url.href;
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}
