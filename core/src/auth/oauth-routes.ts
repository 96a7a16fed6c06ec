import Router from '@koa/router';
import type { Logger } from 'pino';
import { readBody } from '../api/body.js';
import { ApiError } from '../api/status.js';
import type { AppContext, AppState } from '../http/app-state.js';
import type { ResourceService } from '../registry/resource-service.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import { iamGroup } from '../schemas/iam.js';
import { hashPassword, verifyPassword } from './passwords.js';
import type { SigningKeys } from './signing-keys.js';
import { TokenError, type IssuedTokens, type TokenService } from './token-service.js';
import type { UserDirectory } from './user-directory.js';
import type { CodeGrant } from './authorization-codes.js';
import { sourceAddress, type LoginRecorder } from './login-records.js';
import { waitUntil } from './user-token-revoker.js';

export interface OAuthDeps {
  tokens: TokenService;
  keys: SigningKeys;
  users: UserDirectory;
  service: ResourceService;
  kinds: KindRegistry;
  issuer: () => string;
  defaultClientId: string;
  logger: Logger;
  /** Hooks for login throttling (the IAM layer). */
  loginGuard?: LoginGuard;
  /** Keeps every login attempt per user (the IAM layer). */
  loginRecords?: LoginRecorder;
  /** The authorization_code grant (external identity providers). */
  codeGrant?: CodeGrant;
}

export interface LoginGuard {
  /** Throws (e.g. a 429) when this login attempt must not be tried now. */
  before(username: string, remote: string): Promise<void>;
  after(username: string, remote: string, ok: boolean): Promise<void>;
}

function oauthError(ctx: AppContext, status: number, error: string, description: string) {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error, error_description: description };
}

export async function formOf(ctx: AppContext): Promise<URLSearchParams> {
  const raw = (await readBody(ctx.req, 64 * 1024)).toString('utf8');
  if ((ctx.get('content-type') || '').includes('json')) {
    try {
      const parsed = JSON.parse(raw) as Record<string, unknown>;
      return new URLSearchParams(Object.entries(parsed).map(([k, v]): [string, string] => [k, String(v)]));
    } catch {
      return new URLSearchParams();
    }
  }
  return new URLSearchParams(raw);
}

let decoy: Promise<string> | undefined;
/** A hash nobody's password matches, with the same cost as real ones. */
const decoyHash = () => (decoy ??= hashPassword(`decoy-${Math.random()}-${Date.now()}`));

/** What a grant gives: tokens, or an OAuth error to answer with. */
export type GrantResult = { tokens: IssuedTokens } | { status: number; error: string; description: string; retryAfterSeconds?: number };

function sendGrant(ctx: AppContext, result: GrantResult): void {
  if ('error' in result) {
    if (result.retryAfterSeconds !== undefined) ctx.set('Retry-After', String(result.retryAfterSeconds));
    return oauthError(ctx, result.status, result.error, result.description);
  }
  ctx.set('Cache-Control', 'no-store');
  ctx.body = result.tokens;
}

/** The password grant: throttled, recorded, as slow for unknown users as for wrong passwords. */
export async function passwordGrant(deps: OAuthDeps, ctx: AppContext, username: string, password: string, clientId: string): Promise<GrantResult> {
  if (!username || !password) return { status: 400, error: 'invalid_request', description: 'username and password are required' };
  const remote = ctx.ip;
  try {
    await deps.loginGuard?.before(username, remote);
  } catch (e) {
    if (!(e instanceof ApiError && e.code === 429)) throw e;
    deps.logger.info({ event: 'login.throttled', username, remote }, 'login throttled');
    return { status: 429, error: 'slow_down', description: e.message, retryAfterSeconds: e.details?.retryAfterSeconds ?? 1 };
  }
  const user = await deps.users.lookup(username);
  // An unknown user (or one without a password) costs the same slow hash as a wrong
  // password, so the answer's timing does not tell which usernames exist.
  const ok = user?.passwordHash ? await verifyPassword(password, user.passwordHash) : await verifyPassword(password, await decoyHash()).then(() => false);
  await deps.loginGuard?.after(username, remote, ok);
  const attempt = { type: 'Token' as const, sourceIP: sourceAddress(remote), userAgent: ctx.get('user-agent') || undefined, clientId };
  if (!ok || !user) {
    deps.logger.info({ event: 'login.failed', username, remote }, 'login failed');
    await deps.loginRecords?.record(username, { ...attempt, success: false, reason: 'incorrect password' });
    return { status: 400, error: 'invalid_grant', description: 'incorrect username or password' };
  }
  if (user.state === 'Disabled') {
    await deps.loginRecords?.record(username, { ...attempt, success: false, reason: 'the user is disabled' });
    return { status: 400, error: 'invalid_grant', description: `the user "${username}" is disabled` };
  }
  // Just after a password change the cut-off may lie up to a second ahead: issue past it.
  if (user.tokensValidAfter) await waitUntil(Math.min(user.tokensValidAfter, Date.now() + 2000));
  const issued = await deps.tokens.issue(username, clientId);
  await deps.loginRecords?.record(username, { ...attempt, success: true });
  await recordLogin(deps, username);
  deps.logger.info({ event: 'login.succeeded', username, remote, clientId }, 'login');
  return { tokens: issued };
}

/** The refresh_token grant: rotates the refresh token (reuse revokes its family). */
export async function refreshGrant(deps: Pick<OAuthDeps, 'tokens' | 'users'>, token: string, clientId: string): Promise<GrantResult> {
  if (!token) return { status: 400, error: 'invalid_request', description: 'refresh_token is required' };
  try {
    const owner = await deps.tokens.refreshTokenOwner(token);
    const user = owner ? await deps.users.lookup(owner) : undefined;
    if (owner && (!user || user.state === 'Disabled')) return { status: 400, error: 'invalid_grant', description: `the user "${owner}" is disabled or gone` };
    return { tokens: await deps.tokens.refresh(token, clientId) };
  } catch (e) {
    if (e instanceof TokenError) return { status: 400, error: e.oauthError, description: e.message };
    throw e;
  }
}

/** The core as an OAuth2 / OIDC issuer: token, revocation, discovery, JWKS. */
export function oauthRouter(deps: OAuthDeps): Router<AppState> {
  const router = new Router<AppState>();

  router.post('/oauth/token', async (ctx) => {
    const form = await formOf(ctx);
    const grant = form.get('grant_type');
    const clientId = form.get('client_id') || deps.defaultClientId;
    if (!deps.tokens.clients.includes(clientId)) return oauthError(ctx, 401, 'invalid_client', `unknown client_id "${clientId}"`);
    if (grant === 'password') {
      ctx.state.auditUser = form.get('username') ?? '';
      return sendGrant(ctx, await passwordGrant(deps, ctx, form.get('username') ?? '', form.get('password') ?? '', clientId));
    }
    if (grant === 'refresh_token') return sendGrant(ctx, await refreshGrant(deps, form.get('refresh_token') ?? '', clientId));
    if (grant === 'authorization_code' && deps.codeGrant) {
      const result = await deps.codeGrant.exchange(form, clientId);
      if ('error' in result) return oauthError(ctx, 400, result.error, result.error_description);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = result;
      return;
    }
    return oauthError(ctx, 400, 'unsupported_grant_type', `grant_type must be "password", "refresh_token"${deps.codeGrant ? ' or "authorization_code"' : ''}, got "${grant ?? ''}"`);
  });

  router.post('/oauth/revoke', async (ctx) => {
    const form = await formOf(ctx);
    const token = form.get('token');
    if (!token) return oauthError(ctx, 400, 'invalid_request', 'token is required');
    await deps.tokens.revoke(token);
    // RFC 7009: 200 whether or not the token was known.
    ctx.status = 200;
    ctx.body = {};
  });

  router.get('/oauth/keys', (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = deps.keys.jwks();
  });

  router.get('/.well-known/openid-configuration', (ctx) => {
    const issuer = deps.issuer();
    ctx.body = {
      issuer,
      token_endpoint: `${issuer}/oauth/token`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      jwks_uri: `${issuer}/oauth/keys`,
      authorization_endpoint: `${issuer}/oauth/authorize`,
      response_types_supported: ['code'],
      grant_types_supported: ['password', 'refresh_token', ...(deps.codeGrant ? ['authorization_code'] : [])],
      code_challenge_methods_supported: ['S256'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['none'],
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'jti'],
    };
  });

  return router;
}

async function recordLogin(deps: OAuthDeps, username: string) {
  const def = deps.kinds.byGroupResource(iamGroup, 'users');
  if (!def) return;
  try {
    await deps.service.patch(def, '', username, 'merge', { status: { lastLoginTime: new Date().toISOString() } }, {}, { subresource: 'status' });
  } catch (e) {
    deps.logger.warn({ event: 'login.record-failed', username, err: (e as Error).message }, 'could not record the login time');
  }
}
