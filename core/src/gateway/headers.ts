import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { IDENTITY_HEADER } from '@mortise/extension-sdk/runtime';
import { identityHeaders } from '../auth/authenticator.js';
import { isCoreCookie, withoutCoreCookies } from '../auth/session-cookies.js';

// What crosses the gateway in headers: hop-by-hop headers never do (RFC 9110 §7.6.1), client
// claims of identity never do, the caller's core credentials never do.

/** Headers that describe one connection, not the message. */
const hopByHop = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  // The core already answered `Expect: 100-continue` to the client; the backend gets the body as it comes.
  'expect',
  'http2-settings',
]);

/** The header that carries the identity the core forwards (a JWT signed by the core); defined by the SDK. */
export const identityHeader = IDENTITY_HEADER;

/** The Kubernetes way for browsers to send a bearer token on a websocket: a subprotocol. */
export const bearerProtocolPrefix = 'base64url.bearer.authorization.k8s.io.';

/**
 * Whether a client header could claim an identity, carry the caller's credentials, or pose as
 * what the gateway itself sets. All of these are removed before a request is forwarded.
 */
export function isIdentityHeader(name: string): boolean {
  // CGI, WSGI, PHP (and nginx with underscores_in_headers) read `X_Remote_User` as `X-Remote-User`.
  const n = name.toLowerCase().replaceAll('_', '-');
  return n === 'authorization' || identityHeaders.includes(n)
    || n.startsWith('x-remote-') || n.startsWith('impersonate-') || n.startsWith('x-mortise-')
    || n.startsWith('x-forwarded-') || n === 'forwarded' || n === 'x-real-ip'
    || n.startsWith('x-auth-request-') || n === 'remote-user' || n === 'x-user' || n === 'x-email' || n === 'x-groups';
}

const noTokens: ReadonlySet<string> = new Set();

/** Names listed in `Connection` are hop-by-hop for this message too. */
function connectionTokens(headers: IncomingHttpHeaders): ReadonlySet<string> {
  const raw = headers.connection;
  // Most messages list nothing beyond keep-alive: no set to build.
  if (raw === undefined || raw === 'keep-alive' || raw === 'close') return noTokens;
  const out = new Set<string>();
  for (const t of (Array.isArray(raw) ? raw.join(',') : raw).split(',')) {
    const name = t.trim().toLowerCase();
    if (name) out.add(name);
  }
  return out;
}

/** Whether a request header (lower-cased) never reaches a backend, whatever the message lists; remembered per name. */
const droppedUpstream = new Map<string, boolean>();
const maxRemembered = 1_000;

function dropsUpstream(n: string): boolean {
  let dropped = droppedUpstream.get(n);
  if (dropped === undefined) {
    dropped = hopByHop.has(n) || n === 'host' || isIdentityHeader(n);
    if (droppedUpstream.size < maxRemembered) droppedUpstream.set(n, dropped);
  }
  return dropped;
}

export interface UpstreamHeaderOptions {
  /** Signed identity to forward. */
  identity: string;
  clientIp: string;
  proto: 'http' | 'https';
  host: string | undefined;
  strippedPrefix?: string;
  headerUp: Record<string, string>;
  removeHeaders: string[];
  /** Keep `Connection: Upgrade`/`Upgrade` (websocket handshakes). */
  upgrade?: string;
  /** Set `Transfer-Encoding: chunked` for a chunked body (node:http needs it; undici frames bodies itself). Default true. */
  markChunked?: boolean;
}

/** The headers of the request to a backend. */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, o: UpstreamHeaderOptions): OutgoingHttpHeaders {
  const listed = connectionTokens(incoming);
  const out: OutgoingHttpHeaders = {};
  for (const name in incoming) {
    const value = incoming[name];
    const n = name.toLowerCase();
    if (value === undefined || dropsUpstream(n) || listed.has(n)) continue;
    out[n] = value;
  }
  // The console's session cookies are the caller's core credentials: they stay with the core.
  if (typeof out.cookie === 'string') {
    const kept = withoutCoreCookies(out.cookie);
    if (kept) out.cookie = kept;
    else delete out.cookie;
  }
  // A chunked body stays chunked (without it Node would send a DELETE's body unframed).
  if (o.markChunked !== false && incoming['transfer-encoding'] && incoming['content-length'] === undefined) out['transfer-encoding'] = 'chunked';
  for (const name of o.removeHeaders) delete out[name.toLowerCase()];
  for (const name in o.headerUp) out[name.toLowerCase()] = o.headerUp[name];
  if (o.upgrade) {
    out.connection = 'Upgrade';
    out.upgrade = o.upgrade;
  }
  // Set last: neither the client nor a directive can pose as the gateway.
  out[identityHeader] = o.identity;
  out['x-forwarded-for'] = o.clientIp;
  out['x-forwarded-proto'] = o.proto;
  if (o.host) out['x-forwarded-host'] = o.host;
  if (o.strippedPrefix) out['x-forwarded-prefix'] = o.strippedPrefix;
  return out;
}

/**
 * `X-Accel-*`: orders to an nginx in front (an ingress, the native edge's own nginx), which by
 * default takes X-Accel-Redirect in an answer as an internal redirect of the client's request to
 * any of its locations, and the rest as its rate, buffering and charset. A backend's answer, and a
 * route's `headerDown` (dropped as the route is made, route-table.ts), speak to the client only.
 */
export function isProxyOrderHeader(name: string): boolean {
  return name.toLowerCase().startsWith('x-accel-');
}

/** The headers of a backend's response, as the client gets them. */
export function downstreamResponseHeaders(incoming: IncomingHttpHeaders, headerDown: Record<string, string>, opts: { upgrade?: boolean } = {}): Record<string, string | string[]> {
  const listed = connectionTokens(incoming);
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    const n = name.toLowerCase();
    if (opts.upgrade && (n === 'connection' || n === 'upgrade')) {
      out[n] = value;
      continue;
    }
    if (hopByHop.has(n) || listed.has(n) || isProxyOrderHeader(n)) continue;
    if (n === 'set-cookie') {
      // A backend must not set (or fix) the console's session.
      const kept = (Array.isArray(value) ? value : [value]).filter((c) => !isCoreCookie(c.split('=')[0]!));
      if (kept.length) out[n] = kept;
      continue;
    }
    out[n] = value;
  }
  for (const name in headerDown) out[name.toLowerCase()] = headerDown[name]!;
  return out;
}

/**
 * The bearer token a browser put in `Sec-WebSocket-Protocol`, and the protocols left once it is
 * taken out (what the backend may choose from).
 */
export function takeBearerProtocol(value: string | undefined): { token?: string; rest?: string } {
  if (!value) return {};
  let token: string | undefined;
  const rest: string[] = [];
  for (const p of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (p.startsWith(bearerProtocolPrefix)) {
      try {
        token = Buffer.from(p.slice(bearerProtocolPrefix.length), 'base64url').toString('utf8');
      } catch {
        token = undefined;
      }
    } else {
      rest.push(p);
    }
  }
  return { ...(token ? { token } : {}), ...(rest.length ? { rest: rest.join(', ') } : {}) };
}

/** A header's value as one string (repeated headers joined as HTTP allows). */
export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}
