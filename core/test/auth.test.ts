import { request as httpRequest } from 'node:http';
import { SignJWT, createRemoteJWKSet, decodeProtectedHeader, generateKeyPair, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPublic, publicRoutes } from '../src/http/public-routes.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminPassword, call, startTestCore, type TestCore } from './support/test-core.js';
import { concretePaths, routerLayers } from './support/route-inventory.js';

// The core as an OAuth2/OIDC issuer, and the pipeline that authenticates every request.

interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
}
interface OAuthError {
  error: string;
  error_description: string;
}
interface Status {
  kind: string;
  apiVersion: string;
  status: string;
  reason: string;
  message: string;
  code: number;
}

const users = '/apis/iam.mortise.io/v1alpha1/users';
const workspaces = '/apis/tenant.mortise.io/v1alpha1/workspaces';

describe('authentication and authorization', () => {
  let t: TestCore;

  const token = (form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${t.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form),
    });
  const grant = async (form: Record<string, string>): Promise<TokenResponse> => {
    const res = await token(form);
    const body = await res.json();
    if (res.status !== 200) throw new Error(`token endpoint: ${res.status} ${JSON.stringify(body)}`);
    return body as TokenResponse;
  };
  const passwordGrant = (username: string, password: string, extra: Record<string, string> = {}) =>
    grant({ grant_type: 'password', username, password, ...extra });
  const as = (bearer: string | undefined, path: string, init: RequestInit & { json?: unknown } = {}) => call(t.url, bearer, path, init);

  const createUser = async (name: string, password: string) => {
    const res = await t.api(users, { method: 'POST', json: { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'User', metadata: { name }, spec: { email: `${name}@example.com`, password } } });
    expect(res.status, await res.clone().text()).toBe(201);
    return res.json() as Promise<{ spec: Record<string, unknown> }>;
  };

  beforeAll(async () => {
    t = await startTestCore();
    await createUser('bob', 'bob-password-123');
  });
  afterAll(async () => t?.close());

  describe('the token endpoint', () => {
    it('password grant, form-encoded, client_id optional', async () => {
      const res = await token({ grant_type: 'password', username: 'admin', password: 'admin-password-for-tests' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const body = (await res.json()) as TokenResponse;
      expect(body.token_type).toBe('Bearer');
      expect(body.expires_in).toBeGreaterThan(0);
      expect(body.access_token.split('.')).toHaveLength(3);
      expect(typeof body.refresh_token).toBe('string');
      expect((await as(body.access_token, workspaces)).status).toBe(200);

      const viaCli = await passwordGrant('admin', 'admin-password-for-tests', { client_id: 'kubectl' });
      expect((await as(viaCli.access_token, workspaces)).status).toBe(200);
    });

    it('wrong password or unknown user: 400 invalid_grant, same answer for both', async () => {
      for (const [username, password] of [['admin', 'not-the-password'], ['nobody', 'whatever-password']]) {
        const res = await token({ grant_type: 'password', username: username!, password: password! });
        expect(res.status).toBe(400);
        expect(res.headers.get('cache-control')).toBe('no-store');
        const body = (await res.json()) as OAuthError;
        expect(body.error).toBe('invalid_grant');
        expect(body.error_description).toBe('incorrect username or password');
        expect(body).not.toHaveProperty('access_token');
      }
    });

    it('an unknown user takes as long to refuse as a wrong password (no username oracle)', async () => {
      for (const n of [1, 2, 3, 4, 5]) await createUser(`timing${n}`, `timing-password-${n}`);
      const time = async (username: string) => {
        const started = performance.now();
        const res = await token({ grant_type: 'password', username, password: 'not-the-password' });
        expect(res.status).toBe(400);
        return performance.now() - started;
      };
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const known: number[] = [];
      const unknown: number[] = [];
      // Interleaved, one failure per name (the login throttle counts failures per name).
      for (const n of [1, 2, 3, 4, 5]) {
        known.push(await time(`timing${n}`));
        unknown.push(await time(`nobody-${n}-${Date.now()}`));
      }
      expect(median(unknown), `unknown ${unknown.map(Math.round)} ms vs known ${known.map(Math.round)} ms`).toBeGreaterThan(median(known) * 0.3);
    });

    it('missing fields and unknown grant types are OAuth errors', async () => {
      let res = await token({ grant_type: 'password', username: 'admin' });
      expect(res.status).toBe(400);
      expect(((await res.json()) as OAuthError).error).toBe('invalid_request');
      res = await token({ grant_type: 'client_credentials' });
      expect(res.status).toBe(400);
      expect(((await res.json()) as OAuthError).error).toBe('unsupported_grant_type');
    });

    it('unknown client: 401 invalid_client', async () => {
      const res = await token({ grant_type: 'password', username: 'admin', password: 'admin-password-for-tests', client_id: 'evil-app' });
      expect(res.status).toBe(401);
      const body = (await res.json()) as OAuthError;
      expect(body.error).toBe('invalid_client');
      expect(body.error_description).toContain('evil-app');
    });

    it('refresh_token grant rotates; reusing an old refresh token revokes the whole family', async () => {
      const first = await passwordGrant('bob', 'bob-password-123');
      const second = await grant({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
      expect(second.token_type).toBe('Bearer');
      expect(second.refresh_token).not.toBe(first.refresh_token);
      expect(second.access_token).not.toBe(first.access_token);
      const me = await jwtVerify(second.access_token, createRemoteJWKSet(new URL(`${t.url}/oauth/keys`)), { issuer: t.url });
      expect(me.payload.sub).toBe('bob');
      const third = await grant({ grant_type: 'refresh_token', refresh_token: second.refresh_token });

      // The first refresh token again: a leak. Refused, and the session ends.
      const reuse = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
      expect(reuse.status).toBe(400);
      const reuseBody = (await reuse.json()) as OAuthError;
      expect(reuseBody.error).toBe('invalid_grant');
      expect(reuseBody.error_description).toMatch(/already used/);
      const newest = await token({ grant_type: 'refresh_token', refresh_token: third.refresh_token });
      expect(newest.status).toBe(400);
      expect(((await newest.json()) as OAuthError).error).toBe('invalid_grant');

      // Another session of the same user is not affected.
      const other = await passwordGrant('bob', 'bob-password-123');
      expect((await token({ grant_type: 'refresh_token', refresh_token: other.refresh_token })).status).toBe(200);
    });

    it('a refresh token only works for the client it was issued to', async () => {
      const s = await passwordGrant('bob', 'bob-password-123', { client_id: 'mortise-cli' });
      const res = await token({ grant_type: 'refresh_token', refresh_token: s.refresh_token, client_id: 'kubectl' });
      expect(res.status).toBe(400);
      expect(((await res.json()) as OAuthError).error).toBe('invalid_grant');
      expect((await token({ grant_type: 'refresh_token', refresh_token: s.refresh_token, client_id: 'mortise-cli' })).status).toBe(200);
    });

    it('garbage refresh tokens are invalid_grant', async () => {
      const res = await token({ grant_type: 'refresh_token', refresh_token: 'mrt_not-a-real-token' });
      expect(res.status).toBe(400);
      expect(((await res.json()) as OAuthError).error).toBe('invalid_grant');
    });

    it('POST /oauth/revoke ends a refresh token (RFC 7009)', async () => {
      const s = await passwordGrant('bob', 'bob-password-123');
      const res = await fetch(`${t.url}/oauth/revoke`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: s.refresh_token, token_type_hint: 'refresh_token' }),
      });
      expect(res.status).toBe(200);
      const after = await token({ grant_type: 'refresh_token', refresh_token: s.refresh_token });
      expect(after.status).toBe(400);
      expect(((await after.json()) as OAuthError).error_description).toMatch(/revoked/);
      // The access token issued with it ends too, not an hour later.
      const api = await fetch(`${t.url}/api/v1/namespaces`, { headers: { authorization: `Bearer ${s.access_token}` } });
      expect(api.status).toBe(401);
      // Unknown tokens are 200 too, so revocation reveals nothing.
      const unknown = await fetch(`${t.url}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=nope' });
      expect(unknown.status).toBe(200);
    });
  });

  describe('the issuer', () => {
    it('/.well-known/openid-configuration', async () => {
      const res = await fetch(`${t.url}/.well-known/openid-configuration`);
      expect(res.status).toBe(200);
      const doc = (await res.json()) as Record<string, unknown>;
      expect(doc.issuer).toBe(t.url);
      expect(doc.token_endpoint).toBe(`${t.url}/oauth/token`);
      expect(doc.revocation_endpoint).toBe(`${t.url}/oauth/revoke`);
      expect(doc.jwks_uri).toBe(`${t.url}/oauth/keys`);
      expect(doc.grant_types_supported).toEqual(expect.arrayContaining(['password', 'refresh_token']));
      expect(doc.id_token_signing_alg_values_supported).toContain('RS256');
      expect(doc.response_types_supported).toBeInstanceOf(Array);
      expect(doc.subject_types_supported).toBeInstanceOf(Array);
    });

    it('/oauth/keys verifies access tokens with jose (issuer and audience)', async () => {
      const doc = (await (await fetch(`${t.url}/.well-known/openid-configuration`)).json()) as { jwks_uri: string; issuer: string };
      const jwks = (await (await fetch(doc.jwks_uri)).json()) as { keys: Array<Record<string, unknown>> };
      expect(jwks.keys.length).toBeGreaterThan(0);
      // A P-256 key for access tokens; an Ed25519 key for the identities forwarded to extensions.
      expect(jwks.keys.filter((k) => k.alg === 'ES256')).toEqual([expect.objectContaining({ kty: 'EC', crv: 'P-256', use: 'sig' })]);
      expect(jwks.keys.filter((k) => k.alg === 'EdDSA')).toEqual([expect.objectContaining({ kty: 'OKP', crv: 'Ed25519', use: 'sig' })]);
      expect(jwks.keys).toHaveLength(2);
      for (const k of jwks.keys) {
        expect(k).not.toHaveProperty('d'); // no private parts
        expect(k).not.toHaveProperty('p');
      }
      const JWKS = createRemoteJWKSet(new URL(doc.jwks_uri));
      const { payload, protectedHeader } = await jwtVerify(t.token, JWKS, { issuer: doc.issuer, audience: 'mortise-console' });
      expect(protectedHeader.alg).toBe('ES256');
      expect(t.token.length).toBeLessThan(500);
      expect(jwks.keys.map((k) => k.kid)).toContain(protectedHeader.kid);
      expect(payload.sub).toBe('admin');
      expect(payload.exp! - payload.iat!).toBeGreaterThan(0);
      await expect(jwtVerify(t.token, JWKS, { issuer: doc.issuer, audience: 'some-other-client' })).rejects.toThrow();
      await expect(jwtVerify(t.token, JWKS, { issuer: 'https://elsewhere.example', audience: 'mortise-console' })).rejects.toThrow();
    });
  });

  describe('bearer tokens on the API', () => {
    const expect401 = async (res: Response, message?: RegExp) => {
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const body = (await res.json()) as Status;
      expect(body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 });
      if (message) expect(body.message).toMatch(message);
      return body;
    };

    it('a tampered token is 401 (signature or payload changed)', async () => {
      const [h, p, s] = t.token.split('.') as [string, string, string];
      const flip = (x: string, i: number) => x.slice(0, i) + (x[i] === 'A' ? 'B' : 'A') + x.slice(i + 1);
      await expect401(await as(`${h}.${p}.${flip(s, 10)}`, workspaces), /not valid/);
      await expect401(await as(`${h}.${flip(p, 5)}.${s}`, workspaces));
      // bob's token with the subject changed to admin keeps bob's signature: refused.
      const bob = await passwordGrant('bob', 'bob-password-123');
      const [bh, bp, bs] = bob.access_token.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(bp, 'base64url').toString()) as Record<string, unknown>;
      const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'admin' })).toString('base64url');
      await expect401(await as(`${bh}.${forged}.${bs}`, workspaces));
      await expect401(await as('not-a-jwt', workspaces));
      await expect401(await as(undefined, workspaces, { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } }), /Bearer/);
    });

    it('a token signed by some other key is 401, even with our kid', async () => {
      const kid = decodeProtectedHeader(t.token).kid!;
      const claims = { sub: 'admin', token_use: 'access' };
      // Our algorithm (ES256) and the one access tokens had before (RS256), each with a key of its own.
      for (const alg of ['ES256', 'RS256']) {
        const { privateKey } = await generateKeyPair(alg);
        const sign = (k: string | undefined) => {
          const jwt = new SignJWT(claims).setIssuer(t.url).setAudience('mortise-console').setIssuedAt().setExpirationTime('1h');
          return jwt.setProtectedHeader({ alg, ...(k ? { kid: k } : {}) }).sign(privateKey);
        };
        await expect401(await as(await sign(kid), workspaces));
        await expect401(await as(await sign(undefined), workspaces));
        await expect401(await as(await sign('unknown-kid'), workspaces));
      }
      // alg "none": an unsigned token.
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ ...claims, iss: t.url, aud: 'mortise-console', exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url')}.`;
      await expect401(await as(none, workspaces));
      // HS256 keyed with our public key (algorithm confusion).
      const jwks = (await (await fetch(`${t.url}/oauth/keys`)).json()) as { keys: Array<{ x?: string; kid: string }> };
      const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid }).setIssuer(t.url).setAudience('mortise-console').setExpirationTime('1h')
        .sign(new TextEncoder().encode(jwks.keys.find((k) => k.kid === kid)!.x!));
      await expect401(await as(hs, workspaces));
    });

    it('an expired token is 401 and says it expired', async () => {
      // A second, short-lived core: its tokens live two seconds (one could end within a moment of
      // being issued, exp counting whole seconds, and failed the first call on a loaded machine).
      const short = await startTestCore({ inMemory: true, accessTokenTtlSeconds: 2 });
      try {
        const s = (await (await fetch(`${short.url}/oauth/token`, {
          method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'password', username: 'admin', password: 'admin-password-for-tests' }),
        })).json()) as TokenResponse;
        expect(s.expires_in).toBe(2);
        expect((await call(short.url, s.access_token, workspaces)).status).toBe(200);
        await new Promise((r) => setTimeout(r, 3100));
        await expect401(await call(short.url, s.access_token, workspaces), /expired/);
        // The refresh token still gets a fresh access token.
        const res = await fetch(`${short.url}/oauth/token`, {
          method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: s.refresh_token }),
        });
        expect(res.status).toBe(200);
        expect((await call(short.url, ((await res.json()) as TokenResponse).access_token, workspaces)).status).toBe(200);
      } finally {
        await short.close();
      }
    });

    it('a refresh token is not an access token', async () => {
      const s = await passwordGrant('admin', 'admin-password-for-tests');
      await expect401(await as(s.refresh_token, workspaces));
    });
  });

  describe('passwords are write-only', () => {
    const leaks = (text: string) => /password|\$scrypt\$|bob-password-123|carol-password-1/i.test(text);

    it('never returned by create, get, list, table, watch, update or patch', async () => {
      const created = await createUser('carol', 'carol-password-1');
      expect(created.spec).not.toHaveProperty('password');
      for (const path of [`${users}/bob`, users, `${users}?labelSelector=`, `${users}/bob/status`]) {
        const res = await t.api(path);
        expect(res.status, path).toBe(200);
        expect(leaks(await res.text()), path).toBe(false);
      }
      const table = await t.api(`${users}?includeObject=Object`, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
      const tableText = await table.text();
      expect(tableText).toContain('"kind":"Table"');
      expect(leaks(tableText)).toBe(false);

      // A watch: the initial events, then a password change.
      const ac = new AbortController();
      const watch = await t.api(`${users}?watch=1`, { signal: ac.signal });
      expect(watch.status).toBe(200);
      const reader = watch.body!.getReader();
      let text = '';
      const changed = await t.api(`${users}/carol`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { password: 'carol-password-2', displayName: 'Carol' } } });
      expect(changed.status).toBe(200);
      expect(leaks(await changed.text())).toBe(false);
      while (!text.includes('"displayName":"Carol"')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
      }
      ac.abort();
      expect(text).toContain('"name":"bob"');
      expect(text).toContain('"type":"MODIFIED"');
      expect(leaks(text)).toBe(false);

      const current = (await (await t.api(`${users}/carol`)).json()) as { metadata: object; spec: object };
      const put = await t.api(`${users}/carol`, { method: 'PUT', json: { ...current, spec: { ...current.spec, password: 'carol-password-3' } } });
      expect(put.status).toBe(200);
      expect(leaks(await put.text())).toBe(false);
      // The new password works, the old ones do not.
      await passwordGrant('carol', 'carol-password-3');
      expect((await token({ grant_type: 'password', username: 'carol', password: 'carol-password-2' })).status).toBe(400);
      // An update that leaves the password out keeps it.
      const again = (await (await t.api(`${users}/carol`)).json()) as { metadata: object; spec: object };
      expect((await t.api(`${users}/carol`, { method: 'PUT', json: { ...again, spec: { ...again.spec, lang: 'en' } } })).status).toBe(200);
      await passwordGrant('carol', 'carol-password-3');
    });

    it('not even through the last-applied-configuration annotation kubectl apply writes', async () => {
      const applied = { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'User', metadata: { name: 'dave' }, spec: { email: 'dave@example.com', password: 'dave-password-1' } };
      const body = { ...applied, metadata: { ...applied.metadata, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(applied) } } };
      const res = await t.api(users, { method: 'POST', json: body });
      expect(res.status).toBe(201);
      for (const text of [await res.text(), await (await t.api(`${users}/dave`)).text(), await (await t.api(users)).text()]) {
        expect(text).not.toContain('dave-password-1');
        expect(text).not.toContain('$scrypt$');
      }
      await passwordGrant('dave', 'dave-password-1');
      // The same through a patch (what a second `kubectl apply` sends).
      const next = { ...applied, spec: { ...applied.spec, password: 'dave-password-2' } };
      const patched = await t.api(`${users}/dave`, {
        method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' },
        json: { metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(next) } }, spec: { password: 'dave-password-2' } },
      });
      expect(patched.status).toBe(200);
      const patchedText = await patched.text();
      expect(patchedText).not.toContain('dave-password-2');
      expect(patchedText).not.toContain('$scrypt$');
      await passwordGrant('dave', 'dave-password-2');
    });
  });

  describe('authorization', () => {
    it('a user without roles gets 403 naming what was denied', async () => {
      const bob = await passwordGrant('bob', 'bob-password-123');
      const res = await as(bob.access_token, workspaces);
      expect(res.status).toBe(403);
      const body = (await res.json()) as Status;
      expect(body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403 });
      expect(body.message).toContain('bob');
      expect(body.message).toContain('list');
      expect(body.message).toContain('"workspaces"');
      expect(body.message).toContain('tenant.mortise.io');
      const create = await as(bob.access_token, '/api/v1/namespaces/default/things', { method: 'POST', json: {} });
      expect(create.status).toBe(403);
      expect(((await create.json()) as Status).message).toMatch(/bob.*create.*"things".*namespace "default"/);
      const user = await as(bob.access_token, `${users}/admin`, { method: 'DELETE' });
      expect(user.status).toBe(403);
      expect((await t.api(`${users}/admin`)).status).toBe(200);
    });
  });

  describe('anonymous callers', () => {
    /** Any method, including ones fetch refuses to send; undefined when the connection is refused or cut. */
    const raw = (method: string, path: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; body: string } | undefined>((resolve) => {
        const u = new URL(t.url);
        const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers: { ...headers, connection: 'close' } }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
          res.on('error', () => resolve(undefined));
        });
        req.on('error', () => resolve(undefined));
        req.setTimeout(10_000, () => req.destroy());
        req.end();
      });

    const samples: Record<string, string[]> = { group: ['tenant.mortise.io', 'iam.mortise.io'], version: ['v1alpha1'] };
    const restSamples = (path: string) => path.startsWith('/api/v1/')
      ? ['namespaces', 'namespaces/default', 'namespaces/default/status', 'namespaces?watch=1']
      : ['workspaces', 'workspaces/w1', 'users/admin', 'users/admin/status', 'workspaces?watch=1'];

    it('get 401 on every route that is not allowlisted, and reach the allowlisted ones', async () => {
      const stack = routerLayers(t.core);
      expect(stack.length).toBeGreaterThan(10);
      const reached: Array<{ method: string; path: string }> = [];
      let checked = 0;
      for (const layer of stack) {
        for (const method of new Set(layer.methods)) {
          for (const path of concretePaths(layer.path, samples, restSamples)) {
            const res = await raw(method, path);
            checked++;
            if (isPublic(method, path.split('?')[0]!)) {
              reached.push({ method: method === 'HEAD' ? 'GET' : method, path });
              expect(res, `${method} ${path}`).toBeDefined();
              expect(res!.status, `${method} ${path} is public`).not.toBe(401);
              expect(res!.status, `${method} ${path} is public`).not.toBe(403);
              continue;
            }
            if (method === 'CONNECT') {
              // Node never hands CONNECT to the app: the connection is refused outright.
              expect(res === undefined || res.status !== 200, `${method} ${path}`).toBe(true);
              continue;
            }
            expect(res, `${method} ${path}`).toBeDefined();
            expect(res!.status, `${method} ${path} -> ${res!.status} ${res!.body.slice(0, 200)}`).toBe(401);
            if (method !== 'HEAD') expect(JSON.parse(res!.body)).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
          }
        }
      }
      expect(checked).toBeGreaterThan(200);
      // Every allowlisted route exists in the router and was reached.
      for (const r of publicRoutes) {
        const hit = reached.some((x) => x.method === r.method && (typeof r.path === 'string' ? x.path === r.path : r.path.test(x.path)));
        expect(hit, `${r.method} ${String(r.path)} is allowlisted but no route serves it`).toBe(true);
      }
    });

    it('get 401 on paths no route knows, and on case or slash variants of public ones', async () => {
      for (const [method, path] of [['GET', '/nope'], ['GET', '/kapis/tenant.mortise.io/v1alpha1/workspaces'], ['POST', '/healthz'], ['GET', '/HEALTHZ/../metrics'], ['GET', '/Metrics'], ['GET', '/metrics/'], ['GET', '//metrics'], ['GET', '/oauth/keys/../../metrics'], ['POST', '/hooks/devops/push']]) {
        const res = await raw(method!, path!);
        expect(res?.status, `${method} ${path}`).toBe(401);
      }
    });

    it('reach login, discovery of the issuer and health', async () => {
      expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
      expect((await fetch(`${t.url}/oauth/keys`)).status).toBe(200);
      expect((await fetch(`${t.url}/.well-known/openid-configuration`)).status).toBe(200);
      expect((await token({ grant_type: 'password', username: 'admin', password: 'admin-password-for-tests' })).status).toBe(200);
      // A stale token on the login route does not block logging in again.
      expect((await token({ grant_type: 'password', username: 'admin', password: 'admin-password-for-tests' }, { authorization: 'Bearer expired.garbage.token' })).status).toBe(200);
    });
  });

  describe('forged identity headers change nothing', () => {
    const forged: Array<Record<string, string>> = [
      { 'x-remote-user': 'admin', 'x-remote-group': 'platform-admin' },
      { 'X-Remote-User': 'admin', 'X-Remote-Extra-Scopes': 'all' },
      { 'impersonate-user': 'admin', 'impersonate-group': 'platform-admin' },
      { 'x-forwarded-user': 'admin', 'x-mortise-user': 'admin', 'remote-user': 'admin' },
    ];

    it('for anonymous callers', async () => {
      for (const headers of forged) {
        const res = await as(undefined, workspaces, { headers });
        expect(res.status, JSON.stringify(headers)).toBe(401);
      }
    });

    it('for bob', async () => {
      const bob = await passwordGrant('bob', 'bob-password-123');
      for (const headers of forged) {
        const res = await as(bob.access_token, workspaces, { headers });
        expect(res.status, JSON.stringify(headers)).toBe(403);
        expect(((await res.json()) as Status).message).toContain('bob');
      }
    });

    it('impersonation (kubectl --as) is refused, never silently answered as the caller', async () => {
      for (const headers of [{ 'impersonate-user': 'bob' }, { 'Impersonate-Group': 'system:masters' }, { 'impersonate-uid': 'x' }] as Array<Record<string, string>>) {
        const res = await t.api(workspaces, { headers });
        expect(res.status, JSON.stringify(headers)).toBe(403);
        const body = (await res.json()) as Status;
        expect(body.reason).toBe('Forbidden');
        expect(body.message).toMatch(/admin cannot impersonate.*not supported/);
      }
    });
  });

  describe('disabled users', () => {
    it('are refused at once: API 401, no login, no refresh', async () => {
      await createUser('erin', 'erin-password-1');
      const s = await passwordGrant('erin', 'erin-password-1');
      expect((await as(s.access_token, workspaces)).status).toBe(403); // authenticated, not authorized

      const res = await t.api(`${users}/erin/status`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { status: { state: 'Disabled' } } });
      expect(res.status, await res.clone().text()).toBe(200);
      expect(((await res.json()) as { status: { state: string } }).status.state).toBe('Disabled');

      const denied = await as(s.access_token, workspaces);
      expect(denied.status).toBe(401);
      expect(((await denied.json()) as Status).message).toMatch(/erin.*disabled/);
      const login = await token({ grant_type: 'password', username: 'erin', password: 'erin-password-1' });
      expect(login.status).toBe(400);
      expect(((await login.json()) as OAuthError).error).toBe('invalid_grant');
      const refresh = await token({ grant_type: 'refresh_token', refresh_token: s.refresh_token });
      expect(refresh.status).toBe(400);
      expect(((await refresh.json()) as OAuthError).error).toBe('invalid_grant');

      // Enabled again, the user may log in.
      await t.api(`${users}/erin/status`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { status: { state: 'Active' } } });
      await passwordGrant('erin', 'erin-password-1');
    });
  });
});

describe('ended sessions across a restart', () => {
  it('an access token whose session was revoked stays refused after the core restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mortise-revoked-'));
    try {
      // A fixed issuer: tokens name it, and a restarted core listens on another port.
      const issuer = 'https://mortise.test';
      let t = await startTestCore({ dataDir, issuer });
      const login = async () => (await (await fetch(`${t.url}/oauth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'admin', password: adminPassword }) })).json()) as { access_token: string; refresh_token: string };
      const ended = await login();
      const kept = await login();
      expect((await fetch(`${t.url}/oauth/revoke`, { method: 'POST', body: new URLSearchParams({ token: ended.refresh_token }) })).status).toBe(200);
      await t.close();
      t = await startTestCore({ dataDir, issuer });
      try {
        const get = (tok: string) => fetch(`${t.url}/api/v1/namespaces`, { headers: { authorization: `Bearer ${tok}` } });
        const refused = await get(ended.access_token);
        expect(refused.status).toBe(401);
        expect(((await refused.json()) as { message: string }).message).toMatch(/session .* has ended/);
        expect((await get(kept.access_token)).status).toBe(200);
      } finally {
        await t.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
