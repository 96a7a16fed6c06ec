import { createHash, randomBytes } from 'node:crypto';
import Router from '@koa/router';
import * as oidc from 'openid-client';
import type { Logger } from 'pino';
import { ApiError } from '../api/status.js';
import type { AppContext, AppState } from '../http/app-state.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import { iamGroup } from '../schemas/iam.js';
import type { KubeObject } from '../store/resource-store.js';
import { secretDigest, type AuthorizationCodes, type ExternalLoginStates } from './authorization-codes.js';
import { isLoopback, type ExternalIdentity, type IdentityProvider } from './identity-providers.js';
import { sourceAddress, touchLastLogin, type LoginRecords } from './login-records.js';
import type { UserDirectory } from './user-directory.js';

export const identityProviderAnnotation = 'iam.mortise.io/identity-provider';
export const originUidAnnotation = 'iam.mortise.io/origin-uid';

export interface ExternalLoginDeps {
  providers: IdentityProvider[];
  service: ResourceService;
  kinds: KindRegistry;
  users: UserDirectory;
  codes: AuthorizationCodes;
  states: ExternalLoginStates;
  loginRecords: LoginRecords;
  /** Client ids the issuer knows. */
  clients: string[];
  defaultClientId: string;
  issuer: () => string;
  logger: Logger;
}

/**
 * Logging in through an external OpenID Connect provider, authorization-code flow on both sides:
 *
 *   client → GET /oauth/authorize?idp=…        (we check the client and its redirect URI)
 *          → provider's authorization endpoint (with our own state, nonce and PKCE)
 *          → GET /oauth/callback/<idp>         (we exchange its code, verify its ID token, map the user)
 *          → client's redirect_uri?code=&state= (a one-time code of ours, 60 s)
 *   client → POST /oauth/token grant_type=authorization_code (+ its PKCE verifier) → our tokens
 */
export function externalLoginRouter(deps: ExternalLoginDeps): Router<AppState> {
  const router = new Router<AppState>();
  const byName = new Map(deps.providers.map((p) => [p.name, p]));

  router.get('/oauth/authorize', async (ctx) => {
    ctx.state.routeLabel = 'oauth/authorize';
    const q = ctx.URL.searchParams;
    const clientId = q.get('client_id') || deps.defaultClientId;
    const redirectUri = q.get('redirect_uri') ?? '';
    // Until the client and its redirect URI are known good, errors are shown, never redirected.
    if (!deps.clients.includes(clientId)) return errorPage(ctx, 400, 'invalid_client', `unknown client_id "${clientId}"`);
    if (!redirectUri) return errorPage(ctx, 400, 'invalid_request', 'redirect_uri is required');
    const why = redirectUriProblem(redirectUri, deps.issuer());
    if (why) return errorPage(ctx, 400, 'invalid_request', `redirect_uri "${redirectUri}" is not allowed: ${why}`);

    const clientState = q.get('state') ?? undefined;
    const back = (error: string, description: string) => redirectBack(ctx, redirectUri, { error, error_description: description, state: clientState, iss: deps.issuer() });
    if (q.get('response_type') !== 'code') return back('unsupported_response_type', `response_type must be "code" (got "${q.get('response_type') ?? ''}")`);
    const challenge = q.get('code_challenge') ?? '';
    if (!challenge) return back('invalid_request', 'code_challenge is required (PKCE with S256)');
    if ((q.get('code_challenge_method') ?? 'plain') !== 'S256') return back('invalid_request', 'code_challenge_method must be "S256"');
    if (!/^[A-Za-z0-9_-]{43}$/.test(challenge)) return back('invalid_request', 'code_challenge must be the base64url SHA-256 of the code_verifier (43 characters)');
    const configured = [...byName.keys()];
    const idp = q.get('idp') ?? (configured.length === 1 ? configured[0]! : '');
    const provider = byName.get(idp);
    if (!provider) {
      const known = configured.length ? `configured: ${configured.map((n) => `"${n}"`).join(', ')}` : 'no identity provider is configured';
      return back('invalid_request', idp ? `unknown identity provider "${idp}" (${known})` : `idp is required (${known})`);
    }

    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const binding = randomBytes(32).toString('base64url');
    let target: URL;
    try {
      target = await provider.authorizationUrl(callbackUrl(deps, idp), state, nonce, codeVerifier);
    } catch (e) {
      deps.logger.warn({ event: 'oidc.discovery-failed', provider: idp, err: (e as Error).message }, 'identity provider unreachable');
      return back('temporarily_unavailable', `the identity provider "${idp}" could not be reached: ${(e as Error).message}`);
    }
    const saved = await deps.states.save(state, { provider: idp, clientId, redirectUri, clientState, codeChallenge: challenge, nonce, codeVerifier, browserBinding: secretDigest(binding) });
    if (!saved) return back('temporarily_unavailable', 'too many logins are in progress: try again in a few minutes');
    // Bind the login to this browser: the callback must come back with this cookie.
    setCookie(ctx, bindingCookie(state), binding, { maxAgeSeconds: 600, secure: deps.issuer().startsWith('https:') });
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(target.href);
  });

  router.get('/oauth/callback/:idp', async (ctx) => {
    ctx.state.routeLabel = 'oauth/callback';
    const idp = ctx.params.idp!;
    const q = ctx.URL.searchParams;
    const state = q.get('state') ?? '';
    if (!byName.has(idp)) return errorPage(ctx, 404, 'invalid_request', `unknown identity provider "${idp}"`);
    if (!state) return errorPage(ctx, 400, 'invalid_request', 'the callback has no state parameter');
    const login = await deps.states.take(state);
    if (!login) return errorPage(ctx, 400, 'invalid_request', 'unknown or expired login state: the login was already completed, took longer than 10 minutes, or was not started here; start it again');
    if (login.provider !== idp) return errorPage(ctx, 400, 'invalid_request', `the login was started with the identity provider "${login.provider}", not "${idp}"`);
    const cookieName = bindingCookie(state);
    const cookie = ctx.cookies.get(cookieName);
    setCookie(ctx, cookieName, '', { maxAgeSeconds: 0, secure: deps.issuer().startsWith('https:') });
    if (!cookie || secretDigest(cookie) !== login.browserBinding) {
      return errorPage(ctx, 400, 'invalid_request', 'this login was started in another browser (its login cookie is missing or does not match): start it again from here');
    }
    const provider = byName.get(idp)!;
    const back = (error: string, description: string) => redirectBack(ctx, login.redirectUri, { error, error_description: description, state: login.clientState, iss: deps.issuer() });
    const attempt = { type: 'OAuth' as const, provider: idp, clientId: login.clientId, sourceIP: sourceAddress(ctx.ip), userAgent: ctx.get('user-agent') || undefined };

    const providerError = q.get('error');
    if (providerError) {
      const detail = q.get('error_description');
      return back('access_denied', `the identity provider "${idp}" did not log you in: ${providerError}${detail ? ` (${detail})` : ''}`);
    }
    let identity: ExternalIdentity;
    try {
      identity = await provider.complete(callbackUrl(deps, idp), ctx.URL.search, state, login.nonce, login.codeVerifier);
    } catch (e) {
      deps.logger.warn({ event: 'oidc.callback-failed', provider: idp, err: (e as Error).message }, 'external login could not be verified');
      return back('access_denied', `the login at "${idp}" could not be verified: ${(e as Error).message}`);
    }

    const mapped = await mapUser(deps, provider, identity);
    if ('error' in mapped) {
      if (mapped.username) await deps.loginRecords.record(mapped.username, { ...attempt, success: false, reason: mapped.error });
      deps.logger.info({ event: 'login.failed', provider: idp, subject: identity.subject, why: mapped.error }, 'external login refused');
      return back('access_denied', mapped.error);
    }
    const username = mapped.username;
    const user = await deps.users.lookup(username);
    if (!user || user.state === 'Disabled') {
      const reason = `the user "${username}" is disabled`;
      await deps.loginRecords.record(username, { ...attempt, success: false, reason });
      deps.logger.info({ event: 'login.failed', provider: idp, username, why: 'disabled' }, 'external login refused');
      return back('access_denied', reason);
    }
    const code = await deps.codes.issue({ username, clientId: login.clientId, redirectUri: login.redirectUri, codeChallenge: login.codeChallenge, provider: idp });
    await deps.loginRecords.record(username, { ...attempt, success: true });
    await touchLastLogin(deps.service, deps.kinds, username).catch((e: Error) => deps.logger.warn({ event: 'login.record-failed', username, err: e.message }, 'could not record the login time'));
    deps.logger.info({ event: 'login.succeeded', username, provider: idp, clientId: login.clientId, remote: attempt.sourceIP }, 'login');
    redirectBack(ctx, login.redirectUri, { code, state: login.clientState, iss: deps.issuer() });
  });

  return router;
}

const callbackUrl = (deps: ExternalLoginDeps, idp: string) => `${deps.issuer()}/oauth/callback/${idp}`;
const bindingCookie = (state: string) => `mortise_login_${createHash('sha256').update(state).digest('hex').slice(0, 16)}`;

/**
 * Redirect URIs a client may use: pages of the issuer's own origin (the console) and, for
 * command-line tools, any port on the loopback interface over http (RFC 8252 §7.3).
 */
export function redirectUriProblem(uri: string, issuer: string): string | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return 'it is not an absolute URL';
  }
  if (u.hash) return 'it must not have a fragment';
  if (u.username || u.password) return 'it must not carry credentials';
  if (issuer && u.origin === new URL(issuer).origin) return undefined;
  if (u.protocol === 'http:' && isLoopback(u.hostname) && u.hostname !== '0.0.0.0') return undefined;
  return `only pages of ${issuer ? new URL(issuer).origin : 'the issuer'} and http://127.0.0.1:<port>, http://localhost:<port> or http://[::1]:<port> (for command-line tools) may receive codes`;
}

function redirectBack(ctx: AppContext, redirectUri: string, params: Record<string, string | undefined>): void {
  const target = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) target.searchParams.set(k, v);
  ctx.set('Cache-Control', 'no-store');
  ctx.redirect(target.href);
}

function setCookie(ctx: AppContext, name: string, value: string, opts: { maxAgeSeconds: number; secure: boolean }): void {
  const parts = [`${name}=${value}`, 'Path=/oauth/callback/', `Max-Age=${opts.maxAgeSeconds}`, 'HttpOnly', 'SameSite=Lax'];
  if (opts.secure) parts.push('Secure');
  ctx.append('Set-Cookie', parts.join('; '));
}

/** An error the client cannot be told by redirect: a page for browsers, JSON for programs. */
function errorPage(ctx: AppContext, status: number, error: string, description: string): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  if (ctx.accepts('json', 'html') === 'html') {
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = `<!doctype html><html><head><meta charset="utf-8"><title>Login failed</title></head><body><h1>Login failed</h1><p>${escapeHtml(description)}</p><p><code>${escapeHtml(error)}</code></p></body></html>`;
    return;
  }
  ctx.body = { error, error_description: description };
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

type Mapped = { username: string } | { error: string; username?: string };

/** The User an external identity logs in as (creating it for `auto` providers). */
async function mapUser(deps: ExternalLoginDeps, provider: IdentityProvider, id: ExternalIdentity): Promise<Mapped> {
  const def = deps.kinds.byGroupResource(iamGroup, 'users')!;
  const { items } = await deps.service.store.list(deps.service.ref(def));
  const linked = items.find((u) => isLinked(u, provider.name, id.subject));
  if (linked) return { username: linked.metadata.name! };
  const emailClaim = provider.settings.emailClaim ?? 'email';
  const email = typeof id.claims[emailClaim] === 'string' ? (id.claims[emailClaim] as string) : undefined;

  if (provider.settings.mappingMethod === 'lookup') {
    if (!email) return { error: `the identity provider "${provider.name}" gave no "${emailClaim}" claim, and its users are matched to Mortise users by email` };
    if (id.claims.email_verified === false) return { error: `the email "${email}" is not verified at the identity provider "${provider.name}"` };
    const matches = items.filter((u) => ((u.spec as { email?: string } | undefined)?.email ?? '').toLowerCase() === email.toLowerCase());
    if (matches.length === 0) return { error: `no Mortise user has the email "${email}": the identity provider "${provider.name}" only logs in existing users, so an administrator must create one first` };
    if (matches.length > 1) return { error: `several Mortise users have the email "${email}": an administrator must make it unique` };
    return { username: matches[0]!.metadata.name! };
  }

  const usernameClaim = provider.settings.usernameClaim ?? 'preferred_username';
  const claimed = typeof id.claims[usernameClaim] === 'string' && id.claims[usernameClaim] ? (id.claims[usernameClaim] as string) : undefined;
  const base = toUsername(claimed ?? email?.split('@')[0] ?? id.subject) || 'user';
  const suffix = createHash('sha256').update(`${provider.name}\u0000${id.subject}`).digest('hex').slice(0, 6);
  // Never take over an existing user of the same name: fall back to a name unique to this identity.
  for (const name of [base, `${base.slice(0, 56)}-${suffix}`]) {
    const existing = await deps.service.getStored(def, '', name);
    if (existing) {
      if (isLinked(existing, provider.name, id.subject)) return { username: name };
      continue;
    }
    const displayName = typeof id.claims.name === 'string' ? id.claims.name : claimed;
    try {
      await deps.service.create(def, '', {
        apiVersion: `${iamGroup}/v1alpha1`, kind: 'User',
        metadata: {
          name,
          labels: { [identityProviderAnnotation]: provider.name },
          annotations: { [identityProviderAnnotation]: provider.name, [originUidAnnotation]: id.subject },
        },
        spec: { ...(email && /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email) ? { email } : {}), ...(displayName ? { displayName: displayName.slice(0, 256) } : {}) },
      }, {});
      deps.logger.info({ event: 'user.created-from-idp', username: name, provider: provider.name, subject: id.subject }, 'created a user for an external identity');
      return { username: name };
    } catch (e) {
      // Created in a race by a parallel first login of the same identity (or someone else).
      if (e instanceof ApiError && e.code === 409) {
        const now = await deps.service.getStored(def, '', name);
        if (now && isLinked(now, provider.name, id.subject)) return { username: name };
        continue;
      }
      throw e;
    }
  }
  return { error: `could not choose a user name for "${claimed ?? id.subject}" from "${provider.name}": the names are taken` };
}

function isLinked(u: KubeObject, provider: string, subject: string): boolean {
  const a = u.metadata.annotations ?? {};
  return a[identityProviderAnnotation] === provider && a[originUidAnnotation] === subject;
}

/** A claim turned into a User name: a DNS label (lowercase letters, digits, "-"), at most 63 characters. */
export function toUsername(raw: string): string {
  return raw
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
}
