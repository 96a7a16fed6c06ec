import { CredentialStore, type StoredCredentials } from '../config.js';
import type { WatchEvent } from '../api.js';
import { ApiStatusError, CliError, isStatus, networkReason, UnreachableError } from '../errors.js';

export const cliClientId = 'mortise-cli';
const defaultTimeoutMs = 30_000;
/** Refresh this long before the access token runs out, so it does not expire in flight. */
const expirySkewMs = 5_000;

/** What `POST /oauth/token` answers. */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
}

/** An OAuth error answer (`{error, error_description}`) from the token or revocation endpoint. */
export class OAuthError extends CliError {
  constructor(readonly httpStatus: number, readonly error: string, description: string) {
    super(description || error);
    this.name = 'OAuthError';
  }
}

/** `https://host/prefix/` → `https://host/prefix`; anything but an http(s) URL is refused. */
export function normalizeServer(server: string): string {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new CliError(`"${server}" is not a URL: give the server as e.g. http://127.0.0.1:8080`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`the server URL must start with http:// or https://, got "${server}"`);
  if (url.search || url.hash) throw new CliError(`the server URL must not carry a query or fragment: "${server}"`);
  return url.toString().replace(/\/+$/, '');
}

/**
 * fetch that turns "nothing answered" into an error naming the URL. `timeoutMs` bounds the
 * whole exchange; with a `signal` (a stream read for as long as the caller wants) it bounds
 * only the wait for the answer's headers, and an abort by the caller is thrown as it is.
 */
async function send(url: string, init: RequestInit, timeoutMs: number, signal?: AbortSignal): Promise<Response> {
  if (!signal) {
    try {
      return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    } catch (e) {
      throw new UnreachableError(url, networkReason(e, timeoutMs));
    }
  }
  const headers = new AbortController();
  const timer = setTimeout(() => headers.abort(new DOMException('no answer', 'TimeoutError')), timeoutMs);
  try {
    return await fetch(url, { ...init, signal: AbortSignal.any([signal, headers.signal]), redirect: 'manual' });
  } catch (e) {
    if (signal.aborted) throw e;
    throw new UnreachableError(url, networkReason(headers.signal.aborted ? headers.signal.reason : e, timeoutMs));
  } finally {
    clearTimeout(timer);
  }
}

async function readBody(res: Response): Promise<{ text: string; json: unknown }> {
  const text = await res.text();
  if (!text) return { text, json: undefined };
  try {
    return { text, json: JSON.parse(text) };
  } catch {
    return { text, json: undefined };
  }
}

function notMortise(url: string, res: Response, text: string): CliError {
  const location = res.headers.get('location');
  if (res.status >= 300 && res.status < 400 && location) {
    return new CliError(`${url} redirects to ${location}`, ['give the server\'s final address with `mortise login --server <url>`']);
  }
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 160);
  return new CliError(`${url} answered ${res.status} ${res.statusText}${snippet ? `: ${snippet}` : ''}`, ['is this the address of a Mortise core?']);
}

/** `POST <server>/oauth/token`, form-encoded, as the `mortise-cli` client. */
export async function requestToken(server: string, form: Record<string, string>, timeoutMs = defaultTimeoutMs): Promise<TokenResponse> {
  const url = `${server}/oauth/token`;
  const res = await send(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ client_id: cliClientId, ...form }),
  }, timeoutMs);
  const { text, json } = await readBody(res);
  const body = (json ?? {}) as Partial<TokenResponse> & { error?: string; error_description?: string };
  if (res.ok && body.access_token && body.refresh_token) return body as TokenResponse;
  if (typeof body.error === 'string') throw new OAuthError(res.status, body.error, body.error_description ?? '');
  if (isStatus(json)) throw new ApiStatusError(res.status, json);
  throw notMortise(url, res, text);
}

/** RFC 7009 revocation of a refresh token. */
export async function revokeToken(server: string, token: string, timeoutMs = defaultTimeoutMs): Promise<void> {
  const url = `${server}/oauth/revoke`;
  const res = await send(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ token, token_type_hint: 'refresh_token', client_id: cliClientId }),
  }, timeoutMs);
  const { text, json } = await readBody(res);
  if (res.ok) return;
  const body = (json ?? {}) as { error?: string; error_description?: string };
  if (typeof body.error === 'string') throw new OAuthError(res.status, body.error, body.error_description ?? '');
  if (isStatus(json)) throw new ApiStatusError(res.status, json);
  throw notMortise(url, res, text);
}

export function credentialsFrom(server: string, username: string, tokens: TokenResponse, now = Date.now()): StoredCredentials {
  return {
    server, username, accessToken: tokens.access_token, refreshToken: tokens.refresh_token,
    expiresAt: new Date(now + tokens.expires_in * 1000).toISOString(),
  };
}

export interface RequestOptions {
  /** Sent as JSON (or as given by contentType). */
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | undefined>;
}

export interface ApiResponse<T> {
  body: T;
  headers: Headers;
}

/**
 * The core's API with the stored credentials: refreshes the access token when it has run out
 * (or a 401 says it is no good) and saves the new pair; turns error answers into Status errors.
 */
export class CoreClient {
  private credentials: StoredCredentials;

  constructor(private readonly store: CredentialStore, credentials: StoredCredentials, private readonly timeoutMs = defaultTimeoutMs) {
    this.credentials = credentials;
  }

  /** The client of whoever logged in last; "not logged in" otherwise. */
  static fromStore(store: CredentialStore): CoreClient {
    const credentials = store.read();
    if (!credentials) throw new CliError('not logged in: run `mortise login --server <url> --username <name>` first', [`(no credentials in ${store.path})`]);
    return new CoreClient(store, { ...credentials, server: normalizeServer(credentials.server) });
  }

  get server(): string {
    return this.credentials.server;
  }

  get username(): string {
    return this.credentials.username;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const res = await this.authorized(method, path, options);
    const { json } = await readBody(res);
    return { body: json as T, headers: res.headers };
  }

  /**
   * `GET path?watch=1`: the watch events the core streams (newline-delimited JSON), until the
   * server ends the stream or `signal` aborts (then the abort is thrown). A `410 Gone` comes as
   * an `ERROR` event carrying the Status, as from kube-apiserver.
   */
  async *watch<T>(path: string, query: Record<string, string | undefined>, signal: AbortSignal): AsyncGenerator<WatchEvent<T>> {
    const res = await this.authorized('GET', path, { query: { ...query, watch: '1' } }, signal);
    if (!res.body) return;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += value;
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          if (line) yield JSON.parse(line) as WatchEvent<T>;
        }
      }
    } finally {
      // Ending early (the caller has what it waited for) closes the connection.
      await reader.cancel().catch(() => undefined);
    }
  }

  /** `GET path` as text, chunk by chunk as the core sends it (a followed log), until it ends or `signal` aborts. */
  async *textStream(path: string, query: Record<string, string | undefined>, signal: AbortSignal): AsyncGenerator<string> {
    const res = await this.authorized('GET', path, { query }, signal);
    if (!res.body) return;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        yield value;
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }

  /**
   * Sends the request with the access token, refreshing it first when it has run out and once
   * more when the core answers 401; answers that are not 2xx become errors.
   */
  private async authorized(method: string, path: string, options: RequestOptions, signal?: AbortSignal): Promise<Response> {
    let refreshed = false;
    if (Date.parse(this.credentials.expiresAt) - expirySkewMs <= Date.now()) {
      await this.refresh(this.credentials.accessToken);
      refreshed = true;
    }
    for (;;) {
      const token = this.credentials.accessToken;
      const res = await this.send(method, path, options, token, signal);
      if (res.status === 401 && !refreshed) {
        await res.body?.cancel();
        await this.refresh(token);
        refreshed = true;
        continue;
      }
      if (res.ok) return res;
      const url = this.url(path, options.query);
      const { text, json } = await readBody(res);
      if (isStatus(json)) {
        const error = new ApiStatusError(res.status, json);
        if (res.status === 401) error.details.push('run `mortise login` to sign in again');
        throw error;
      }
      throw notMortise(`${method} ${url}`, res, text);
    }
  }

  async get<T>(path: string, query?: Record<string, string | undefined>): Promise<T> {
    return (await this.request<T>('GET', path, { query })).body;
  }

  /** GET, or undefined on 404. */
  async find<T>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (e) {
      if (e instanceof ApiStatusError && e.httpStatus === 404) return undefined;
      throw e;
    }
  }

  async create<T>(path: string, body: unknown): Promise<T> {
    return (await this.request<T>('POST', path, { body })).body;
  }

  async mergePatch<T>(path: string, patch: unknown): Promise<T> {
    return (await this.request<T>('PATCH', path, { body: patch, contentType: 'application/merge-patch+json' })).body;
  }

  async delete<T>(path: string): Promise<T> {
    return (await this.request<T>('DELETE', path)).body;
  }

  private url(path: string, query?: Record<string, string | undefined>): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, v);
    const qs = params.toString();
    return `${this.credentials.server}${path}${qs ? `?${qs}` : ''}`;
  }

  private send(method: string, path: string, options: RequestOptions, token: string, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${token}` };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
      body = JSON.stringify(options.body);
    }
    return send(this.url(path, options.query), { method, headers, body }, this.timeoutMs, signal);
  }

  /**
   * Trades the refresh token for a new pair, under the store's lock. If another process
   * refreshed meanwhile (the file holds a newer pair), its pair is used instead: a refresh
   * token used twice would end the session.
   */
  private async refresh(staleAccessToken: string): Promise<void> {
    await this.store.withLock(async () => {
      const onDisk = this.store.read();
      const { server, username } = this.credentials;
      // Never bring back credentials a `logout` deleted, nor overwrite another login.
      if (!onDisk) throw new CliError('logged out while this command ran: run `mortise login` again');
      if (normalizeServer(onDisk.server) !== server || onDisk.username !== username) {
        throw new CliError(`the stored login changed while this command ran (now ${onDisk.username || 'someone'} at ${onDisk.server}): run the command again`);
      }
      if (onDisk.accessToken !== staleAccessToken && Date.parse(onDisk.expiresAt) - expirySkewMs > Date.now()) {
        this.credentials = { ...onDisk, server };
        return;
      }
      let tokens: TokenResponse;
      try {
        tokens = await requestToken(server, { grant_type: 'refresh_token', refresh_token: onDisk.refreshToken }, this.timeoutMs);
      } catch (e) {
        if (e instanceof OAuthError && (e.error === 'invalid_grant' || e.error === 'invalid_client')) {
          throw new CliError(`your session at ${server} has ended (${e.message}): run \`mortise login\` again`);
        }
        throw e;
      }
      this.credentials = credentialsFrom(server, username, tokens);
      this.store.write(this.credentials);
    });
  }
}
