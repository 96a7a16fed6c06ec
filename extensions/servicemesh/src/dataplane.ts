import { createServer, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import { Deadlines, type Expiring } from './deadlines.js';
import { clusterOf, Endpoints, POOL_CONNECTIONS } from './endpoints.js';
import type { MeshState } from './mesh-state.js';
import { chooseVersion, selectRoute, type CompiledRoute, type RequestView, type ServiceRouting } from './routing.js';
import type { Telemetry } from './telemetry.js';
import { formatTraceparent, newSpanId, parseTraceparent, tagOf, type SpanStore, type TraceContext } from './tracing.js';

// The L7 data plane: an HTTP proxy that applications call with `Host: <service>.<namespace>`.
// Per request: the service's routing in force (a snapshot: a rule change mid-request does not
// touch it), its GrayRelease or the first matching route, fault injection, the version by weight,
// an endpoint not ejected, the call with per-try timeouts and retries, a mirror copy, the caller's
// traceparent carried on with this hop's span, and the edge's telemetry.
// The per-request path is kept lean (it is most of a proxied request's CPU beyond Node's own HTTP):
// one object per request that is also the upstream call's handler (undici's dispatch: no body
// stream, no promise per try), timeouts swept by one interval instead of a timer per try, the
// Host parsed once per distinct value, no request view unless a rule looks at headers or cookies.

/** Names the caller when no traced parent does (an application outside traces sets it). */
export const SOURCE_HEADER = 'x-mesh-source';
/** The version that answered, on every proxied response. */
export const VERSION_HEADER = 'x-mesh-version';
const MAX_BODY = 16 * 1024 * 1024;
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-authenticate', 'host', SOURCE_HEADER, 'traceparent']);

export interface DataPlaneDeps {
  state: MeshState;
  telemetry: Telemetry;
  spans: SpanStore;
  log: (msg: string) => void;
  /** How many data-plane processes share the CircuitBreaker's limits (each enforces its share). */
  workers?: number;
}

function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), decodeURIComponent(part.slice(i + 1).trim()));
  }
  return out;
}

/** What the routes may look at, made only for services whose rules look. */
class RequestHeaders implements RequestView {
  private cookies?: Map<string, string>;
  constructor(readonly path: string, private readonly headers: IncomingHttpHeaders) {}
  header(name: string): string | undefined {
    const v = this.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  }
  cookie(name: string): string | undefined {
    return (this.cookies ??= parseCookies(this.headers.cookie)).get(name);
  }
}
const NOTHING_TO_SEE: RequestView = { path: '/', header: () => undefined, cookie: () => undefined };

type Host = { service: string; namespace: string; hostname: string; key: string } | 'self' | 'invalid';
function parseHost(value: string): Host {
  const hostname = value.replace(/:\d+$/, '').toLowerCase();
  // Addressed as itself, not as a service.
  if (/^(\d+\.){3}\d+$|^localhost$|^\[/.test(hostname)) return 'self';
  const [service, namespace] = hostname.split('.');
  if (!service || !namespace) return 'invalid';
  return { service, namespace, hostname, key: `${service}.${namespace}` };
}
const HOST_CACHE = 10_000;

function retriable(status: number | undefined, err: string | undefined, on: string[]): boolean {
  if (err) return on.includes('connect-failure') || on.includes('reset') || on.includes('5xx') || on.includes('gateway-error');
  if (status === undefined) return false;
  if (status >= 500 && on.includes('5xx')) return true;
  if ((status === 502 || status === 503 || status === 504) && on.includes('gateway-error')) return true;
  return status === 409 && on.includes('retriable-4xx');
}
const DEFAULT_RETRY_ON = ['5xx', 'connect-failure', 'reset'];
const uncork = (res: ServerResponse) => res.uncork();

function reply(res: ServerResponse, status: number, message: string, headers: OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(`${message}\n`);
}

export class DataPlane {
  readonly endpoints = new Endpoints();
  readonly deadlines = new Deadlines();
  readonly workers: number;
  private server?: Server;
  private readonly inflight = new Map<string, number>();
  private readonly hosts = new Map<string, Host>();

  constructor(readonly d: DataPlaneDeps) {
    this.workers = Math.max(1, d.workers ?? 1);
  }

  private http(): Server {
    if (this.server) return this.server;
    this.server = createServer((req, res) => {
      try {
        this.handle(req, res);
      } catch (e) {
        this.failed(res, e);
      }
    });
    this.server.keepAliveTimeout = 65_000;
    return this.server;
  }

  async listen(port: number, host = '127.0.0.1'): Promise<string> {
    const server = this.http();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const a = server.address() as AddressInfo;
    return `http://${a.address}:${a.port}`;
  }

  /** Serves a connection accepted elsewhere (a data-plane worker is handed them by the backend). */
  serve(socket: Socket): void {
    this.http().emit('connection', socket);
    socket.resume();
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server?.listening ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections();
    await this.endpoints.close();
  }

  failed(res: ServerResponse, e: unknown): void {
    this.d.log(`proxy error: ${(e as Error).message}`);
    if (!res.headersSent) reply(res, 502, 'proxy error');
    else res.destroy();
  }

  /** This process's share of a CircuitBreaker limit (at least 1, but a limit of 0 stays 0). */
  share(limit: number | undefined): number | undefined {
    return limit === undefined ? undefined : Math.max(Math.min(1, limit), Math.ceil(limit / this.workers));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const value = req.headers.host ?? '';
    let host = this.hosts.get(value);
    if (host === undefined) {
      if (this.hosts.size >= HOST_CACHE) this.hosts.clear();
      this.hosts.set(value, (host = parseHost(value)));
    }
    if (host === 'self') return req.url === '/healthz' ? reply(res, 200, 'ok') : reply(res, 400, 'the mesh routes by Host: <service>.<namespace>');
    if (host === 'invalid') return reply(res, 400, 'the mesh routes by Host: <service>.<namespace>');
    const routing = this.d.state.lookup(host.service, host.namespace);
    if (!routing) return reply(res, 404, `no MeshService "${host.service}" in namespace "${host.namespace}"`);

    // Trace: carry the caller's trace on (or start one), with this hop as a new span. The caller's
    // service is named by the tag in its span's id (the parent-id it passed on).
    const trace = parseTraceparent(req.headers.traceparent as string | undefined);
    const parent = trace.parentId ? this.d.state.serviceOfTag(tagOf(trace.parentId)) : undefined;
    const source = parent && parent.namespace === host.namespace ? parent.service : parent ? `${parent.service}.${parent.namespace}` : ((req.headers[SOURCE_HEADER] as string | undefined) ?? 'ingress');
    const path = req.url ?? '/';
    let view = NOTHING_TO_SEE;
    if (routing.inspectsRequest) {
      const q = path.indexOf('?');
      view = new RequestHeaders(q < 0 ? path : path.slice(0, q), req.headers);
    }
    const route = selectRoute(routing, view);
    const { version, mirror } = chooseVersion(routing, route, view, Math.random() * 100);
    const ex = new Exchange(this, req, res, routing, route, version, trace, source, path, host.hostname);

    const limit = this.share(routing.breaker?.connectionPool?.maxRequests);
    if (limit !== undefined) {
      const inflight = this.inflight.get(host.key) ?? 0;
      if (inflight >= limit) {
        ex.event('overflow');
        ex.finish(503);
        return reply(res, 503, `${host.key}: more than ${routing.breaker!.connectionPool!.maxRequests} requests in flight (CircuitBreaker)`, { 'x-mesh-overflow': '1', [VERSION_HEADER]: version });
      }
      this.inflight.set(host.key, inflight + 1);
      ex.holds = host.key;
    }
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) return ex.begin(undefined, mirror);
    readBody(req).then((body) => {
      if (body !== 'too-large') return ex.begin(body, mirror);
      ex.finish(413);
      reply(res, 413, `the body is larger than ${MAX_BODY} bytes`);
    }).catch((e: unknown) => {
      ex.finish(0);
      this.failed(res, e);
    });
  }

  release(key: string): void {
    this.inflight.set(key, (this.inflight.get(key) ?? 1) - 1);
  }

  /**
   * A copy to the mirror version: its answer is dropped, its edge is counted. It goes through the
   * mirror version's pools, so its CircuitBreaker's maxConnections holds for copies too (Envoy's
   * shadow goes through the mirror cluster and its breakers), but a copy never waits for a place:
   * with none free at the version's endpoints it is dropped at once, a 503 of its edge, and its
   * primary is not touched (on the nginx plane a waiting copy would hold its primary's request open).
   */
  mirror(routing: ServiceRouting, version: string, method: string, path: string, headers: Record<string, string | string[]>, body: Buffer | undefined, source: string): void {
    const urls = routing.versions.get(version) ?? [];
    const cluster = clusterOf(routing.namespace, routing.service, version);
    const start = Date.now();
    const edge = { namespace: routing.namespace, source, service: routing.service, version };
    const limits = routing.breaker?.connectionPool;
    const maxConnections = this.share(limits?.maxConnections);
    const limited = maxConnections !== undefined || limits?.maxPendingRequests !== undefined;
    let pool: ReturnType<Endpoints['pool']> | undefined;
    // The endpoints in turn (ejected ones left out) until one has a free place. Without
    // maxConnections there is no limit to keep (as on the nginx plane): the copy takes its turn.
    for (let i = 0; i < urls.length && !pool; i++) {
      const p = this.endpoints.pool(this.endpoints.pick(cluster, urls)!, maxConnections, cluster, limited);
      if (maxConnections === undefined || p.stats.size < maxConnections) pool = p;
    }
    if (!pool) {
      if (urls.length > 0) this.d.telemetry.record(edge, 503, 0);
      return;
    }
    pool
      .request({ path, method: method as Dispatcher.HttpMethod, headers: { ...headers, host: `${headers.host}-shadow` }, body, signal: AbortSignal.timeout(30_000) })
      .then(async (r) => {
        await r.body.dump();
        this.d.telemetry.record(edge, r.statusCode, Date.now() - start);
      }, () => this.d.telemetry.record(edge, 0, Date.now() - start));
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) return 'too-large';
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

interface Held { status: number; headers: OutgoingHttpHeaders; chunks: Buffer[]; ended: boolean; broken: boolean }

/**
 * One proxied request: its fault injection, tries and retries within the route's budget and
 * timeouts, the answer streamed back, and its span and telemetry. It is also the handler of
 * its upstream calls (undici's dispatch) and the item the deadline sweeper expires.
 */
class Exchange implements Dispatcher.DispatchHandler, Expiring {
  /** Of the try in flight (ms since the epoch). */
  deadline = 0;
  /** The in-flight count (CircuitBreaker) this request holds. */
  holds?: string;
  private readonly start = Date.now();
  private readonly spanId: string;
  private events?: string[];
  private body?: Buffer;
  private headers?: Record<string, string | string[]>;
  private readonly urls: string[];
  /** namespace/service/version: the pools (and their limits) this request's tries go through. */
  private readonly cluster: string;
  private tries = 1;
  private attempts = 0;
  private url = '';
  private lastError = 'no endpoints';
  private tryTimeoutMs = 0;
  private routeDeadline?: number;
  private controller?: Dispatcher.DispatchController;
  private timedOut = false;
  /** The try's answer is being dropped: a retry follows. */
  private dropping = false;
  private delayed = false;
  private done = false;
  /** Failures being told to the other workers (see Endpoints.report). */
  private sync?: Promise<void>;
  /** The answer, while `sync` is pending. */
  private held?: Held;

  constructor(
    private readonly plane: DataPlane, private readonly req: IncomingMessage, private readonly res: ServerResponse,
    private readonly routing: ServiceRouting, private readonly route: CompiledRoute | undefined, private readonly version: string,
    private readonly trace: TraceContext, private readonly source: string, private readonly path: string, private readonly hostname: string,
  ) {
    this.spanId = newSpanId(routing.tag);
    this.urls = routing.versions.get(version) ?? [];
    this.cluster = clusterOf(routing.namespace, routing.service, version);
  }

  event(e: string): void {
    (this.events ??= []).push(e);
  }

  begin(body: Buffer | undefined, mirror: string | undefined): void {
    this.body = body;
    const delay = this.route?.fault?.delay;
    if (delay && Math.random() * 100 < delay.percent) {
      this.event('fault-delay');
      this.delayed = true;
      setTimeout(() => this.call(mirror), delay.fixedDelayMs);
      return;
    }
    this.call(mirror);
  }

  private call(mirror: string | undefined): void {
    const abort = this.route?.fault?.abort;
    if (abort && Math.random() * 100 < abort.percent) {
      this.event('fault-abort');
      this.finish(abort.httpStatus);
      return reply(this.res, abort.httpStatus, 'fault injected', { [VERSION_HEADER]: this.version, 'x-mesh-fault': 'abort' });
    }
    const incoming = this.req.headers;
    const headers: Record<string, string | string[]> = {};
    for (const k in incoming) {
      const v = incoming[k];
      if (v !== undefined && !HOP.has(k)) headers[k] = v;
    }
    headers.traceparent = formatTraceparent(this.trace.traceId, this.spanId, this.trace.flags);
    // The Host as it came (lower-cased, without a port, as nginx's $host): Envoy keeps the authority.
    headers.host = this.hostname;
    this.headers = headers;
    if (mirror) this.plane.mirror(this.routing, mirror, this.req.method ?? 'GET', this.path, headers, this.body, this.source);
    this.tries = 1 + (this.route?.retries?.attempts ?? 0);
    if (this.route?.timeoutMs) this.routeDeadline = this.start + this.route.timeoutMs;
    this.next();
  }

  /** The next try, to an endpoint not ejected. */
  private next(): void {
    const now = Date.now();
    if (this.routeDeadline !== undefined && this.routeDeadline <= now) return this.fail(`no answer within the route's timeout (${this.route!.timeoutMs} ms)`, true);
    const r = this.routing;
    const url = this.plane.endpoints.pick(this.cluster, this.urls);
    if (!url) return this.fail(this.lastError, this.timedOut);
    const limits = r.breaker?.connectionPool;
    const maxConnections = this.plane.share(limits?.maxConnections);
    const maxPending = this.plane.share(limits?.maxPendingRequests);
    const pool = this.plane.endpoints.pool(url, maxConnections, this.cluster, maxConnections !== undefined || maxPending !== undefined);
    // CircuitBreaker maxPendingRequests (Envoy's http1MaxPendingRequests): a request that would
    // wait for a place (every connection of its pool taken) while that many of this version
    // already wait is refused at once.
    if (maxPending !== undefined && pool.stats.size >= (maxConnections ?? POOL_CONNECTIONS)
      && this.plane.endpoints.queued(this.cluster, this.urls, maxConnections) >= maxPending) {
      return this.overflow(`${r.service}.${r.namespace}: more than ${limits!.maxPendingRequests} requests waiting for a connection to version ${this.version} (CircuitBreaker)`);
    }
    this.url = url;
    this.attempts++;
    this.controller = undefined;
    this.timedOut = false;
    this.dropping = false;
    const perTry = this.route?.retries?.perTryTimeoutMs;
    const deadline = Math.min(perTry !== undefined ? now + perTry : Infinity, this.routeDeadline ?? Infinity);
    if (Number.isFinite(deadline)) {
      this.tryTimeoutMs = deadline - now;
      this.deadline = deadline;
      this.plane.deadlines.add(this);
    }
    try {
      pool.dispatch({ path: this.path, method: (this.req.method ?? 'GET') as Dispatcher.HttpMethod, headers: this.headers, body: this.body ?? null }, this);
    } catch (e) {
      this.onResponseError(undefined, e as Error);
    }
  }

  /** The deadline sweeper: this try took too long. */
  expire(): void {
    this.timedOut = true;
    this.controller?.abort(new Error('timed out'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Expired while queued for a connection.
    if (this.timedOut) controller.abort(new Error('timed out'));
  }

  /** An endpoint's outcome; in a worker, a failure is known to every worker before the caller hears of it. */
  private report(failed: boolean): void {
    const wait = this.plane.endpoints.report(this.cluster, this.url, failed, this.urls, this.routing.breaker);
    if (wait) this.sync = this.sync ? Promise.all([this.sync, wait]).then(() => undefined) : wait;
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.plane.deadlines.delete(this);
    this.report(statusCode >= 500);
    if (this.attempts < this.tries && retriable(statusCode, undefined, this.route?.retries?.retryOn ?? DEFAULT_RETRY_ON)) {
      this.dropping = true;
      this.event(`retry after ${statusCode}`);
      return;
    }
    const out: OutgoingHttpHeaders = {};
    for (const k in headers) if (!HOP.has(k)) out[k] = headers[k];
    out[VERSION_HEADER] = this.version;
    if (this.delayed) out['x-mesh-fault'] = 'delay';
    if (this.sync) {
      // Held until every worker knows of the failures this answer came after.
      const held: Held = { status: statusCode, headers: out, chunks: [], ended: false, broken: false };
      this.held = held;
      void this.sync.then(() => this.release(held));
      return;
    }
    this.res.writeHead(statusCode, out);
    // The head, a small body and its end leave in one write.
    this.res.cork();
    process.nextTick(uncork, this.res);
  }

  private release(held: Held): void {
    this.held = undefined;
    this.res.writeHead(held.status, held.headers);
    for (const c of held.chunks) this.res.write(c);
    if (held.broken) {
      this.res.destroy();
      this.finish(0);
    } else if (held.ended) {
      this.res.end();
      this.finish(held.status);
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.dropping) return;
    if (this.held) {
      this.held.chunks.push(chunk);
      return;
    }
    if (this.res.destroyed) {
      // The caller went away: no reason to keep the upstream's answer coming.
      controller.abort(new Error('the caller went away'));
      return;
    }
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
      this.res.once('close', () => {
        if (!this.done) controller.abort(new Error('the caller went away'));
      });
    }
  }

  onResponseEnd(): void {
    if (this.dropping) return this.next();
    if (this.held) {
      this.held.ended = true;
      return;
    }
    this.res.end();
    this.finish(this.res.statusCode);
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    this.plane.deadlines.delete(this);
    if (this.done) return;
    if (this.dropping) return this.next();
    if (this.held) {
      this.held.broken = true;
      return;
    }
    if (this.res.headersSent) {
      // The answer broke off midway.
      this.res.destroy();
      return this.finish(0);
    }
    const timedOut = this.timedOut;
    this.report(true);
    this.lastError = !timedOut ? err.message
      : this.deadline === this.routeDeadline ? `no answer within the route's timeout (${this.route!.timeoutMs} ms)` : `no answer within ${this.tryTimeoutMs} ms`;
    if (this.attempts < this.tries && (timedOut || retriable(undefined, 'error', this.route?.retries?.retryOn ?? DEFAULT_RETRY_ON))) {
      this.event(timedOut ? 'retry after per-try timeout' : 'retry after connection failure');
      return this.next();
    }
    this.fail(this.lastError, timedOut);
  }

  /** Refused by a CircuitBreaker limit: 503 with x-mesh-overflow, as a maxRequests overflow. */
  private overflow(message: string): void {
    this.event('overflow');
    const answer = () => {
      this.finish(503);
      reply(this.res, 503, message, { 'x-mesh-overflow': '1', [VERSION_HEADER]: this.version });
    };
    if (this.sync) void this.sync.then(answer);
    else answer();
  }

  private fail(message: string, timedOut: boolean): void {
    const status = timedOut ? 504 : 503;
    const answer = () => {
      this.finish(status);
      reply(this.res, status, `${this.routing.service}.${this.routing.namespace} ${this.version}: ${message}`, { [VERSION_HEADER]: this.version });
    };
    if (this.sync) void this.sync.then(answer);
    else answer();
  }

  /** The span and the edge's telemetry; the CircuitBreaker's in-flight count given back. */
  finish(status: number): void {
    if (this.done) return;
    this.done = true;
    if (this.holds) this.plane.release(this.holds);
    const ms = Date.now() - this.start;
    const r = this.routing;
    this.plane.d.telemetry.record({ namespace: r.namespace, source: this.source, service: r.service, version: this.version }, status, ms);
    // The caller's sampled flag (W3C trace-flags, bit 0) is respected: an unsampled trace records no span.
    if ((parseInt(this.trace.flags, 16) & 1) === 0) return;
    this.plane.d.spans.record({
      traceId: this.trace.traceId, spanId: this.spanId, ...(this.trace.parentId ? { parentSpanId: this.trace.parentId } : {}),
      namespace: r.namespace, source: this.source, service: r.service, version: this.version, endpoint: this.url,
      method: this.req.method ?? 'GET', path: this.path, status, startTime: this.start, durationMs: ms, error: status === 0 || status >= 500,
      attempts: this.attempts, ...(this.events ? { events: this.events } : {}),
    });
  }
}
