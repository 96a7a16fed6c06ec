import Router from '@koa/router';
import * as oidc from 'openid-client';
import type { AppContext, AppState } from '../http/app-state.js';
import type { ResourceStore } from '../store/resource-store.js';
import { iamGroup } from '../schemas/iam.js';
import type { CodeGrant } from './authorization-codes.js';
import type { IdentityProvider } from './identity-providers.js';
import { formOf, passwordGrant, refreshGrant, type GrantResult, type OAuthDeps } from './oauth-routes.js';
import { clearSessionCookies, csrfMatches, refreshCookie, sessionPath, setSessionCookies } from './session-cookies.js';

export interface SessionDeps extends OAuthDeps {
  store: ResourceStore;
  providers: IdentityProvider[];
  codeGrant?: CodeGrant;
}

const pkceCookie = 'mortise_pkce';
const callbackPath = `${sessionPath}/callback`;

/**
 * The console's sign-in, with the tokens kept in httpOnly cookies (see session-cookies.ts):
 *
 *   GET  /oauth/session                 who is signed in (anonymous: the identity providers to offer)
 *   POST /oauth/session                 username + password → session cookies
 *   POST /oauth/session/refresh         the core rotates the refresh token from its cookie
 *   POST /oauth/session/logout          revokes the refresh token's session and clears the cookies
 *   GET  /oauth/session/external/<idp>  signs in through an identity provider (PKCE held by the core)
 *   GET  /oauth/session/callback        … and back, with the session cookies
 *
 * Refresh and logout come from pages of this origin only: they need the CSRF header.
 */
export function sessionRouter(deps: SessionDeps): Router<AppState> {
  const router = new Router<AppState>();
  const providers = deps.providers.map((p) => ({ name: p.name, displayName: (p.settings as { displayName?: string }).displayName ?? p.name }));

  router.get(sessionPath, async (ctx) => {
    ctx.state.routeLabel = 'oauth/session';
    ctx.set('Cache-Control', 'no-store');
    const user = ctx.state.user;
    if (!user) {
      ctx.body = { authenticated: false, providers };
      return;
    }
    const stored = await deps.store.get({ group: iamGroup, resource: 'users', namespace: '', name: user.username });
    const spec = (stored?.spec ?? {}) as { displayName?: string; email?: string; lang?: string };
    ctx.body = { authenticated: true, via: user.via, user: { username: user.username, displayName: spec.displayName, email: spec.email, lang: spec.lang }, providers };
  });

  router.post(sessionPath, async (ctx) => {
    ctx.state.routeLabel = 'oauth/session';
    // A page of another site must not sign the browser in (login CSRF).
    const origin = ctx.get('origin');
    const own = `${ctx.protocol}://${ctx.host}`;
    if (origin && origin !== own) return refuse(ctx, 403, 'invalid_request', `sign-in from the origin ${origin} refused: only pages of ${own} may sign in here`);
    const form = await formOf(ctx);
    const username = form.get('username') ?? '';
    ctx.state.auditUser = username;
    answer(ctx, await passwordGrant(deps, ctx, username, form.get('password') ?? '', deps.defaultClientId), username);
  });

  router.post(`${sessionPath}/refresh`, async (ctx) => {
    ctx.state.routeLabel = 'oauth/session/refresh';
    const token = ctx.cookies.get(refreshCookie) ?? '';
    if (!token) return refuse(ctx, 400, 'invalid_grant', 'no session to refresh: log in');
    if (!csrfMatches(ctx.req.headers)) return refuse(ctx, 403, 'invalid_request', 'the X-CSRF-Token header must repeat the mortise_csrf cookie');
    const owner = await deps.tokens.refreshTokenOwner(token);
    answer(ctx, await refreshGrant(deps, token, deps.defaultClientId), owner);
  });

  router.post(`${sessionPath}/logout`, async (ctx) => {
    ctx.state.routeLabel = 'oauth/session/logout';
    const token = ctx.cookies.get(refreshCookie);
    // Without a session there is nothing to end; with one, only this origin's pages may end it.
    if (token && !csrfMatches(ctx.req.headers)) return refuse(ctx, 403, 'invalid_request', 'the X-CSRF-Token header must repeat the mortise_csrf cookie');
    if (token) await deps.tokens.revoke(token);
    clearSessionCookies(ctx);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { authenticated: false };
  });

  router.get(`${sessionPath}/external/:idp`, async (ctx) => {
    ctx.state.routeLabel = 'oauth/session/external';
    const idp = ctx.params.idp!;
    if (!deps.codeGrant || !deps.providers.some((p) => p.name === idp)) return backToLogin(ctx, `unknown identity provider "${idp}"`);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const target = new URL('/oauth/authorize', deps.issuer());
    target.search = new URLSearchParams({
      client_id: deps.defaultClientId, response_type: 'code', redirect_uri: `${deps.issuer()}${callbackPath}`, idp, state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).toString();
    // Lax: the way back is a top-level navigation from the identity provider.
    ctx.append('Set-Cookie', `${pkceCookie}=${state}.${verifier}; Path=${sessionPath}; Max-Age=600; HttpOnly; SameSite=Lax${ctx.protocol === 'https' ? '; Secure' : ''}`);
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(target.href);
  });

  router.get(callbackPath, async (ctx) => {
    ctx.state.routeLabel = 'oauth/session/callback';
    const q = ctx.URL.searchParams;
    const [state, verifier] = (ctx.cookies.get(pkceCookie) ?? '').split('.');
    ctx.append('Set-Cookie', `${pkceCookie}=; Path=${sessionPath}; Max-Age=0; HttpOnly; SameSite=Lax`);
    if (q.get('error')) return backToLogin(ctx, q.get('error_description') ?? q.get('error')!);
    if (!state || !verifier || q.get('state') !== state) return backToLogin(ctx, 'this sign-in was not started in this browser, or took too long: start it again');
    if (!deps.codeGrant) return backToLogin(ctx, 'no identity provider is configured');
    const form = new URLSearchParams({ code: q.get('code') ?? '', redirect_uri: `${deps.issuer()}${callbackPath}`, code_verifier: verifier });
    const result = await deps.codeGrant.exchange(form, deps.defaultClientId);
    if ('error' in result) return backToLogin(ctx, result.error_description);
    setSessionCookies(ctx, result, deps.tokens.refreshTtl);
    ctx.redirect('/');
  });

  return router;

  function answer(ctx: AppContext, result: GrantResult, username: string | undefined): void {
    if ('error' in result) {
      if (result.retryAfterSeconds !== undefined) ctx.set('Retry-After', String(result.retryAfterSeconds));
      if (result.status === 400 && result.error === 'invalid_grant') clearSessionCookies(ctx);
      return refuse(ctx, result.status, result.error, result.description);
    }
    setSessionCookies(ctx, result.tokens, deps.tokens.refreshTtl);
    ctx.body = { authenticated: true, user: { username }, expiresIn: result.tokens.expires_in };
  }
}

function refuse(ctx: AppContext, status: number, error: string, description: string): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error, error_description: description };
}

function backToLogin(ctx: AppContext, message: string): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.redirect(`/login?${new URLSearchParams({ error: message })}`);
}
