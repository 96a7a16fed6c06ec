// A small client of a cluster's API server: a kubeconfig's credentials (via
// @kubernetes/client-node, which knows every way a kubeconfig says them, and the in-cluster
// service account), requests through an undici pool, watch streams line by line.
import { KubeConfig } from '@kubernetes/client-node';
import { Agent, request, type Dispatcher } from 'undici';
import { StoreError, type KubeObject } from '../resource-store.js';

export interface KubeClientOptions {
  /** A kubeconfig file; without it, in-cluster (the pod's service account) or the default (~/.kube/config). */
  kubeconfig?: string;
  /** A kubeconfig's text (tests). */
  kubeconfigText?: string;
}

interface Status {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
  details?: unknown;
}

/** A response that is not 2xx, as the store's typed errors. */
export function kubeError(status: number, body: Status | undefined, what: string): StoreError {
  const message = body?.message ?? `${what}: HTTP ${status}`;
  if (status === 404) return new StoreError('NotFound', message);
  if (status === 409) return new StoreError(body?.reason === 'AlreadyExists' ? 'AlreadyExists' : 'Conflict', message);
  if (status === 410) return new StoreError('Expired', message);
  if (status === 400 || status === 422) return new StoreError('Invalid', message);
  // The cluster's own admission (a namespace being terminated), passed on with its message.
  if (status === 403) return new StoreError('Forbidden', message);
  return new StoreError('Unavailable', message);
}

export class KubeClient {
  readonly server: string;
  private readonly dispatcher: Agent;
  private readonly headers: Record<string, string>;

  private constructor(server: string, dispatcher: Agent, headers: Record<string, string>) {
    this.server = server.replace(/\/$/, '');
    this.dispatcher = dispatcher;
    this.headers = headers;
  }

  static async connect(opts: KubeClientOptions = {}): Promise<KubeClient> {
    const kc = new KubeConfig();
    if (opts.kubeconfigText) kc.loadFromString(opts.kubeconfigText);
    else if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else kc.loadFromDefault();
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig names no current cluster');
    const https: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; headers?: Record<string, string>; rejectUnauthorized?: boolean } = {};
    await kc.applyToHTTPSOptions(https as never);
    const dispatcher = new Agent({
      connect: { ca: https.ca, cert: https.cert, key: https.key, rejectUnauthorized: https.rejectUnauthorized ?? !cluster.skipTLSVerify },
      connections: 64,
      keepAliveTimeout: 30_000,
    });
    return new KubeClient(cluster.server, dispatcher, { ...(https.headers ?? {}) });
  }

  /** One request; JSON in and out. Undefined for a 404 when `missingOk`. */
  async call<T = KubeObject>(method: Dispatcher.HttpMethod, path: string, body?: unknown, opts: { missingOk?: boolean; contentType?: string } = {}): Promise<T | undefined> {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(`${this.server}${path}`, {
        method,
        dispatcher: this.dispatcher,
        headers: { ...this.headers, accept: 'application/json', ...(body !== undefined ? { 'content-type': opts.contentType ?? 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new StoreError('Unavailable', `the cluster's API server at ${this.server} is unreachable: ${(e as Error).message}`);
    }
    const text = await res.body.text();
    const parsed = text ? (JSON.parse(text) as T & Status) : undefined;
    if (res.statusCode >= 200 && res.statusCode < 300) return parsed;
    if (res.statusCode === 404 && opts.missingOk) return undefined;
    throw kubeError(res.statusCode, parsed, `${method} ${path}`);
  }

  /**
   * Opens a watch stream; each event line goes to `onLine`. Resolves when the stream ends
   * (the server's timeout or `signal`), rejects with a StoreError when it cannot open.
   */
  async stream(path: string, signal: AbortSignal, onLine: (event: { type: string; object: KubeObject & Status }) => void): Promise<void> {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(`${this.server}${path}`, { method: 'GET', dispatcher: this.dispatcher, headers: { ...this.headers, accept: 'application/json' }, signal });
    } catch (e) {
      if (signal.aborted) return;
      throw new StoreError('Unavailable', `the cluster's API server at ${this.server} is unreachable: ${(e as Error).message}`);
    }
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      throw kubeError(res.statusCode, text ? (JSON.parse(text) as Status) : undefined, `watch ${path}`);
    }
    let buffered = '';
    try {
      for await (const chunk of res.body) {
        buffered += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line) onLine(JSON.parse(line) as { type: string; object: KubeObject & Status });
        }
      }
    } catch (e) {
      if (!signal.aborted) throw new StoreError('Unavailable', `a watch on ${path} broke: ${(e as Error).message}`);
    }
  }

  /**
   * Passes a request through as it came (the cluster's own API behind the core): the caller
   * has authorized it; the cluster sees the core's identity, or whom the Impersonate-* headers
   * name. The response streams (watches).
   */
  async forward(method: string, pathAndQuery: string, headers: Record<string, string | string[]>, body?: NodeJS.ReadableStream): Promise<Dispatcher.ResponseData> {
    // The path goes on byte for byte: not through a URL parser, which would resolve %2e%2e
    // segments, read "\" as "/" and re-encode, so the cluster would serve another path than
    // the one authorized.
    const server = new URL(this.server);
    return this.dispatcher.request({
      origin: server.origin,
      path: `${server.pathname.replace(/\/$/, '')}${pathAndQuery}`,
      method: method as Dispatcher.HttpMethod,
      headers: { ...headers, ...this.headers },
      body: body as never,
    });
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
