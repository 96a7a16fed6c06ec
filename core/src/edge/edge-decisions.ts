import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { parseRequestInfo } from '../api/request-info.js';
import { ApiError } from '../api/status.js';
import { safeMethods } from '../auth/session-cookies.js';
import { isPublic } from '../http/public-routes.js';
import type { RequestGuard } from '../http/request-guard.js';
import type { DevRoutes } from '../gateway/dev-routes.js';
import type { Gateway } from '../gateway/gateway.js';

export interface EdgeDecisionDeps {
  gateway: Gateway;
  guard: RequestGuard;
  devRoutes?: DevRoutes;
  /** The epoch of what decisions read, taken before deciding (edge-epoch.ts). */
  epoch: () => number;
  /** Longest a decision is reused, seconds (default 30). */
  maxTtlSeconds?: number;
}

/** A forwarded identity is not sent with less than this left (ForwardedIdentities renews before). */
const identityMarginMs = 20_000;
/**
 * A decision carries a forwarded identity that stays in use at least this long: one minted just
 * before its renewal would make a decision that lives for nothing, and every request in that
 * window would be decided by the core (hundreds a second were, each minute, in the benchmark).
 */
const identityUsableForMs = 10_000;

/**
 * Whether the native edge may send this request straight to the backend, and how: the same
 * checks, in the same order, as the core's gateway listener (gateway-listener.ts) — the route,
 * the caller's credentials, their authorization, the backend's health — for a safe request. The
 * answer is the text mortise_edge.lua reads: the epoch it was made in, how long it may be reused
 * (never past the credential's or the forwarded identity's expiry), the backend, the path, and
 * the headers to set. Anything the edge must not answer itself (a refusal, an audited or
 * anonymous route, a developer's route, a backend by hostname) is `undefined`: the core answers.
 */
export async function edgeDecision(deps: EdgeDecisionDeps, method: string, uri: string, headers: IncomingHttpHeaders): Promise<string | undefined> {
  const epoch = deps.epoch();
  if (!safeMethods.has(method) || !uri.startsWith('/')) return undefined;
  const q = uri.indexOf('?');
  const path = q < 0 ? uri : uri.slice(0, q);
  const search = q < 0 ? '' : uri.slice(q);
  if (isPublic(method, path) || deps.devRoutes?.claims(path) || deps.devRoutes?.claimsAssets(path)) return undefined;
  const match = deps.gateway.routes.match(method, path, search);
  const route = match?.route;
  if (!match || !route || route.anonymous || route.dev || !route.upstream) return undefined;
  const upstream = route.upstream;
  const backend = edgeBackendOf(upstream);
  if (!backend) return undefined;
  const query = new URLSearchParams(search);
  const info = parseRequestInfo(method, path, query);
  // Streams that may stay quiet longer than a response timeout (watches, followed logs) stay with
  // the core, whose gateway times only the wait for the response's headers.
  if (info.verb === 'watch' || query.has('follow')) return undefined;
  let user;
  try {
    user = await deps.guard.authenticate(headers, false, method);
    await deps.guard.authorize(user!, info);
    deps.gateway.admits(match, path);
  } catch (e) {
    if (e instanceof ApiError) return undefined;
    throw e;
  }
  if (!user || deps.devRoutes?.match(user.username, path, search)) return undefined;
  const identity = await deps.gateway.identity(user, route.extension, identityUsableForMs);
  const now = Date.now();
  const until = Math.min(
    identityExpiry(identity) - identityMarginMs,
    user.expiresAt ?? Infinity,
    now + (deps.maxTtlSeconds ?? 30) * 1000,
  );
  // In seconds with milliseconds (lua-resty-lrucache takes fractions): no second lost to rounding.
  const ttl = Math.max(0, Math.floor(until - now)) / 1000;
  const set: Array<[string, string]> = [];
  for (const name in route.headerUp) set.push([name, route.headerUp[name]!]);
  const lines = [
    String(epoch), ttl.toFixed(3), backend.host, backend.port, upstream.host, match.upstreamPath,
    `gateway/${route.kind}/${route.extension}`, user.username,
    `identity\t${identity}`,
    `groups\t${user.groups.join(',')}`,
    ...(match.strippedPrefix ? [`prefix\t${match.strippedPrefix}`] : []),
    ...set.map(([n, v]) => `set\t${n}\t${v}`),
    ...route.removeHeaders.map((n) => `remove\t${n}`),
    ...Object.entries(route.headerDown).map(([n, v]) => `down\t${n}\t${v}`),
  ];
  // A line break or tab inside a field would change what the edge reads: the core answers those.
  if (lines.some((l, i) => /[\r\n]/.test(l) || (i < 8 && (l === '' || l.includes('\t'))))) return undefined;
  return `${lines.join('\n')}\n`;
}

/**
 * A backend the edge may send to: plain HTTP to an IP address (`host` without brackets), as
 * `host:port` names it in the edge's configuration; undefined for anything else (the core sends).
 */
export function edgeBackendOf(upstream: URL): { host: string; port: string; address: string } | undefined {
  const host = upstream.hostname.replace(/^\[(.*)\]$/, '$1');
  if (upstream.protocol !== 'http:' || !isIP(host)) return undefined;
  const port = upstream.port || '80';
  return { host, port, address: `${host}:${port}` };
}

/** When a forwarded identity token expires (ms), from its `exp` claim. */
function identityExpiry(jwt: string): number {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : 0;
  } catch {
    return 0;
  }
}
