// The typed API client pages and extensions use. It runs in the browser with the console's
// session cookie (never a token): writes carry the CSRF token the core set in a readable
// cookie, and a 401 asks the core once to refresh the session before giving up.

export const csrfCookieName = 'mortise_csrf';
export const csrfHeaderName = 'X-CSRF-Token';

export interface KubeStatus {
  kind: 'Status';
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: Array<{ field?: string; message?: string; reason?: string }>; [k: string]: unknown };
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string>; creationTimestamp?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface KubeList<T extends KubeObject = KubeObject> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** An answer that was not 2xx: the core's Status, when it sent one. */
export class ApiRequestError extends Error {
  constructor(readonly code: number, readonly status: KubeStatus | undefined, message: string) {
    super(message);
  }
}

export interface ResourcePath {
  group: string;
  version: string;
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** `/api/v1/...` for the core group, `/apis/<group>/<version>/...` otherwise. */
export function resourceUrl(r: ResourcePath, query?: Record<string, string | undefined>): string {
  let url = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  if (r.namespace) url += `/namespaces/${encodeURIComponent(r.namespace)}`;
  url += `/${r.resource}`;
  if (r.name) url += `/${encodeURIComponent(r.name)}`;
  if (r.subresource) url += `/${r.subresource}`;
  const q = new URLSearchParams(Object.entries(query ?? {}).filter((e): e is [string, string] => e[1] !== undefined));
  return q.size ? `${url}?${q}` : url;
}

export function readCookie(name: string): string | undefined {
  if (typeof document === 'undefined') return undefined;
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

export interface ApiClientOptions {
  /** Called once when the session is gone for good (the host shows the login page). */
  onUnauthenticated?: () => void;
}

let refreshing: Promise<boolean> | undefined;

/** Asks the core to rotate the session (its refresh token lives in an httpOnly cookie). One at a time, across tabs too. */
export function refreshSession(): Promise<boolean> {
  const run = async () => (await fetch('/oauth/session/refresh', { method: 'POST', credentials: 'same-origin', headers: { [csrfHeaderName]: readCookie(csrfCookieName) ?? '' } })).ok;
  const locked = typeof navigator !== 'undefined' && navigator.locks ? navigator.locks.request('mortise-session-refresh', run).then((ok) => ok) : run();
  const pending = (refreshing ??= locked.finally(() => {
    refreshing = undefined;
  }));
  return pending;
}

export class ApiClient {
  constructor(private readonly opts: ApiClientOptions = {}) {}

  /** fetch() with the session: CSRF header on writes, one refresh on 401. */
  async fetch(url: string, init: RequestInit = {}, retried = false): Promise<Response> {
    const headers = new Headers(init.headers);
    const method = (init.method ?? 'GET').toUpperCase();
    if (!['GET', 'HEAD', 'OPTIONS'].includes(method)) headers.set(csrfHeaderName, readCookie(csrfCookieName) ?? '');
    if (!headers.has('Accept')) headers.set('Accept', 'application/json');
    const res = await fetch(url, { ...init, headers, credentials: 'same-origin' });
    if (res.status === 401 && !retried) {
      if (await refreshSession()) return this.fetch(url, init, true);
      this.opts.onUnauthenticated?.();
    }
    return res;
  }

  /** JSON in, JSON out; a non-2xx answer throws ApiRequestError with the core's Status. */
  async request<T>(url: string, init: RequestInit & { json?: unknown } = {}): Promise<T> {
    const { json, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (json !== undefined && !headers.has('Content-Type')) headers.set('Content-Type', 'application/json');
    const res = await this.fetch(url, { ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body });
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const status = body && typeof body === 'object' && (body as KubeStatus).kind === 'Status' ? (body as KubeStatus) : undefined;
      throw new ApiRequestError(res.status, status, status?.message ?? `${init.method ?? 'GET'} ${url}: HTTP ${res.status}`);
    }
    return body as T;
  }

  list<T extends KubeObject = KubeObject>(r: ResourcePath, query?: Record<string, string | undefined>): Promise<KubeList<T>> {
    return this.request(resourceUrl(r, query));
  }

  get<T extends KubeObject = KubeObject>(r: ResourcePath & { name: string }): Promise<T> {
    return this.request(resourceUrl(r));
  }

  create<T extends KubeObject = KubeObject>(r: ResourcePath, object: T, query?: Record<string, string | undefined>): Promise<T> {
    return this.request(resourceUrl({ ...r, name: undefined }, query), { method: 'POST', json: object });
  }

  update<T extends KubeObject = KubeObject>(r: ResourcePath & { name: string }, object: T, query?: Record<string, string | undefined>): Promise<T> {
    return this.request(resourceUrl(r, query), { method: 'PUT', json: object });
  }

  /** A JSON merge patch. */
  patch<T extends KubeObject = KubeObject>(r: ResourcePath & { name: string }, patch: unknown): Promise<T> {
    return this.request(resourceUrl(r), { method: 'PATCH', json: patch, headers: { 'Content-Type': 'application/merge-patch+json' } });
  }

  delete(r: ResourcePath & { name: string }): Promise<unknown> {
    return this.request(resourceUrl(r), { method: 'DELETE' });
  }

  /**
   * Streams watch events from `resourceVersion` until `signal` aborts. Resolves when the
   * stream ends (the caller re-lists and watches again).
   */
  async watch<T extends KubeObject = KubeObject>(r: ResourcePath, resourceVersion: string | undefined, onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    const res = await this.fetch(resourceUrl(r, { watch: '1', resourceVersion, allowWatchBookmarks: 'true' }), { signal });
    if (!res.ok || !res.body) throw new ApiRequestError(res.status, undefined, `watch ${r.resource}: HTTP ${res.status}`);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
      }
    }
  }
}
