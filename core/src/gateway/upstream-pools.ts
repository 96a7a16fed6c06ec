import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Pool } from 'undici';

// Loaded with the first proxied request: a core that proxies nothing does not pay for it at start.
// Through `default` (undici's module.exports): the core's bundle, like esbuild's output for any
// CommonJS module imported dynamically, has no named exports, only the default.
let undiciPool: Promise<typeof Pool> | undefined;

export interface UpstreamPoolOptions {
  /** Time to open a connection to a backend. */
  connectTimeoutMs: number;
  /** Time from the request being sent to the response headers. */
  responseTimeoutMs: number;
  /** Bound on concurrent connections to one backend (more requests queue). */
  maxConnections: number;
}

/** Raised when a backend is too slow to connect or to answer. */
export class UpstreamTimeout extends Error {
  constructor(readonly phase: 'connect' | 'response', readonly ms: number) {
    super(`${phase} timeout after ${ms} ms`);
  }
}

/** The client went away before the backend answered: nobody to answer. */
export class ClientClosed extends Error {}

/** The backend failed after its answer had started: the client's response was cut. */
export class ResponseAborted extends Error {}

export interface UpstreamRequest {
  method: string;
  /** Path and query on the backend. */
  path: string;
  headers: OutgoingHttpHeaders;
  /** The client's request when it has a body to stream, else null. */
  body: IncomingMessage | null;
  /** The client's response: the backend's answer is streamed into it. */
  res: ServerResponse;
  /** The headers the client gets, from the backend's. */
  responseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]>;
}

/**
 * Keep-alive connection pools to extension backends, one per origin (undici: about twice the
 * requests per second of node:http's Agent for the same CPU). Bodies stream both ways with
 * backpressure; a response may last as long as it likes (watches, SSE), only its headers are timed.
 */
export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly opts: UpstreamPoolOptions) {}

  /** Streams `r` to the backend at `origin` and its answer to the client; resolves when the answer ended. */
  async forward(origin: URL, r: UpstreamRequest, retry = true): Promise<void> {
    const pool = this.pools.get(origin.origin) ?? await this.createPool(origin);
    const abort = new AbortController();
    const onClientClose = () => {
      if (!r.res.writableFinished) abort.abort(new ClientClosed());
    };
    r.res.once('close', onClientClose);
    let started = false;
    try {
      await pool.stream({
        method: r.method, path: r.path, headers: r.headers as Record<string, string | string[]>, body: r.body,
        signal: abort.signal, headersTimeout: this.opts.responseTimeoutMs, bodyTimeout: 0,
      }, ({ statusCode, headers }) => {
        started = true;
        r.res.writeHead(statusCode, r.responseHeaders(headers));
        return r.res;
      });
    } catch (e) {
      if (abort.signal.aborted || r.res.destroyed && !started) throw new ClientClosed();
      if (started) throw new ResponseAborted((e as Error).message);
      const code = (e as { code?: string }).code;
      // A keep-alive connection the backend had just closed: safe to send again when there is no body.
      if (retry && !r.body && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET')) {
        r.res.off('close', onClientClose);
        return this.forward(origin, r, false);
      }
      if (code === 'UND_ERR_CONNECT_TIMEOUT') throw new UpstreamTimeout('connect', this.opts.connectTimeoutMs);
      if (code === 'UND_ERR_HEADERS_TIMEOUT') throw new UpstreamTimeout('response', this.opts.responseTimeoutMs);
      // The client's unsent body is drained so that the failure can still be answered.
      if (r.body && !r.body.readableEnded) r.body.resume();
      throw e;
    } finally {
      r.res.off('close', onClientClose);
    }
  }

  /** Closes the pools of origins no route uses any more; requests in flight on them finish first. */
  retain(origins: Set<string>): void {
    for (const [origin, pool] of this.pools) {
      if (origins.has(origin)) continue;
      this.pools.delete(origin);
      void pool.close().catch(() => undefined);
    }
  }

  destroy(): void {
    for (const pool of this.pools.values()) void pool.destroy().catch(() => undefined);
    this.pools.clear();
  }

  private async createPool(origin: URL): Promise<Pool> {
    const Pool = await (undiciPool ??= import('undici').then((m) => m.default.Pool));
    let pool = this.pools.get(origin.origin);
    if (!pool) {
      pool = new Pool(origin.origin, {
        connections: this.opts.maxConnections,
        connect: { timeout: this.opts.connectTimeoutMs },
        headersTimeout: this.opts.responseTimeoutMs,
        bodyTimeout: 0,
      });
      this.pools.set(origin.origin, pool);
    }
    return pool;
  }
}
