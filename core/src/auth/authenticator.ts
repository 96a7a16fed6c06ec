import type { IncomingHttpHeaders } from 'node:http';
import { IDENTITY_HEADER } from '@mortise/extension-sdk/runtime';
import { unauthorized } from '../api/status.js';
import type { UserInfo } from '../http/app-state.js';
import type { UserDirectory } from './user-directory.js';
import { TokenError, type TokenService } from './token-service.js';
import type { ServiceAccountTokens } from './service-account-tokens.js';

/** Headers a client could use to claim an identity: removed before anything reads them. */
export const identityHeaders = ['x-remote-user', 'x-remote-group', 'x-remote-extra', 'x-forwarded-user', 'x-mortise-user', IDENTITY_HEADER, 'x-auth-request-user', 'remote-user'];

export function stripIdentityHeaders(headers: IncomingHttpHeaders): void {
  for (const name of Object.keys(headers)) {
    // `X_Remote_User` is `X-Remote-User` to CGI-style readers.
    const lower = name.toLowerCase().replaceAll('_', '-');
    if (identityHeaders.includes(lower) || lower.startsWith('x-remote-extra-')) delete headers[name];
  }
}

/** Bearer tokens → a user, or undefined for an anonymous request. Bad tokens are a 401. */
export class Authenticator {
  constructor(private readonly tokens: TokenService, private readonly users: UserDirectory, private readonly serviceAccounts?: ServiceAccountTokens) {}

  async authenticate(authorization: string | undefined): Promise<UserInfo | undefined> {
    if (!authorization) return undefined;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) throw unauthorized('the Authorization header must be "Bearer <access token>"');
    if (this.serviceAccounts?.isServiceAccountToken(m[1]!)) {
      const result = await this.serviceAccounts.authenticate(m[1]!);
      if ('refused' in result) throw unauthorized(result.refused);
      return result;
    }
    let claims;
    try {
      claims = await this.tokens.verifyAccessToken(m[1]!);
    } catch (e) {
      if (e instanceof TokenError) throw unauthorized(e.message);
      throw e;
    }
    const user = await this.users.lookup(claims.sub);
    if (!user) throw unauthorized(`the user "${claims.sub}" no longer exists`);
    if (user.state === 'Disabled') throw unauthorized(`the user "${claims.sub}" is disabled`);
    if (user.tokensValidAfter && typeof claims.iat === 'number' && claims.iat * 1000 < user.tokensValidAfter) {
      throw unauthorized('the token was revoked (the password changed, or the user was disabled or re-created): log in again');
    }
    if (this.tokens.sessionEnded(claims)) throw unauthorized('the session this token belongs to has ended (logged out or revoked): log in again');
    return {
      username: user.username, uid: user.uid, groups: ['system:authenticated', ...user.groups], via: 'token',
      ...(typeof claims.exp === 'number' ? { expiresAt: claims.exp * 1000 } : {}),
    };
  }
}
