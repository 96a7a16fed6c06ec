import type { IncomingHttpHeaders } from 'node:http';
import type { RequestInfo } from '../api/request-info.js';
import { forbidden, unauthorized } from '../api/status.js';
import type { Authenticator } from '../auth/authenticator.js';
import { cookieValue, csrfCookie, csrfHeader, csrfMatches, safeMethods, sessionCookie } from '../auth/session-cookies.js';
import { describeRequest, type Authorizer } from '../auth/authorizer.js';
import type { UserInfo } from './app-state.js';

export const authenticationRequired = 'authentication required: send "Authorization: Bearer <token>" (get one from POST /oauth/token)';

/**
 * Who is calling and whether they may: the two checks every request passes, written once for the
 * koa pipeline and for the gateway's own listener (which answers proxied requests without koa).
 */
export class RequestGuard {
  constructor(private readonly authenticator: Authenticator, private readonly authorizer: Authorizer) {}

  /**
   * The caller, or undefined when anonymous. A bad credential is a 401, except on a public route
   * (logging in again with a stale token is not an error). A non-public route needs a caller.
   */
  async authenticate(headers: IncomingHttpHeaders, publicRoute: boolean, method = 'GET'): Promise<UserInfo | undefined> {
    let user: UserInfo | undefined;
    try {
      // Without an Authorization header, the console's session cookie: the same access token, kept httpOnly.
      const authorization = headerValue(headers.authorization);
      const session = authorization ? undefined : cookieValue(headers.cookie, sessionCookie);
      if (session) {
        const fromCookie = await this.authenticator.authenticate(`Bearer ${session}`);
        user = fromCookie && { ...fromCookie, via: 'cookie' };
      } else {
        user = await this.authenticator.authenticate(authorization || undefined);
      }
    } catch (e) {
      if (!publicRoute) throw e;
    }
    if (publicRoute) return user;
    if (!user) throw unauthorized(authenticationRequired);
    // Writes made with the cookie must repeat the CSRF cookie in a header, which only pages of the
    // core's own origin can read (double submit); bearer-token clients need nothing.
    if (user.via === 'cookie' && !safeMethods.has(method.toUpperCase()) && !csrfMatches(headers)) {
      throw forbidden(`a write made with the console's session cookie needs the ${csrfHeader} header repeating the ${csrfCookie} cookie (cross-site request refused)`);
    }
    // `kubectl --as`: refused rather than silently answered as the caller, which would mislead.
    const impersonate = Object.keys(headers).find((h) => h.toLowerCase().startsWith('impersonate-'));
    if (impersonate) {
      throw forbidden(`${user.username} cannot impersonate: impersonation (the ${impersonate} header, kubectl --as) is not supported by this server`);
    }
    return user;
  }

  /**
   * Whether a request that was let in would still be: its headers authenticated and its
   * RequestInfo authorized again. Asked of what stays open on one request's authorization (a
   * watch, a streamed answer) when what the checks read changes.
   */
  async stillAllows(headers: IncomingHttpHeaders, method: string, info: RequestInfo): Promise<boolean> {
    try {
      const user = await this.authenticate(headers, false, method);
      await this.authorize(user!, info);
      return true;
    } catch {
      return false;
    }
  }

  /** Throws a 403 naming what was refused and why. */
  async authorize(user: UserInfo, info: RequestInfo): Promise<void> {
    const decision = await this.authorizer.authorize(user, info);
    if (decision.allowed) return;
    throw forbidden(`${user.username} cannot ${describeRequest(info)}: ${decision.reason}`, info.isResourceRequest ? { name: info.name || undefined, group: info.apiGroup, kind: info.resource } : undefined);
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
