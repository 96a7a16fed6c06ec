import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRequestInfo } from '../src/api/request-info.js';
import { LoginRecords } from '../src/auth/login-records.js';
import { addressKey, LoginThrottle } from '../src/auth/login-throttle.js';
import { nextWholeSecond, waitUntil } from '../src/auth/user-token-revoker.js';
import { createLogger } from '../src/ops/logger.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { adminPassword, call, eventually, startTestCore, type TestCore } from './support/test-core.js';

// Issue 3, items 6 and 7: disabling users, changing passwords, login records, throttling.

interface TokenResponse { access_token: string; refresh_token: string; expires_in: number; token_type: string }
interface OAuthError { error: string; error_description: string }
interface Status { kind: string; reason: string; message: string; code: number; details?: { causes?: Array<{ field?: string; message: string }> } }
interface UserObject { metadata: { name: string; annotations?: Record<string, string> }; status?: { state?: string; lastLoginTime?: string } }
interface PasswordChange { kind: string; username: string; message: string; tokensValidAfter: string; token?: TokenResponse }
interface LoginRecordList { kind: string; items: Array<{ kind: string; metadata: { creationTimestamp: string }; spec: { type: string; success: boolean; reason?: string; sourceIP: string; userAgent?: string; clientId?: string } }> }

const users = '/apis/iam.mortise.io/v1alpha1/users';
const kapisUsers = '/kapis/iam.mortise.io/v1alpha1/users';
const sessionsRevoked = 'iam.mortise.io/sessions-revoked';
const validAfter = 'iam.mortise.io/tokens-valid-after';

function client(t: () => TestCore) {
  const tokenCall = (form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${t().url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) });
  return {
    tokenCall,
    async login(username: string, password: string, headers: Record<string, string> = {}): Promise<TokenResponse> {
      const res = await tokenCall({ grant_type: 'password', username, password }, headers);
      const body = await res.json();
      if (res.status !== 200) throw new Error(`login ${username}: ${res.status} ${JSON.stringify(body)}`);
      return body as TokenResponse;
    },
    refresh: (refreshToken: string) => tokenCall({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    as: (bearer: string | undefined, path: string, init: RequestInit & { json?: unknown } = {}) => call(t().url, bearer, path, init),
    async createUser(name: string, password: string) {
      const res = await t().api(users, { method: 'POST', json: { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'User', metadata: { name }, spec: { email: `${name}@example.com`, password } } });
      expect(res.status, await res.clone().text()).toBe(201);
    },
    setState: (name: string, state: string) =>
      t().api(`${users}/${name}/status`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { status: { state } } }),
    async user(name: string): Promise<UserObject> {
      return (await t().api(`${users}/${name}`)).json() as Promise<UserObject>;
    },
    changePassword: (bearer: string, name: string, body: Record<string, unknown>) =>
      call(t().url, bearer, `${kapisUsers}/${name}/password`, { method: 'POST', json: body }),
  };
}

describe('users', () => {
  let t: TestCore;
  const c = client(() => t);

  beforeAll(async () => {
    t = await startTestCore();
  });
  afterAll(async () => t?.close());

  describe('disable and enable', () => {
    it('a disabled user is refused at once, its sessions end for good, and it can log in again once enabled', async () => {
      await c.createUser('dora', 'dora-password-1');
      const s = await c.login('dora', 'dora-password-1');
      expect((await c.as(s.access_token, `${users}/dora`)).status).toBe(200);

      expect((await c.setState('dora', 'Disabled')).status).toBe(200);
      // The authenticator looks the user up on every request: no waiting for anything.
      const denied = await c.as(s.access_token, `${users}/dora`);
      expect(denied.status).toBe(401);
      expect(((await denied.json()) as Status).message).toMatch(/dora.*disabled/);

      // The revoker ends the sessions: refresh tokens revoked, earlier access tokens cut off.
      const revoked = await eventually(async () => {
        const u = await c.user('dora');
        return u.metadata.annotations?.[sessionsRevoked] ? u : undefined;
      }, 5000, 'the sessions of dora to be revoked');
      expect(Date.parse(revoked.metadata.annotations![validAfter]!) % 1000).toBe(0);

      const refresh = await c.refresh(s.refresh_token);
      expect(refresh.status).toBe(400);
      expect(((await refresh.json()) as OAuthError).error).toBe('invalid_grant');
      const login = await c.tokenCall({ grant_type: 'password', username: 'dora', password: 'dora-password-1' });
      expect(login.status).toBe(400);
      expect(await login.json()).toMatchObject({ error: 'invalid_grant', error_description: 'the user "dora" is disabled' });

      expect((await c.setState('dora', 'Active')).status).toBe(200);
      await eventually(async () => !(await c.user('dora')).metadata.annotations?.[sessionsRevoked], 5000, 'the revoked mark to go');
      // Old sessions stay over: the refresh token was revoked, the access token predates the cut-off.
      const oldRefresh = await c.refresh(s.refresh_token);
      expect(oldRefresh.status).toBe(400);
      expect(((await oldRefresh.json()) as OAuthError).error_description).toMatch(/revoked/);
      const oldAccess = await c.as(s.access_token, `${users}/dora`);
      expect(oldAccess.status).toBe(401);
      expect(((await oldAccess.json()) as Status).message).toMatch(/revoked/);

      // A fresh login works, at once.
      const again = await c.login('dora', 'dora-password-1');
      expect((await c.as(again.access_token, `${users}/dora`)).status).toBe(200);
      const refreshed = await c.refresh(again.refresh_token);
      expect(refreshed.status).toBe(200);
    });

    it('deleting a user revokes its refresh tokens', async () => {
      await c.createUser('fred', 'fred-password-1');
      const s = await c.login('fred', 'fred-password-1');
      expect((await t.api(`${users}/fred`, { method: 'DELETE' })).status).toBe(200);
      expect((await c.as(s.access_token, `${users}/fred`)).status).toBe(401);
      expect((await c.refresh(s.refresh_token)).status).toBe(400);
      await eventually(async () => {
        const { items } = await t.core.store.list({ group: 'internal.mortise.io', resource: 'refreshtokens' });
        return items.map((i) => i.data as { username: string; revoked: boolean }).filter((r) => r.username === 'fred').every((r) => r.revoked);
      }, 5000, 'the refresh tokens of fred to be revoked');
      // A new user of the same name does not inherit the old sessions or records. (The cut-off is
      // its creation second: a token of the old user from that very second is not told apart.)
      await waitUntil(nextWholeSecond(Date.now()));
      await c.createUser('fred', 'fred-password-2');
      expect((await c.refresh(s.refresh_token)).status).toBe(400);
      const inherited = await c.as(s.access_token, `${users}/fred`);
      expect(inherited.status).toBe(401);
      expect(((await inherited.json()) as Status).message).toMatch(/re-created/);
      expect(((await (await t.api(`${kapisUsers}/fred/loginrecords`)).json()) as LoginRecordList).items).toEqual([]);
    });
  });

  describe('access-token cut-off has second granularity', () => {
    it('tokens with iat before the cut-off second are refused, from that second on they are valid', async () => {
      await c.createUser('gus', 'gus-password-1');
      const s = await c.login('gus', 'gus-password-1');
      const iat = decodeJwt(s.access_token).iat!;
      const annotate = (value: string) => t.api(`${users}/gus`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { metadata: { annotations: { [validAfter]: value } } } });

      // Cut-off in the token's own second: the token is not before it.
      expect((await annotate(new Date(iat * 1000).toISOString())).status).toBe(200);
      expect((await c.as(s.access_token, `${users}/gus`)).status).toBe(200);
      // Cut-off half-way through that second: iat (whole seconds) cannot tell, so refuse.
      expect((await annotate(new Date(iat * 1000 + 500).toISOString())).status).toBe(200);
      expect((await c.as(s.access_token, `${users}/gus`)).status).toBe(401);
      // Cut-off the next second: refused.
      expect((await annotate(new Date((iat + 1) * 1000).toISOString())).status).toBe(200);
      const res = await c.as(s.access_token, `${users}/gus`);
      expect(res.status).toBe(401);
      expect(((await res.json()) as Status).message).toMatch(/revoked/);
    });
  });

  describe('changing passwords', () => {
    it('the admin changes its own password: current password required and checked, other sessions end, this one goes on', async () => {
      const startToken = t.token;
      const other = await c.login('admin', adminPassword);
      const mine = await c.login('admin', adminPassword);

      const missing = await c.changePassword(mine.access_token, 'admin', { password: 'new-admin-password-1' });
      expect(missing.status).toBe(422);
      expect(((await missing.json()) as Status).message).toMatch(/currentPassword: Required value: your current password is required/);

      const wrong = await c.changePassword(mine.access_token, 'admin', { currentPassword: 'not-the-password', password: 'new-admin-password-1' });
      expect(wrong.status).toBe(422);
      const wrongBody = (await wrong.json()) as Status;
      expect(wrongBody).toMatchObject({ kind: 'Status', reason: 'Invalid', code: 422 });
      expect(wrongBody.message).toMatch(/the current password is not correct/);

      const short = await c.changePassword(mine.access_token, 'admin', { currentPassword: adminPassword, password: 'short' });
      expect(short.status).toBe(422);
      expect(((await short.json()) as Status).message).toMatch(/password: Invalid value: must be at least 8 characters/);
      const same = await c.changePassword(mine.access_token, 'admin', { currentPassword: adminPassword, password: adminPassword });
      expect(same.status).toBe(422);
      expect(((await same.json()) as Status).message).toMatch(/must differ from the current one/);
      // None of the refusals changed anything.
      expect((await c.as(other.access_token, `${users}/admin`)).status).toBe(200);

      const ok = await c.changePassword(mine.access_token, 'admin', { currentPassword: adminPassword, password: 'new-admin-password-1' });
      expect(ok.status, await ok.clone().text()).toBe(200);
      expect(ok.headers.get('cache-control')).toBe('no-store');
      const body = (await ok.json()) as PasswordChange;
      expect(body).toMatchObject({ kind: 'PasswordChange', username: 'admin' });
      expect(body.token?.access_token).toBeTruthy();
      // The rest of this file goes on with the new admin token.
      const adminToken = body.token!.access_token;
      t.token = adminToken;
      t.api = (path, init = {}) => call(t.url, adminToken, path, init);
      const cutoff = Date.parse(body.tokensValidAfter);
      expect(cutoff % 1000).toBe(0);
      expect((await c.user('admin')).metadata.annotations?.[validAfter]).toBe(body.tokensValidAfter);
      // The new token is issued from the cut-off second on, so it is valid...
      expect(decodeJwt(body.token!.access_token).iat! * 1000).toBeGreaterThanOrEqual(cutoff);
      expect((await c.as(body.token!.access_token, `${users}/admin`)).status).toBe(200);

      // ...and every token from before is refused, even one issued in the same second.
      for (const old of [other.access_token, mine.access_token, startToken]) {
        const res = await c.as(old, `${users}/admin`);
        expect(res.status).toBe(401);
        expect(((await res.json()) as Status).message).toMatch(/password changed/);
      }
      for (const old of [other.refresh_token, mine.refresh_token]) {
        const res = await c.refresh(old);
        expect(res.status).toBe(400);
        expect(((await res.json()) as OAuthError).error_description).toMatch(/revoked/);
      }
      // The new refresh token works; the old password does not, the new one does.
      expect((await c.refresh(body.token!.refresh_token)).status).toBe(200);
      expect((await c.tokenCall({ grant_type: 'password', username: 'admin', password: adminPassword })).status).toBe(400);
      const fresh = await c.login('admin', 'new-admin-password-1');
      expect((await c.as(fresh.access_token, `${users}/admin`)).status).toBe(200);
    });

    it('the admin resets another user\'s password without the current one; that user\'s sessions end', async () => {
      await c.createUser('hank', 'hank-password-1');
      const s = await c.login('hank', 'hank-password-1');
      const res = await c.changePassword(t.token, 'hank', { password: 'hank-password-2' });
      expect(res.status, await res.clone().text()).toBe(200);
      const body = (await res.json()) as PasswordChange;
      expect(body.token).toBeUndefined();
      expect(body.message).toMatch(/reset/);
      expect((await c.as(s.access_token, `${users}/hank`)).status).toBe(401);
      expect((await c.refresh(s.refresh_token)).status).toBe(400);
      expect((await c.tokenCall({ grant_type: 'password', username: 'hank', password: 'hank-password-1' })).status).toBe(400);
      // Logging in right after the answer gives a valid token (the cut-off has passed).
      const fresh = await c.login('hank', 'hank-password-2');
      expect((await c.as(fresh.access_token, `${users}/hank`)).status).toBe(200);
      // The admin's own session is untouched.
      expect((await t.api(`${users}/hank`)).status).toBe(200);
    });

    it('an unknown user is 404; a body that is not an object is 400', async () => {
      expect((await c.changePassword(t.token, 'nobody', { password: 'whatever-123' })).status).toBe(404);
      const res = await call(t.url, t.token, `${kapisUsers}/hank/password`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '"x"' });
      expect(res.status).toBe(400);
    });

    // Needs RBAC's self-service rule (a user may `create users/password` on its own name).
    it('a regular user changes its own password, and cannot change anyone else\'s', async () => {
      await c.createUser('bob', 'bob-password-1');
      const s = await c.login('bob', 'bob-password-1');
      const other = await c.login('bob', 'bob-password-1');
      const wrong = await c.changePassword(s.access_token, 'bob', { currentPassword: 'bob-password-x', password: 'bob-password-2' });
      expect(wrong.status).toBe(422);
      const res = await c.changePassword(s.access_token, 'bob', { currentPassword: 'bob-password-1', password: 'bob-password-2' });
      expect(res.status, await res.clone().text()).toBe(200);
      const body = (await res.json()) as PasswordChange;
      expect((await c.as(body.token!.access_token, `${users}/bob`)).status).toBe(200);
      expect((await c.as(other.access_token, `${users}/bob`)).status).toBe(401);
      // Someone else's password: not without the right to update users.
      const theirs = await c.changePassword(body.token!.access_token, 'hank', { password: 'taken-over-123' });
      expect(theirs.status).toBe(403);
      expect(((await theirs.json()) as Status).message).toMatch(/bob cannot/);
      await c.login('hank', 'hank-password-2');
    });
  });

  describe('login records', () => {
    it('keeps every attempt with address, user agent, client and outcome, newest first; lastLoginTime is set', async () => {
      await c.createUser('carol', 'carol-password-1');
      const ua = { 'user-agent': 'records-test/1.0' };
      expect((await c.tokenCall({ grant_type: 'password', username: 'carol', password: 'wrong-password' }, ua)).status).toBe(400);
      await c.login('carol', 'carol-password-1', ua);
      expect((await c.setState('carol', 'Disabled')).status).toBe(200);
      expect((await c.tokenCall({ grant_type: 'password', username: 'carol', password: 'carol-password-1', client_id: 'mortise-cli' }, ua)).status).toBe(400);
      expect((await c.setState('carol', 'Active')).status).toBe(200);

      const res = await t.api(`${kapisUsers}/carol/loginrecords`);
      expect(res.status, await res.clone().text()).toBe(200);
      const list = (await res.json()) as LoginRecordList;
      expect(list.kind).toBe('LoginRecordList');
      expect(list.items.map((i) => [i.spec.success, i.spec.reason ?? ''])).toEqual([
        [false, 'the user is disabled'],
        [true, ''],
        [false, 'incorrect password'],
      ]);
      for (const item of list.items) {
        expect(item.kind).toBe('LoginRecord');
        expect(item.spec).toMatchObject({ type: 'Token', sourceIP: '127.0.0.1', userAgent: 'records-test/1.0' });
      }
      expect(list.items[0]!.spec.clientId).toBe('mortise-cli');
      expect(list.items[1]!.spec.clientId).toBe('mortise-console');
      const times = list.items.map((i) => Date.parse(i.metadata.creationTimestamp));
      expect([...times].sort((a, b) => b - a)).toEqual(times);
      expect((await c.user('carol')).status?.lastLoginTime).toBeTruthy();
      // ?limit= keeps the newest.
      const one = (await (await t.api(`${kapisUsers}/carol/loginrecords?limit=1`)).json()) as LoginRecordList;
      expect(one.items).toHaveLength(1);
      expect(one.items[0]!.spec.reason).toBe('the user is disabled');
    });

    it('a user reads its own records but nobody else\'s; unknown users are 404; unknown usernames leave no records', async () => {
      await c.createUser('ivy', 'ivy-password-1');
      const s = await c.login('ivy', 'ivy-password-1');
      const mine = await c.as(s.access_token, `${kapisUsers}/ivy/loginrecords`);
      expect(mine.status, await mine.clone().text()).toBe(200);
      expect(((await mine.json()) as LoginRecordList).items[0]!.spec.success).toBe(true);
      expect((await c.as(s.access_token, `${kapisUsers}/carol/loginrecords`)).status).toBe(403);
      expect((await t.api(`${kapisUsers}/nobody/loginrecords`)).status).toBe(404);
      expect((await c.tokenCall({ grant_type: 'password', username: 'ghost', password: 'ghost-password' })).status).toBe(400);
      expect(await t.core.store.get({ group: 'internal.mortise.io', resource: 'loginrecords', namespace: '', name: 'ghost' })).toBeUndefined();
    });

    it('is authorized as list on users/loginrecords', () => {
      const r = parseRequestInfo('GET', '/kapis/iam.mortise.io/v1alpha1/users/ivy/loginrecords', new URLSearchParams());
      expect(r).toMatchObject({ verb: 'list', apiGroup: 'iam.mortise.io', resource: 'users', subresource: 'loginrecords', name: 'ivy' });
      const p = parseRequestInfo('POST', '/kapis/iam.mortise.io/v1alpha1/users/ivy/password', new URLSearchParams());
      expect(p).toMatchObject({ verb: 'create', resource: 'users', subresource: 'password', name: 'ivy' });
    });

    it('keeps at most 100 per user, dropping the oldest', async () => {
      const store = new SqliteStore({ path: ':memory:' });
      try {
        await store.create({ group: 'iam.mortise.io', resource: 'users' }, { metadata: { name: 'busy', uid: 'u-1' } });
        const records = new LoginRecords(store, createLogger({ level: 'silent' }));
        for (let i = 0; i < 105; i++) await records.record('busy', { type: 'Token', success: i % 2 === 0, sourceIP: `10.0.0.${i}` });
        const kept = await records.list('busy', 'u-1');
        expect(kept).toHaveLength(100);
        expect(kept[0]!.sourceIP).toBe('10.0.0.104');
        expect(kept[99]!.sourceIP).toBe('10.0.0.5');
        // Records of a deleted user never show on a new user of the same name.
        expect(await records.list('busy', 'u-2')).toEqual([]);
      } finally {
        await store.close();
      }
    });
  });
});

describe('failed-login throttling over HTTP', () => {
  let t: TestCore;
  const c = client(() => t);
  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
  });
  afterAll(async () => t?.close());

  it('429 with Retry-After after the free failures of (user, address); others are not blocked; the wait expires', async () => {
    await c.createUser('tess', 'tess-password-1');
    for (let i = 0; i < 5; i++) {
      const res = await c.tokenCall({ grant_type: 'password', username: 'tess', password: `wrong-${i}` });
      expect(res.status).toBe(400);
    }
    const throttled = await c.tokenCall({ grant_type: 'password', username: 'tess', password: 'tess-password-1' });
    expect(throttled.status).toBe(429);
    const retryAfter = Number(throttled.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    const body = (await throttled.json()) as OAuthError;
    expect(body.error).toBe('slow_down');
    expect(body.error_description).toMatch(/too many failed logins for "tess" from 127\.0\.0\.1: try again in \d+ seconds?/);
    // Throttled attempts are not tried, so they leave no record.
    const records = (await (await t.api(`${kapisUsers}/tess/loginrecords`)).json()) as LoginRecordList;
    expect(records.items).toHaveLength(5);

    // The admin, from the same address, is not affected by tess's failures.
    await c.login('admin', adminPassword);

    await new Promise((r) => setTimeout(r, retryAfter * 1000 + 100));
    await c.login('tess', 'tess-password-1');
  });

  it('wrong current passwords on a password change count as failed logins', async () => {
    await c.createUser('uma', 'uma-password-1');
    const s = await c.login('uma', 'uma-password-1');
    for (let i = 0; i < 5; i++) expect((await c.changePassword(s.access_token, 'uma', { currentPassword: `wrong-${i}`, password: 'uma-password-2' })).status).toBe(422);
    const res = await c.changePassword(s.access_token, 'uma', { currentPassword: 'uma-password-1', password: 'uma-password-2' });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await res.json()).toMatchObject({ kind: 'Status', reason: 'TooManyRequests', code: 429 });
  });
});

describe('LoginThrottle', () => {
  const clock = () => {
    let now = 1_700_000_000_000;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };
  const fail = async (th: LoginThrottle, user: string, addr: string) => {
    await th.before(user, addr);
    await th.after(user, addr, false);
  };
  const refused = async (th: LoginThrottle, user: string, addr: string) => {
    try {
      await th.before(user, addr);
    } catch (e) {
      return e as Error & { code: number; details: { retryAfterSeconds: number }; retryAfterMs: number };
    }
    await th.after(user, addr, false);
    return undefined;
  };

  it('5 free failures, then waits of 1 s, 2 s, 4 s ... capped at 15 minutes', async () => {
    const k = clock();
    const th = new LoginThrottle({ now: k.now });
    for (let i = 0; i < 5; i++) await fail(th, 'admin', '203.0.113.9');
    const waits: number[] = [];
    for (let i = 0; i < 14; i++) {
      const e = await refused(th, 'admin', '203.0.113.9');
      expect(e?.code).toBe(429);
      waits.push(e!.retryAfterMs);
      // Just before the wait is over: still refused; at its end: one more try (which fails).
      k.advance(e!.retryAfterMs - 1);
      expect(await refused(th, 'admin', '203.0.113.9')).toBeDefined();
      k.advance(1);
      await fail(th, 'admin', '203.0.113.9');
    }
    expect(waits.slice(0, 5)).toEqual([1000, 2000, 4000, 8000, 16000]);
    expect(Math.max(...waits)).toBe(15 * 60_000);
    expect(waits.at(-1)).toBe(15 * 60_000);
  });

  it('an attacker never locks the admin out: another address is unaffected, and every wait expires', async () => {
    const k = clock();
    const th = new LoginThrottle({ now: k.now });
    const attacker = '198.51.100.7';
    // 30 guesses at the admin's password, each as soon as allowed: the waits grow to the cap.
    for (let i = 0; i < 30; i++) {
      k.advance(th.retryAfterMs('admin', attacker));
      await fail(th, 'admin', attacker);
    }
    expect(th.retryAfterMs('admin', attacker)).toBe(15 * 60_000);
    // The admin, from its own address: no wait at all, and the admin's successes do not help the attacker.
    expect(th.retryAfterMs('admin', '192.0.2.10')).toBe(0);
    await th.before('admin', '192.0.2.10');
    await th.after('admin', '192.0.2.10', true);
    expect(th.retryAfterMs('admin', attacker)).toBeGreaterThan(0);
    // Even from the attacker's own address, the wait is over after at most 15 minutes.
    expect(th.retryAfterMs('admin', attacker)).toBeLessThanOrEqual(15 * 60_000);
    k.advance(15 * 60_000);
    expect(th.retryAfterMs('admin', attacker)).toBe(0);
    // After a quiet window the free failures are back.
    k.advance(15 * 60_000);
    for (let i = 0; i < 5; i++) await fail(th, 'admin', attacker);
  });

  it('caps failures per address across usernames (password spraying), in a sliding window', async () => {
    const k = clock();
    const th = new LoginThrottle({ now: k.now });
    for (let i = 0; i < 50; i++) {
      await fail(th, `user${i}`, '203.0.113.50');
      k.advance(1000);
    }
    const e = await refused(th, 'someone-new', '203.0.113.50');
    expect(e?.message).toMatch(/too many failed logins from 203\.0\.113\.50/);
    expect(e!.retryAfterMs).toBe(15 * 60_000 - 50_000);
    // Other addresses are not affected.
    await fail(th, 'someone-new', '203.0.113.51');
    // As the oldest failures leave the window, attempts are allowed again.
    k.advance(e!.retryAfterMs);
    await fail(th, 'someone-new', '203.0.113.50');
    expect(await refused(th, 'another', '203.0.113.50')).toBeDefined();
  });

  it('a success clears the (user, address) failures', async () => {
    const k = clock();
    const th = new LoginThrottle({ now: k.now });
    for (let i = 0; i < 4; i++) await fail(th, 'bob', '203.0.113.1');
    await th.before('bob', '203.0.113.1');
    await th.after('bob', '203.0.113.1', true);
    for (let i = 0; i < 5; i++) await fail(th, 'bob', '203.0.113.1');
    expect(await refused(th, 'bob', '203.0.113.1')).toBeDefined();
  });

  it('parallel attempts past the free ones go one at a time; an attempt that never reports does not lock anyone out', async () => {
    const k = clock();
    const th = new LoginThrottle({ now: k.now, freeFailures: 2 });
    await th.before('bob', '203.0.113.2');
    await th.before('bob', '203.0.113.2');
    // Two in flight use up the free failures: a third must wait for them.
    expect(await refused(th, 'bob', '203.0.113.2')).toBeDefined();
    // They never report (a crash between check and outcome): after the pending timeout they stop counting.
    k.advance(30_000);
    await th.before('bob', '203.0.113.2');
    await th.after('bob', '203.0.113.2', true);
  });

  it('keys addresses sensibly and bounds its memory', async () => {
    expect(addressKey('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    const k = clock();
    const th = new LoginThrottle({ now: k.now, maxEntries: 1000 });
    for (let i = 0; i < 3000; i++) await fail(th, `u${i}`, `10.${(i >> 8) & 255}.${i & 255}.1`);
    expect(th.size.keys + th.size.addresses).toBeLessThanOrEqual(1000);
    k.advance(60 * 60_000);
    th.sweep();
    expect(th.size).toEqual({ keys: 0, addresses: 0 });
  });
});
