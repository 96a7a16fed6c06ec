import type { IncomingHttpHeaders } from 'node:http';
import type { RequestInfo } from '../api/request-info.js';
import { forbidden, unauthorized } from '../api/status.js';
import type { Authenticator } from '../auth/authenticator.js';
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
  async authenticate(headers: IncomingHttpHeaders, publicRoute: boolean): Promise<UserInfo | undefined> {
    let user: UserInfo | undefined;
    try {
      user = await this.authenticator.authenticate(headerValue(headers.authorization) || undefined);
    } catch (e) {
      if (!publicRoute) throw e;
    }
    if (publicRoute) return user;
    if (!user) throw unauthorized(authenticationRequired);
    // `kubectl --as`: refused rather than silently answered as the caller, which would mislead.
    const impersonate = Object.keys(headers).find((h) => h.toLowerCase().startsWith('impersonate-'));
    if (impersonate) {
      throw forbidden(`${user.username} cannot impersonate: impersonation (the ${impersonate} header, kubectl --as) is not supported by this server`);
    }
    return user;
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
