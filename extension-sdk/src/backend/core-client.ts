/** A Kubernetes `metav1.Status`, as the core answers every error. */
export interface CoreStatus {
  kind: 'Status';
  apiVersion: string;
  status?: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { name?: string; group?: string; kind?: string; causes?: Array<{ reason?: string; message: string; field?: string }>; retryAfterSeconds?: number };
  code: number;
}

/** A call to the core that did not succeed; `status` is the core's Status when it sent one. */
export class CoreApiError extends Error {
  override readonly name = 'CoreApiError';
  constructor(
    message: string,
    /** The HTTP code (0 when the core could not be reached). */
    readonly code: number,
    readonly status?: CoreStatus,
    readonly method?: string,
    readonly path?: string,
  ) {
    super(message);
  }

  /** The Status `reason` (`NotFound`, `Forbidden`, `Conflict`, ...). */
  get reason(): string | undefined {
    return this.status?.reason;
  }
}

export interface CoreClientOptions {
  /** The core's base URL (`MORTISE_CORE_URL`). */
  url: string;
  /** The extension's service-account token (`MORTISE_TOKEN`); calls are anonymous without one. */
  token?: string;
  /** Per call; default 30 s. */
  timeoutMs?: number;
}

export interface CoreRequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * Calls the core's API as the extension's service account, JSON in and out. Failures throw a
 * `CoreApiError` carrying the core's Status, so `e.reason === 'NotFound'` reads as in Kubernetes.
 */
export class CoreClient {
  readonly baseUrl: URL;
  private readonly timeoutMs: number;

  constructor(private readonly opts: CoreClientOptions) {
    this.baseUrl = new URL(opts.url.endsWith('/') ? opts.url : `${opts.url}/`);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  get<T = unknown>(path: string, opts?: CoreRequestOptions): Promise<T> {
    return this.request<T>('GET', path, undefined, opts);
  }

  post<T = unknown>(path: string, body: unknown, opts?: CoreRequestOptions): Promise<T> {
    return this.request<T>('POST', path, body, opts);
  }

  put<T = unknown>(path: string, body: unknown, opts?: CoreRequestOptions): Promise<T> {
    return this.request<T>('PUT', path, body, opts);
  }

  /** A merge patch (RFC 7386) for an object body, a JSON patch (RFC 6902) for an array of operations. */
  patch<T = unknown>(path: string, body: unknown, opts?: CoreRequestOptions): Promise<T> {
    const type = Array.isArray(body) ? 'application/json-patch+json' : 'application/merge-patch+json';
    return this.request<T>('PATCH', path, body, { ...opts, headers: { 'content-type': type, ...opts?.headers } });
  }

  delete<T = unknown>(path: string, opts?: CoreRequestOptions): Promise<T> {
    return this.request<T>('DELETE', path, undefined, opts);
  }

  private async send(method: string, path: string, body: unknown, opts: CoreRequestOptions, accept: string, signal: AbortSignal | undefined): Promise<{ res: Response; url: URL }> {
    // URL resolves "." and ".." segments (also %2e, and "\" as "/"): a name an extension took from
    // its own request's path, where %2F and %5C were decoded, could make the call reach another
    // object than the one named — another namespace's, with the service account. Refused unsent.
    const pathname = path.split(/[?#]/, 1)[0]!;
    if (pathname.split(/[/\\]/).some((s) => /^(?:\.|%2e){1,2}$/i.test(s))) {
      throw new CoreApiError(`${method} ${pathname}: the path has "." or ".." segments, which would resolve to another object than the one it names`, 400, undefined, method, pathname);
    }
    const url = new URL(path.replace(/^\/+/, ''), this.baseUrl);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    Object.assign(headers, opts.headers);
    try {
      return { res: await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal }), url };
    } catch (e) {
      throw new CoreApiError(`${method} ${url.pathname}: the core could not be reached at ${this.baseUrl.origin}: ${(e as Error).message}`, 0, undefined, method, url.pathname);
    }
  }

  private failure(method: string, url: URL, res: Response, text: string): CoreApiError {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const status = isStatus(parsed) ? parsed : undefined;
    const message = status?.message ?? (text.slice(0, 200) || res.statusText);
    return new CoreApiError(`${method} ${url.pathname}: ${res.status} ${message}`, res.status, status, method, url.pathname);
  }

  /** A GET whose body is read as it comes (a watch, a log): no overall timeout, only `signal`. Failures throw as `request` does. */
  async openStream(path: string, opts: CoreRequestOptions = {}): Promise<Response> {
    const { res, url } = await this.send('GET', path, undefined, opts, 'application/json', opts.signal);
    if (res.ok) return res;
    throw this.failure('GET', url, res, await res.text());
  }

  /**
   * A GET whose text answer is read line by line as it comes — a followed log
   * (`/kapis/extensions.mortise.io/v1alpha1/extensions/{name}/logs?follow=true`). No timeout: it
   * ends when the core ends the answer, on `opts.signal`, or when the caller leaves the loop.
   */
  async *lines(path: string, opts: CoreRequestOptions = {}): AsyncGenerator<string> {
    const own = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, own.signal]) : own.signal;
    const { res, url } = await this.send('GET', path, undefined, opts, 'text/plain', signal);
    if (!res.ok) throw this.failure('GET', url, res, await res.text());
    const decoder = new TextDecoder();
    let partial = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const text = partial + decoder.decode(chunk, { stream: true });
        const parts = text.split('\n');
        partial = parts.pop()!;
        for (const line of parts) yield line;
      }
      if (partial) yield partial;
    } finally {
      own.abort();
    }
  }

  async request<T>(method: string, path: string, body?: unknown, opts: CoreRequestOptions = {}): Promise<T> {
    const signal = opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(this.timeoutMs)]) : AbortSignal.timeout(this.timeoutMs);
    const { res, url } = await this.send(method, path, body, opts, 'application/json', signal);
    const text = await res.text();
    let parsed: unknown;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (!res.ok) throw this.failure(method, url, res, text);
    if (text && parsed === undefined) throw new CoreApiError(`${method} ${url.pathname}: the core answered ${res.status} with a body that is not JSON`, res.status, undefined, method, url.pathname);
    return parsed as T;
  }
}

function isStatus(v: unknown): v is CoreStatus {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'Status' && typeof (v as { code?: unknown }).code === 'number';
}
