import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Dispatcher } from 'undici';
import { Endpoints } from './endpoints.js';
import type { MeshState } from './mesh-state.js';
import { chooseVersion, selectRoute, type CompiledRoute, type RequestView, type ServiceRouting } from './routing.js';
import type { Telemetry } from './telemetry.js';
import { formatTraceparent, newSpanId, parseTraceparent, type SpanStore } from './tracing.js';

// The L7 data plane: an HTTP proxy that applications call with `Host: <service>.<namespace>`.
// Per request: the service's routing in force (a snapshot: a rule change mid-request does not
// touch it), its GrayRelease or the first matching route, fault injection, the version by weight,
// an endpoint not ejected, the call with per-try timeouts and retries, a mirror copy, the caller's
// traceparent carried on with this hop's span, and the edge's telemetry.

/** Names the caller when no traced parent does (an application outside traces sets it). */
export const SOURCE_HEADER = 'x-mesh-source';
/** The version that answered, on every proxied response. */
export const VERSION_HEADER = 'x-mesh-version';
const MAX_BODY = 16 * 1024 * 1024;
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-authenticate', 'host', SOURCE_HEADER, 'traceparent']);

export interface DataPlaneDeps { state: MeshState; telemetry: Telemetry; spans: SpanStore; log: (msg: string) => void }

function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), decodeURIComponent(part.slice(i + 1).trim()));
  }
  return out;
}

function view(req: IncomingMessage, path: string): RequestView {
  let cookies: Map<string, string> | undefined;
  return {
    path,
    header: (name) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(',') : v;
    },
    cookie: (name) => (cookies ??= parseCookies(req.headers.cookie)).get(name),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function retriable(status: number | undefined, err: string | undefined, on: string[]): boolean {
  if (err) return on.includes('connect-failure') || on.includes('reset') || on.includes('5xx') || on.includes('gateway-error');
  if (status === undefined) return false;
  if (status >= 500 && on.includes('5xx')) return true;
  if ((status === 502 || status === 503 || status === 504) && on.includes('gateway-error')) return true;
  return status === 409 && on.includes('retriable-4xx');
}

export class DataPlane {
  readonly endpoints = new Endpoints();
  private server?: Server;
  private readonly inflight = new Map<string, number>();

  constructor(private readonly d: DataPlaneDeps) {}

  async listen(port: number, host = '127.0.0.1'): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        this.d.log(`proxy error: ${(e as Error).message}`);
        if (!res.headersSent) this.reply(res, 502, 'proxy error');
        else res.destroy();
      });
    });
    this.server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    const a = this.server.address() as AddressInfo;
    return `http://${a.address}:${a.port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await this.endpoints.close();
  }

  private reply(res: ServerResponse, status: number, message: string, headers: OutgoingHttpHeaders = {}): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
    res.end(`${message}\n`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const start = Date.now();
    const hostname = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    if (/^(\d+\.){3}\d+$|^localhost$|^\[/.test(hostname)) {
      // Addressed as itself, not as a service: its own health, or how to use it.
      return req.url === '/healthz' ? this.reply(res, 200, 'ok') : this.reply(res, 400, 'the mesh routes by Host: <service>.<namespace>');
    }
    const [service, namespace] = hostname.split('.');
    if (!service || !namespace) return this.reply(res, 400, 'the mesh routes by Host: <service>.<namespace>');
    const routing = this.d.state.lookup(service, namespace);
    if (!routing) return this.reply(res, 404, `no MeshService "${service}" in namespace "${namespace}"`);

    // Trace: carry the caller's trace on (or start one), with this hop as a new span.
    const trace = parseTraceparent(req.headers.traceparent as string | undefined);
    const spanId = newSpanId();
    const parent = this.d.spans.serviceOf(trace.parentId);
    const source = parent && parent.namespace === namespace ? parent.service : parent ? `${parent.service}.${parent.namespace}` : ((req.headers[SOURCE_HEADER] as string | undefined) ?? 'ingress');
    this.d.spans.opened(spanId, service, namespace);
    const path = req.url ?? '/';
    const events: string[] = [];
    const rv = view(req, path.split('?')[0]!);
    const route = selectRoute(routing, rv);
    const { version, mirror } = chooseVersion(routing, route, rv, Math.random() * 100);
    let status = 0;
    let endpoint = '';
    let attempts = 0;
    const finish = () => {
      const ms = Date.now() - start;
      this.d.telemetry.record({ namespace, source, service, version }, status, ms);
      this.d.spans.record({
        traceId: trace.traceId, spanId, ...(trace.parentId ? { parentSpanId: trace.parentId } : {}), namespace, source, service, version, endpoint,
        method: req.method ?? 'GET', path, status, startTime: start, durationMs: ms, error: status === 0 || status >= 500, attempts, ...(events.length ? { events } : {}),
      });
    };

    const key = `${service}.${namespace}`;
    const limit = routing.breaker?.connectionPool?.maxRequests;
    const inflight = this.inflight.get(key) ?? 0;
    if (limit !== undefined && inflight >= limit) {
      status = 503;
      events.push('overflow');
      finish();
      return this.reply(res, 503, `${key}: more than ${limit} requests in flight (CircuitBreaker)`, { 'x-mesh-overflow': '1', [VERSION_HEADER]: version });
    }
    this.inflight.set(key, inflight + 1);
    try {
      const body = await this.readBody(req);
      if (body === 'too-large') {
        status = 413;
        finish();
        return this.reply(res, 413, `the body is larger than ${MAX_BODY} bytes`);
      }
      const fault = route?.fault;
      if (fault?.delay && Math.random() * 100 < fault.delay.percent) {
        events.push('fault-delay');
        await sleep(fault.delay.fixedDelayMs);
      }
      if (fault?.abort && Math.random() * 100 < fault.abort.percent) {
        events.push('fault-abort');
        status = fault.abort.httpStatus;
        finish();
        return this.reply(res, status, 'fault injected', { [VERSION_HEADER]: version, 'x-mesh-fault': 'abort' });
      }
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v;
      headers.traceparent = formatTraceparent(trace.traceId, spanId, trace.flags);
      headers['x-forwarded-host'] = hostname;
      if (mirror) this.mirror(routing, mirror, req.method ?? 'GET', path, headers, body, source);

      const result = await this.forward(routing, route, version, req.method ?? 'GET', path, headers, body, events);
      attempts = result.attempts;
      endpoint = result.endpoint;
      if (!result.response) {
        status = result.timedOut ? 504 : 503;
        finish();
        return this.reply(res, status, `${key} ${version}: ${result.error ?? 'no answer'}`, { [VERSION_HEADER]: version });
      }
      const up = result.response;
      status = up.statusCode;
      const out: OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
      out[VERSION_HEADER] = version;
      if (events.includes('fault-delay')) out['x-mesh-fault'] = 'delay';
      res.writeHead(status, out);
      try {
        for await (const chunk of up.body) res.write(chunk);
        res.end();
      } catch {
        status = 0;
        res.destroy();
      }
      finish();
    } finally {
      this.inflight.set(key, (this.inflight.get(key) ?? 1) - 1);
    }
  }

  private async readBody(req: IncomingMessage): Promise<Buffer | undefined | 'too-large'> {
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) return undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_BODY) return 'too-large';
      chunks.push(c);
    }
    return Buffer.concat(chunks);
  }

  /** Tries and retries until an answer worth giving (the route's budget), within the route's timeout. */
  private async forward(routing: ServiceRouting, route: CompiledRoute | undefined, version: string, method: string, path: string, headers: Record<string, string | string[]>, body: Buffer | undefined, events: string[]): Promise<{ response?: Dispatcher.ResponseData; attempts: number; endpoint: string; error?: string; timedOut?: boolean }> {
    const urls = routing.versions.get(version) ?? [];
    const retries = route?.retries;
    const tries = 1 + (retries?.attempts ?? 0);
    const on = retries?.retryOn ?? ['5xx', 'connect-failure', 'reset'];
    const deadline = route?.timeoutMs ? Date.now() + route.timeoutMs : undefined;
    let last: { response?: Dispatcher.ResponseData; error?: string; timedOut?: boolean } = { error: 'no endpoints' };
    let endpoint = '';
    let attempt = 0;
    const key = `${routing.namespace}/${routing.service}/${version}`;
    for (attempt = 1; attempt <= tries; attempt++) {
      const left = deadline ? deadline - Date.now() : undefined;
      if (left !== undefined && left <= 0) {
        last = { error: `no answer within the route's timeout (${route!.timeoutMs} ms)`, timedOut: true };
        break;
      }
      const url = this.endpoints.pick(key, urls);
      if (!url) break;
      endpoint = url;
      const perTry = Math.min(retries?.perTryTimeoutMs ?? Infinity, left ?? Infinity);
      const ac = new AbortController();
      const timer = Number.isFinite(perTry) ? setTimeout(() => ac.abort(), perTry) : undefined;
      try {
        const response = await this.endpoints.pool(url, routing.breaker?.connectionPool?.maxConnections).request({ path, method: method as Dispatcher.HttpMethod, headers, body, signal: ac.signal });
        clearTimeout(timer);
        const failed = response.statusCode >= 500;
        this.endpoints.report(url, failed, urls, routing.breaker);
        last = { response };
        if (attempt < tries && retriable(response.statusCode, undefined, on)) {
          await response.body.dump().catch(() => undefined);
          events.push(`retry after ${response.statusCode}`);
          continue;
        }
        return { response, attempts: attempt, endpoint };
      } catch (e) {
        clearTimeout(timer);
        const timedOut = ac.signal.aborted;
        this.endpoints.report(url, true, urls, routing.breaker);
        last = { error: timedOut ? `no answer within ${perTry} ms` : (e as Error).message, timedOut };
        if (attempt < tries && (timedOut || retriable(undefined, 'error', on))) {
          events.push(timedOut ? 'retry after per-try timeout' : 'retry after connection failure');
          continue;
        }
        break;
      }
    }
    return { ...last, attempts: Math.min(attempt, tries), endpoint };
  }

  /** A copy to the mirror version: its answer is dropped, its edge is counted. */
  private mirror(routing: ServiceRouting, version: string, method: string, path: string, headers: Record<string, string | string[]>, body: Buffer | undefined, source: string): void {
    const urls = routing.versions.get(version) ?? [];
    const url = this.endpoints.pick(`${routing.namespace}/${routing.service}/${version}`, urls);
    if (!url) return;
    const start = Date.now();
    const edge = { namespace: routing.namespace, source, service: routing.service, version };
    this.endpoints.pool(url, routing.breaker?.connectionPool?.maxConnections)
      .request({ path, method: method as Dispatcher.HttpMethod, headers: { ...headers, 'x-forwarded-host': `${routing.service}-shadow.${routing.namespace}` }, body, signal: AbortSignal.timeout(30_000) })
      .then(async (r) => {
        await r.body.dump();
        this.d.telemetry.record(edge, r.statusCode, Date.now() - start);
      }, () => this.d.telemetry.record(edge, 0, Date.now() - start));
  }
}
