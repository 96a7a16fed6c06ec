import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher, Pool } from 'undici';

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
  /** The Unix socket an origin's backend serves on (a process backend on this machine): its pool connects there. */
  socketOf: (origin: string) => string | undefined = () => undefined;

  constructor(private readonly opts: UpstreamPoolOptions) {}

  /** Streams `r` to the backend at `origin` and its answer to the client; resolves when the answer ended. */
  forward(origin: URL, r: UpstreamRequest): Promise<void> {
    const pool = this.pools.get(origin.origin);
    if (!pool) return this.createPool(origin).then(() => this.forward(origin, r));
    return new Promise<void>((resolve, reject) => new Exchange(pool, r, this.opts, resolve, reject).send());
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
      const socketPath = this.socketOf(origin.origin);
      pool = new Pool(origin.origin, {
        connections: this.opts.maxConnections,
        connect: { timeout: this.opts.connectTimeoutMs, ...(socketPath ? { socketPath } : {}) },
        headersTimeout: this.opts.responseTimeoutMs,
        bodyTimeout: 0,
      });
      this.pools.set(origin.origin, pool);
    }
    return pool;
  }
}

/**
 * One request to a backend and its answer streamed to the client, as undici's dispatch handler:
 * no body stream, abort signal or promise of undici's own per request, and the backend's head, a
 * small body and its end leave for the client in one write.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private controller?: Dispatcher.DispatchController;
  private started = false;
  private retried = false;
  private clientGone = false;
  private settled = false;

  constructor(
    private readonly pool: Pool, private readonly r: UpstreamRequest, private readonly opts: UpstreamPoolOptions,
    private readonly resolve: () => void, private readonly reject: (e: Error) => void,
  ) {
    r.res.once('close', this.onClientClose);
    // Closed already (the client went, or its access was revoked, while the request was prepared).
    if (r.res.destroyed) this.clientGone = true;
  }

  send(): void {
    this.controller = undefined;
    try {
      this.pool.dispatch({
        method: this.r.method as Dispatcher.HttpMethod, path: this.r.path, headers: this.r.headers as Record<string, string | string[]>, body: this.r.body,
        headersTimeout: this.opts.responseTimeoutMs, bodyTimeout: 0,
      }, this);
    } catch (e) {
      this.onResponseError(undefined, e as Error);
    }
  }

  private readonly onClientClose = (): void => {
    if (this.r.res.writableFinished) return;
    this.clientGone = true;
    this.controller?.abort(new ClientClosed());
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(new ClientClosed());
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.started = true;
    const res = this.r.res;
    if (res.destroyed) {
      controller.abort(new ClientClosed());
      return;
    }
    try {
      res.writeHead(statusCode, this.r.responseHeaders(headers));
    } catch (e) {
      // A head Node refuses to send (a bad header value): the answer is cut, as a broken backend's.
      controller.abort(e as Error);
      return;
    }
    // Node sends the head with the first chunk; a chunked answer's end is one more write, so the
    // head, a small body and its end are held to leave in one. (A tick costs more than it saves
    // when the length is known.)
    if (headers['content-length'] === undefined) {
      res.cork();
      process.nextTick(uncork, res);
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const res = this.r.res;
    if (res.destroyed) {
      controller.abort(new ClientClosed());
      return;
    }
    if (!res.write(chunk)) {
      controller.pause();
      res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.r.res.end();
    this.settle();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, e: Error): void {
    const r = this.r;
    if (e instanceof ClientClosed || this.clientGone || (r.res.destroyed && !this.started)) return this.settle(new ClientClosed());
    if (this.started) return this.settle(new ResponseAborted(e.message));
    const code = (e as { code?: string }).code;
    // A keep-alive connection the backend had just closed: safe to send again when there is no body.
    if (!this.retried && !r.body && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET')) {
      this.retried = true;
      this.send();
      return;
    }
    if (code === 'UND_ERR_CONNECT_TIMEOUT') return this.settle(new UpstreamTimeout('connect', this.opts.connectTimeoutMs));
    if (code === 'UND_ERR_HEADERS_TIMEOUT') return this.settle(new UpstreamTimeout('response', this.opts.responseTimeoutMs));
    // The client's unsent body is drained so that the failure can still be answered.
    if (r.body && !r.body.readableEnded) r.body.resume();
    this.settle(e);
  }

  private settle(e?: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.r.res.off('close', this.onClientClose);
    if (e) this.reject(e);
    else this.resolve();
  }
}

function uncork(res: ServerResponse): void {
  res.uncork();
}
