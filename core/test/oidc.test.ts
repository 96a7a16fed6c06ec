import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthorizationCodes, ExternalLoginStates } from '../src/auth/authorization-codes.js';
import { validateIdentityProviders, parseIdentityProviders } from '../src/auth/identity-providers.js';
import { redirectUriProblem, toUsername } from '../src/auth/external-login-routes.js';
import { UserDirectory } from '../src/auth/user-directory.js';
import { configFromEnv } from '../src/config.js';
import { createLogger } from '../src/ops/logger.js';
import { call, startTestCore, type TestCore } from './support/test-core.js';
import { startOidcProvider, TestBrowser, type TestOidcProvider } from './support/oidc-provider.js';

// Logging in through an external OpenID Connect provider (a real one, running in this process):
// authorization-code flow with PKCE on both sides, user mapping, and the ways it must refuse.

interface TokenResponse { access_token: string; refresh_token: string; token_type: string; expires_in: number }
interface OAuthError { error: string; error_description: string }
interface UserObject { metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec: { email?: string; displayName?: string; password?: string }; status?: { state?: string; lastLoginTime?: string } }
interface UserList { items: UserObject[] }
interface LoginRecordList { items: Array<{ spec: { type: string; success: boolean; provider?: string; reason?: string; sourceIP: string; clientId?: string } }> }

const users = '/apis/iam.mortise.io/v1alpha1/users';
const cliRedirect = 'http://127.0.0.1:38999/callback';

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

describe('external identity providers (OIDC)', () => {
  let idp: TestOidcProvider;
  let t: TestCore;

  beforeAll(async () => {
    idp = await startOidcProvider();
    const common = { type: 'oidc', issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret };
    t = await startTestCore({
      inMemory: true,
      identityProviders: validateIdentityProviders([
        { ...common, name: 'test-idp', mappingMethod: 'auto' },
        { ...common, name: 'corp', mappingMethod: 'lookup' },
      ]),
    });
    await idp.configure([`${t.url}/oauth/callback/test-idp`, `${t.url}/oauth/callback/corp`]);
    idp.accounts.set('alice-sub-1', { preferred_username: 'Alice.Smith', email: 'alice@corp.example', email_verified: true, name: 'Alice Smith' });
    idp.accounts.set('mallory-sub', { preferred_username: 'admin', email: 'mallory@corp.example', email_verified: true });
    idp.accounts.set('carl-sub', { preferred_username: 'carl', email: 'Carl@Corp.example', email_verified: true });
    idp.accounts.set('dave-sub', { preferred_username: 'dave', email: 'dave@corp.example', email_verified: true });
  });
  afterAll(async () => {
    await t?.close();
    await idp?.close();
  });

  const authorizeUrl = (params: Record<string, string>) => `${t.url}/oauth/authorize?${new URLSearchParams(params)}`;

  /** Runs the browser part: from our /oauth/authorize through the provider back to the client's redirect URI. */
  async function browserLogin(account: string, opts: { idp?: string; state?: string; redirectUri?: string; clientId?: string; browser?: TestBrowser } = {}) {
    const { verifier, challenge } = pkce();
    const redirectUri = opts.redirectUri ?? cliRedirect;
    const browser = opts.browser ?? new TestBrowser({ 'x-test-account': account, 'user-agent': 'oidc-test-browser/1.0' });
    const params: Record<string, string> = {
      client_id: opts.clientId ?? 'mortise-cli', redirect_uri: redirectUri, response_type: 'code', state: opts.state ?? 'client-state-1',
      code_challenge: challenge, code_challenge_method: 'S256', idp: opts.idp ?? 'test-idp',
    };
    const result = await browser.follow(authorizeUrl(params), (u) => u.href.startsWith(redirectUri));
    if (!result.stoppedAt) throw new Error(`the login did not come back to the client: ${result.response?.status} ${await result.response?.text()} via ${result.visited.join(' -> ')}`);
    return { landed: result.stoppedAt, verifier, redirectUri, clientId: params.client_id!, visited: result.visited };
  }

  const exchange = (form: Record<string, string>) =>
    fetch(`${t.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });

  async function loginTokens(account: string, opts: Parameters<typeof browserLogin>[1] = {}): Promise<{ tokens: TokenResponse; code: string }> {
    const login = await browserLogin(account, opts);
    const code = login.landed.searchParams.get('code');
    if (!code) throw new Error(`no code: ${login.landed.href}`);
    const res = await exchange({ grant_type: 'authorization_code', code, redirect_uri: login.redirectUri, code_verifier: login.verifier, client_id: login.clientId });
    const body = await res.json();
    if (res.status !== 200) throw new Error(`exchange: ${res.status} ${JSON.stringify(body)}`);
    return { tokens: body as TokenResponse, code };
  }

  const linkedUsers = async (provider: string) =>
    ((await (await t.api(`${users}?labelSelector=${encodeURIComponent(`iam.mortise.io/identity-provider=${provider}`)}`)).json()) as UserList).items;

  it('advertises the authorization-code flow in its discovery document', async () => {
    const doc = (await (await fetch(`${t.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(doc.authorization_endpoint).toBe(`${t.url}/oauth/authorize`);
    expect(doc.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'password', 'refresh_token']));
    expect(doc.code_challenge_methods_supported).toEqual(['S256']);
  });

  it('the full browserless code flow ends with our tokens for an auto-created user', async () => {
    const login = await browserLogin('alice-sub-1', { state: 'opaque-client-state' });
    // It went through the provider and our callback.
    expect(login.visited.some((u) => u.startsWith(idp.issuer))).toBe(true);
    expect(login.visited.some((u) => u.startsWith(`${t.url}/oauth/callback/test-idp?`))).toBe(true);
    expect(login.landed.searchParams.get('state')).toBe('opaque-client-state');
    expect(login.landed.searchParams.get('iss')).toBe(t.url);
    const code = login.landed.searchParams.get('code')!;
    expect(code).toMatch(/^mac_/);

    const res = await exchange({ grant_type: 'authorization_code', code, redirect_uri: login.redirectUri, code_verifier: login.verifier, client_id: 'mortise-cli' });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const tokens = (await res.json()) as TokenResponse;
    expect(tokens.token_type).toBe('Bearer');
    const claims = decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({ sub: 'alice-smith', aud: 'mortise-cli', iss: t.url });

    // The user was created from the claims, linked to the provider's subject, with no password.
    const user = (await (await t.api(`${users}/alice-smith`)).json()) as UserObject;
    expect(user.metadata.annotations).toMatchObject({ 'iam.mortise.io/identity-provider': 'test-idp', 'iam.mortise.io/origin-uid': 'alice-sub-1' });
    expect(user.metadata.labels).toMatchObject({ 'iam.mortise.io/identity-provider': 'test-idp' });
    expect(user.spec).toMatchObject({ email: 'alice@corp.example', displayName: 'Alice Smith' });
    expect(user.status?.lastLoginTime).toBeTruthy();

    // The tokens work on the API (a user may read itself) and refresh.
    expect((await call(t.url, tokens.access_token, `${users}/alice-smith`)).status).toBe(200);
    const refreshed = await exchange({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'mortise-cli' });
    expect(refreshed.status).toBe(200);

    const records = (await (await t.api(`/kapis/iam.mortise.io/v1alpha1/users/alice-smith/loginrecords`)).json()) as LoginRecordList;
    expect(records.items[0]!.spec).toMatchObject({ type: 'OAuth', success: true, provider: 'test-idp', sourceIP: '127.0.0.1', clientId: 'mortise-cli' });
  });

  it('the same provider user logging in again is the same User; nobody takes over an existing name', async () => {
    const { tokens } = await loginTokens('alice-sub-1');
    expect(decodeJwt(tokens.access_token).sub).toBe('alice-smith');
    expect((await linkedUsers('test-idp')).filter((u) => u.metadata.annotations?.['iam.mortise.io/origin-uid'] === 'alice-sub-1')).toHaveLength(1);

    // A provider user calling itself "admin" gets a name of its own, never the admin.
    const { tokens: mallory } = await loginTokens('mallory-sub');
    const name = decodeJwt(mallory.access_token).sub!;
    expect(name).toMatch(/^admin-[0-9a-f]{6}$/);
    expect((await call(t.url, mallory.access_token, '/apis/tenant.mortise.io/v1alpha1/workspaces')).status).toBe(403);
    const again = await loginTokens('mallory-sub');
    expect(decodeJwt(again.tokens.access_token).sub).toBe(name);
  });

  it('lookup mapping needs an existing user with the email; with one, it logs in as that user', async () => {
    const refused = await browserLogin('carl-sub', { idp: 'corp' });
    expect(refused.landed.searchParams.get('code')).toBeNull();
    expect(refused.landed.searchParams.get('error')).toBe('access_denied');
    expect(refused.landed.searchParams.get('error_description')).toBe('no Mortise user has the email "Carl@Corp.example": the identity provider "corp" only logs in existing users, so an administrator must create one first');
    expect(refused.landed.searchParams.get('state')).toBe('client-state-1');
    expect((await t.api(`${users}/carl`)).status).toBe(404);

    const created = await t.api(users, { method: 'POST', json: { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'User', metadata: { name: 'carl-jones' }, spec: { email: 'carl@corp.example' } } });
    expect(created.status).toBe(201);
    const { tokens } = await loginTokens('carl-sub', { idp: 'corp' });
    expect(decodeJwt(tokens.access_token).sub).toBe('carl-jones');
  });

  it('refuses a wrong or replayed state, and a callback in another browser', async () => {
    const bogus = await fetch(`${t.url}/oauth/callback/test-idp?code=whatever&state=not-a-state-we-issued`);
    expect(bogus.status).toBe(400);
    expect(await bogus.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/unknown or expired login state/) });
    const none = await fetch(`${t.url}/oauth/callback/test-idp?code=whatever`);
    expect(none.status).toBe(400);

    // A browser that never started the login cannot finish it (login CSRF).
    const starter = new TestBrowser({ 'x-test-account': 'alice-sub-1' });
    const { challenge } = pkce();
    const atCallback = await starter.follow(
      authorizeUrl({ client_id: 'mortise-cli', redirect_uri: cliRedirect, response_type: 'code', state: 's', code_challenge: challenge, code_challenge_method: 'S256', idp: 'test-idp' }),
      (u) => u.pathname === '/oauth/callback/test-idp',
    );
    const callbackUrl = atCallback.stoppedAt!;
    const elsewhere = await new TestBrowser().get(callbackUrl);
    expect(elsewhere.status).toBe(400);
    expect(((await elsewhere.json()) as OAuthError).error_description).toMatch(/started in another browser/);
    // The state is spent either way: the right browser cannot replay it now.
    const replay = await starter.get(callbackUrl);
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as OAuthError).error_description).toMatch(/unknown or expired login state/);
  });

  it('a code is single-use: a replay is refused and ends the session it started', async () => {
    const login = await browserLogin('alice-sub-1');
    const code = login.landed.searchParams.get('code')!;
    const form = { grant_type: 'authorization_code', code, redirect_uri: login.redirectUri, code_verifier: login.verifier, client_id: 'mortise-cli' };
    const first = await exchange(form);
    expect(first.status).toBe(200);
    const tokens = (await first.json()) as TokenResponse;
    const second = await exchange(form);
    expect(second.status).toBe(400);
    expect(await second.json()).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/already used/) });
    const refresh = await exchange({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'mortise-cli' });
    expect(refresh.status).toBe(400);
    expect(((await refresh.json()) as OAuthError).error_description).toMatch(/revoked/);
  });

  it('a bad code_verifier, another redirect_uri or another client is refused, and spends the code', async () => {
    const login = await browserLogin('alice-sub-1');
    const code = login.landed.searchParams.get('code')!;
    const bad = await exchange({ grant_type: 'authorization_code', code, redirect_uri: login.redirectUri, code_verifier: pkce().verifier, client_id: 'mortise-cli' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_grant', error_description: 'code_verifier does not match the code_challenge of the authorization request' });
    const good = await exchange({ grant_type: 'authorization_code', code, redirect_uri: login.redirectUri, code_verifier: login.verifier, client_id: 'mortise-cli' });
    expect(good.status).toBe(400);

    const l2 = await browserLogin('alice-sub-1');
    const otherUri = await exchange({ grant_type: 'authorization_code', code: l2.landed.searchParams.get('code')!, redirect_uri: 'http://127.0.0.1:38999/other', code_verifier: l2.verifier, client_id: 'mortise-cli' });
    expect(await otherUri.json()).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/redirect_uri does not match/) });

    const l3 = await browserLogin('alice-sub-1');
    const otherClient = await exchange({ grant_type: 'authorization_code', code: l3.landed.searchParams.get('code')!, redirect_uri: l3.redirectUri, code_verifier: l3.verifier, client_id: 'kubectl' });
    expect(await otherClient.json()).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/another client/) });

    const missing = await exchange({ grant_type: 'authorization_code', code: 'mac_x', redirect_uri: cliRedirect, client_id: 'mortise-cli' });
    expect(await missing.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/code_verifier is required/) });
    const unknown = await exchange({ grant_type: 'authorization_code', code: 'mac_x', redirect_uri: cliRedirect, code_verifier: pkce().verifier, client_id: 'mortise-cli' });
    expect(await unknown.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('an unregistered redirect_uri or an unknown client is shown an error, never redirected to', async () => {
    const { challenge } = pkce();
    const base = { client_id: 'mortise-cli', response_type: 'code', state: 's', code_challenge: challenge, code_challenge_method: 'S256', idp: 'test-idp' };
    for (const redirectUri of ['https://evil.example/callback', 'http://192.0.2.1:8080/cb', `${cliRedirect}#frag`, 'not a url']) {
      const res = await fetch(authorizeUrl({ ...base, redirect_uri: redirectUri }), { redirect: 'manual' });
      expect(res.status, redirectUri).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(await res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('is not allowed') });
    }
    const unknownClient = await fetch(authorizeUrl({ ...base, client_id: 'evil-app', redirect_uri: cliRedirect }), { redirect: 'manual' });
    expect(unknownClient.status).toBe(400);
    expect(((await unknownClient.json()) as OAuthError).error).toBe('invalid_client');
    // A browser gets a page, not JSON.
    const page = await fetch(authorizeUrl({ ...base, redirect_uri: 'https://evil.example/callback' }), { redirect: 'manual', headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('is not allowed');
    // Pages of the issuer's own origin (the console) are fine.
    expect(redirectUriProblem(`${t.url}/console/callback`, t.url)).toBeUndefined();
    expect(redirectUriProblem('http://localhost:1234/cb', t.url)).toBeUndefined();
    expect(redirectUriProblem('http://[::1]:1234/cb', t.url)).toBeUndefined();
    expect(redirectUriProblem('https://127.0.0.1.evil.example/cb', t.url)).toBeDefined();
  });

  it('an unknown idp, a missing PKCE challenge or a provider refusal go back to the client as errors', async () => {
    const { challenge } = pkce();
    const base = { client_id: 'mortise-cli', redirect_uri: cliRedirect, response_type: 'code', state: 'st', code_challenge: challenge, code_challenge_method: 'S256' };
    const back = async (params: Record<string, string>) => {
      const res = await fetch(authorizeUrl(params), { redirect: 'manual' });
      expect(res.status).toBe(302);
      return new URL(res.headers.get('location')!);
    };
    const unknownIdp = await back({ ...base, idp: 'nope' });
    expect(unknownIdp.href.startsWith(cliRedirect)).toBe(true);
    expect(unknownIdp.searchParams.get('error')).toBe('invalid_request');
    expect(unknownIdp.searchParams.get('error_description')).toBe('unknown identity provider "nope" (configured: "test-idp", "corp")');
    expect(unknownIdp.searchParams.get('state')).toBe('st');
    expect((await back({ ...base })).searchParams.get('error_description')).toMatch(/idp is required/);
    const noPkce = await back({ ...base, idp: 'test-idp', code_challenge: '' });
    expect(noPkce.searchParams.get('error_description')).toMatch(/code_challenge is required/);
    const plain = await back({ ...base, idp: 'test-idp', code_challenge_method: 'plain' });
    expect(plain.searchParams.get('error_description')).toMatch(/S256/);
    const token = await back({ ...base, idp: 'test-idp', response_type: 'token' });
    expect(token.searchParams.get('error')).toBe('unsupported_response_type');

    const denied = await browserLogin('deny');
    expect(denied.landed.searchParams.get('error')).toBe('access_denied');
    expect(denied.landed.searchParams.get('error_description')).toMatch(/the identity provider "test-idp" did not log you in: access_denied/);

    const unknownCallback = await fetch(`${t.url}/oauth/callback/nope?state=x&code=y`);
    expect(unknownCallback.status).toBe(404);
  });

  it('a disabled user mapped from OIDC cannot log in, nor exchange a code it got before', async () => {
    const early = await browserLogin('dave-sub');
    const earlyCode = early.landed.searchParams.get('code')!;
    const disable = await t.api(`${users}/dave/status`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { status: { state: 'Disabled' } } });
    expect(disable.status).toBe(200);

    const login = await browserLogin('dave-sub');
    expect(login.landed.searchParams.get('error')).toBe('access_denied');
    expect(login.landed.searchParams.get('error_description')).toBe('the user "dave" is disabled');
    const exchanged = await exchange({ grant_type: 'authorization_code', code: earlyCode, redirect_uri: early.redirectUri, code_verifier: early.verifier, client_id: 'mortise-cli' });
    expect(exchanged.status).toBe(400);
    expect(((await exchanged.json()) as OAuthError).error_description).toBe('the user "dave" is disabled');
    const records = (await (await t.api(`/kapis/iam.mortise.io/v1alpha1/users/dave/loginrecords`)).json()) as LoginRecordList;
    expect(records.items[0]!.spec).toMatchObject({ type: 'OAuth', success: false, provider: 'test-idp', reason: 'the user "dave" is disabled' });
    // A user from a provider has no password to log in with.
    const pw = await exchange({ grant_type: 'password', username: 'alice-smith', password: 'anything-at-all' });
    expect(pw.status).toBe(400);
  });

  it('codes expire after 60 seconds', async () => {
    let now = Date.now();
    const codes = new AuthorizationCodes(t.core.store, t.core.tokens, new UserDirectory(t.core.store), createLogger({ level: 'silent' }), { now: () => now });
    const { verifier, challenge } = pkce();
    const code = await codes.issue({ username: 'alice-smith', clientId: 'mortise-cli', redirectUri: cliRedirect, codeChallenge: challenge });
    now += 61_000;
    const result = await codes.exchange(new URLSearchParams({ code, redirect_uri: cliRedirect, code_verifier: verifier }), 'mortise-cli');
    expect(result).toEqual({ error: 'invalid_grant', error_description: 'the authorization code has expired (codes are valid for 60 seconds): log in again' });
  });

  it('bounds the logins in progress, and forgets expired ones', async () => {
    let now = Date.now() + 3_600_000; // past every state the tests above left
    const states = new ExternalLoginStates(t.core.store, () => now, 2);
    const record = { provider: 'test-idp', clientId: 'mortise-cli', redirectUri: cliRedirect, codeChallenge: 'c', nonce: 'n', codeVerifier: 'v', browserBinding: 'b' };
    expect(await states.save('s1', record)).toBe(true);
    expect(await states.save('s2', record)).toBe(true);
    expect(await states.save('s3', record)).toBe(false);
    expect(await states.take('s1')).toMatchObject({ provider: 'test-idp' });
    expect(await states.take('s1')).toBeUndefined();
    now += 11 * 60_000;
    expect(await states.take('s2')).toBeUndefined();
    expect(await states.save('s4', record)).toBe(true);
  });

  it('a user from a provider has no local password to change', async () => {
    const { tokens } = await loginTokens('alice-sub-1');
    const res = await call(t.url, tokens.access_token, '/kapis/iam.mortise.io/v1alpha1/users/alice-smith/password', { method: 'POST', json: { currentPassword: 'anything-1', password: 'new-password-1' } });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { message: string }).message).toMatch(/no local password/);
  });
});

describe('identity provider configuration', () => {
  const good = { name: 'corp', type: 'oidc', issuer: 'https://login.corp.example', clientId: 'c', clientSecret: 's', mappingMethod: 'auto' };

  it('reads MORTISE_IDENTITY_PROVIDERS as JSON and checks every field', () => {
    const cfg = configFromEnv({ MORTISE_IDENTITY_PROVIDERS: JSON.stringify([good]) });
    expect(cfg.identityProviders).toEqual([good]);
    expect(configFromEnv({}).identityProviders).toBeUndefined();
    expect(() => parseIdentityProviders('{nope')).toThrow(/MORTISE_IDENTITY_PROVIDERS is not valid JSON/);
    expect(() => parseIdentityProviders('{}')).toThrow(/must be a JSON array/);
    expect(() => validateIdentityProviders([{ ...good, type: 'saml' }])).toThrow(/identityProviders\[0\]\.type must be "oidc"/);
    expect(() => validateIdentityProviders([{ ...good, mappingMethod: 'claim' }])).toThrow(/mappingMethod must be "auto" or "lookup"/);
    expect(() => validateIdentityProviders([{ ...good, name: 'Corp_IdP' }])).toThrow(/must be a DNS label/);
    expect(() => validateIdentityProviders([good, good])).toThrow(/used twice/);
    expect(() => validateIdentityProviders([{ ...good, clientSecret: '' }])).toThrow(/clientSecret is required/);
    expect(() => validateIdentityProviders([{ ...good, issuer: 'http://login.corp.example' }])).toThrow(/plain http/);
    expect(validateIdentityProviders([{ ...good, issuer: 'http://127.0.0.1:5556' }])).toHaveLength(1);
  });

  it('turns claims into DNS-label user names', () => {
    expect(toUsername('Alice.Smith')).toBe('alice-smith');
    expect(toUsername('José Núñez')).toBe('jose-nunez');
    expect(toUsername('--weird__name--')).toBe('weird-name');
    expect(toUsername('x'.repeat(80))).toHaveLength(63);
    expect(toUsername('日本')).toBe('');
  });
});
