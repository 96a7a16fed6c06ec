import Router from '@koa/router';
import type { Logger } from 'pino';
import { readObjectBody } from '../api/body.js';
import type { RequestInfo } from '../api/request-info.js';
import { ApiError, badRequest, forbidden, invalid, notFound, type StatusCause } from '../api/status.js';
import type { AppContext, AppState } from '../http/app-state.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import { iamGroup } from '../schemas/iam.js';
import type { Authorizer } from './authorizer.js';
import type { LoginRecords } from './login-records.js';
import type { LoginGuard } from './oauth-routes.js';
import { verifyPassword } from './passwords.js';
import type { IssuedTokens, TokenService } from './token-service.js';
import { tokensValidAfterAnnotation } from './user-directory.js';
import { nextWholeSecond, waitUntil } from './user-token-revoker.js';
import { singleQueryParam } from '../api/query-params.js';

export interface UserAccountDeps {
  service: ResourceService;
  kinds: KindRegistry;
  tokens: TokenService;
  authorizer: Authorizer;
  loginRecords: LoginRecords;
  /** Wrong current passwords count as failed logins (a stolen token must not buy guesses). */
  loginGuard?: LoginGuard;
  defaultClientId: string;
  logger: Logger;
}

export const minPasswordLength = 8;
const maxPasswordLength = 1024;
const base = `/kapis/${iamGroup}/v1alpha1/users/:name`;

/**
 * Self-service on a User: changing the password and reading the login history.
 * The pipeline authorizes them as `create users/password` and `list users/loginrecords` on the
 * user's name (RBAC lets every user do both on their own name).
 */
export function userAccountRouter(deps: UserAccountDeps): Router<AppState> {
  const router = new Router<AppState>();
  const userDef = () => deps.kinds.byGroupResource(iamGroup, 'users')!;

  router.post(`${base}/password`, async (ctx: AppContext) => {
    ctx.state.routeLabel = 'kapis/iam.mortise.io/users/password';
    const name = ctx.params.name!;
    const caller = ctx.state.user!;
    const body = (await readObjectBody(ctx.req, { limit: 16 * 1024 })) as { currentPassword?: unknown; password?: unknown } | null;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('send a JSON object: {"currentPassword": "...", "password": "..."}');
    const stored = await deps.service.getStored(userDef(), '', name);
    if (!stored) throw notFound(iamGroup, 'users', name);
    const oldHash = (stored.spec as { password?: string } | undefined)?.password;
    const self = caller.username === name;

    if (self) {
      if (typeof body.currentPassword !== 'string' || body.currentPassword === '') {
        throw passwordInvalid(name, [{ field: 'currentPassword', reason: 'FieldValueRequired', message: 'Required value: your current password is required to change it' }]);
      }
      if (!oldHash) {
        throw passwordInvalid(name, [{ field: 'currentPassword', message: 'Invalid value: this user has no local password (it logs in through an identity provider); an administrator can set one' }]);
      }
      const remote = ctx.ip;
      await deps.loginGuard?.before(name, remote);
      const ok = await verifyPassword(body.currentPassword, oldHash);
      await deps.loginGuard?.after(name, remote, ok);
      if (!ok) throw passwordInvalid(name, [{ field: 'currentPassword', message: 'Invalid value: the current password is not correct' }]);
    } else {
      // Resetting someone else's password takes the right to update users.
      const asUpdate: RequestInfo = { ...ctx.state.requestInfo, verb: 'update', resource: 'users', subresource: '', name, parts: ['users', name] };
      const decision = await deps.authorizer.authorize(caller, asUpdate);
      if (!decision.allowed) {
        throw forbidden(`${caller.username} cannot reset the password of "${name}": that takes the right to update users (${decision.reason})`, { name, group: iamGroup, kind: 'users' });
      }
    }

    const password = body.password;
    if (typeof password !== 'string' || password === '') {
      throw passwordInvalid(name, [{ field: 'password', reason: 'FieldValueRequired', message: 'Required value: the new password is required' }]);
    }
    if (password.length < minPasswordLength) throw passwordInvalid(name, [{ field: 'password', message: `Invalid value: must be at least ${minPasswordLength} characters` }]);
    if (password.length > maxPasswordLength) throw passwordInvalid(name, [{ field: 'password', message: `Invalid value: must be at most ${maxPasswordLength} characters` }]);
    if (oldHash && (await verifyPassword(password, oldHash))) {
      throw passwordInvalid(name, [{ field: 'password', message: 'Invalid value: the new password must differ from the current one' }]);
    }

    // Every token issued until now is refused from the next whole second on (JWT `iat` is in
    // seconds); refresh tokens are revoked outright.
    const cutoff = nextWholeSecond(Date.now());
    await deps.service.patch(userDef(), '', name, 'merge', {
      metadata: { annotations: { [tokensValidAfterAnnotation]: new Date(cutoff).toISOString() } },
      spec: { password },
    }, {});
    const revoked = await deps.tokens.revokeUser(name);
    // Answer only once the cut-off has passed: whatever logs in after this answer is valid.
    await waitUntil(cutoff);
    let token: IssuedTokens | undefined;
    if (self) token = await deps.tokens.issue(name, await clientOf(ctx, deps));
    deps.logger.info({ event: 'user.password-changed', username: name, by: caller.username, revokedRefreshTokens: revoked }, 'password changed');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      apiVersion: `${iamGroup}/v1alpha1`,
      kind: 'PasswordChange',
      username: name,
      message: self
        ? 'the password was changed; your other sessions were signed out and this one goes on with the token below'
        : `the password of "${name}" was reset; all of their sessions were signed out`,
      tokensValidAfter: new Date(cutoff).toISOString(),
      ...(token ? { token } : {}),
    };
  });

  router.get(`${base}/loginrecords`, async (ctx: AppContext) => {
    ctx.state.routeLabel = 'kapis/iam.mortise.io/users/loginrecords';
    const name = ctx.params.name!;
    const user = await deps.service.getStored(userDef(), '', name);
    if (!user) throw notFound(iamGroup, 'users', name);
    let records = await deps.loginRecords.list(name, user.metadata.uid);
    const limit = Number(singleQueryParam(ctx.URL.searchParams, 'limit') ?? '');
    if (Number.isInteger(limit) && limit > 0) records = records.slice(0, limit);
    ctx.body = {
      apiVersion: `${iamGroup}/v1alpha1`,
      kind: 'LoginRecordList',
      metadata: {},
      items: records.map((r, i) => ({
        apiVersion: `${iamGroup}/v1alpha1`,
        kind: 'LoginRecord',
        metadata: { name: `${name}-${Date.parse(r.time)}-${records.length - i}`, creationTimestamp: r.time, labels: { 'iam.mortise.io/user': name } },
        spec: r,
      })),
    };
  });

  return router;
}

function passwordInvalid(name: string, causes: StatusCause[]): ApiError {
  return invalid(iamGroup, 'User', name, causes);
}

/** The client the caller's current token was issued to, so the new pair works where the old did. */
async function clientOf(ctx: AppContext, deps: UserAccountDeps): Promise<string> {
  const m = /^Bearer\s+(\S+)/i.exec(ctx.get('authorization'));
  if (!m) return deps.defaultClientId;
  try {
    const claims = await deps.tokens.verifyAccessToken(m[1]!);
    const aud = Array.isArray(claims.aud) ? claims.aud[0] : claims.aud;
    return aud && deps.tokens.clients.includes(aud) ? aud : deps.defaultClientId;
  } catch {
    return deps.defaultClientId;
  }
}
