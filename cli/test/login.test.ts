import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminPassword, startTestCore, type TestCore } from '../../core/test/support/test-core.js';
import { assertCliBuilt, closedPort, runCli } from './support/cli.js';

interface Stored {
  server: string;
  username: string;
  accessToken: string;
  refreshToken: string;
  expiresAt: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether the core still honours a refresh token (a refresh rotates it, so only probe spent ones). */
async function refreshWorks(core: TestCore, refreshToken: string): Promise<boolean> {
  const res = await fetch(`${core.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'mortise-cli' }),
  });
  return res.ok;
}

describe('mortise login, token refresh and logout', () => {
  let core: TestCore;
  let dir: string;
  let n = 0;
  /** A fresh config file path per test. */
  const newConfig = () => join(dir, `config-${++n}`, 'config.json');
  const read = (config: string) => JSON.parse(readFileSync(config, 'utf8')) as Stored;
  const login = (config: string) => runCli(['login', '--server', core.url, '--username', 'admin', '--password-stdin'], { config, input: `${adminPassword}\n` });

  beforeAll(async () => {
    assertCliBuilt();
    // Access tokens that die in 2 s, to see the CLI refresh them.
    core = await startTestCore({ accessTokenTtlSeconds: 2 });
    dir = mkdtempSync(join(tmpdir(), 'mortise-cli-login-'));
  });

  afterAll(async () => {
    await core?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('logs in with --password-stdin and stores the tokens in a 0600 file', async () => {
    const config = newConfig();
    const result = await login(config);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Logged in to ${core.url} as admin.`);
    const stored = read(config);
    expect(stored).toMatchObject({ server: core.url, username: 'admin' });
    expect(stored.accessToken.split('.')).toHaveLength(3);
    expect(stored.refreshToken).toBeTruthy();
    expect(Date.parse(stored.expiresAt)).toBeGreaterThan(Date.now());
    expect(statSync(config).mode & 0o777).toBe(0o600);
    // The token is the CLI's own client's.
    const claims = JSON.parse(Buffer.from(stored.accessToken.split('.')[1]!, 'base64url').toString()) as { aud: string | string[]; sub: string };
    expect([claims.aud].flat()).toContain('mortise-cli');
    expect(claims.sub).toBe('admin');
  });

  it('takes the password from MORTISE_PASSWORD', async () => {
    const config = newConfig();
    const result = await runCli(['login', '--server', core.url, '--username', 'admin'], { config, env: { MORTISE_PASSWORD: adminPassword } });
    expect(result.code).toBe(0);
    expect(read(config).username).toBe('admin');
  });

  it('refuses a wrong password with the server\'s reason and stores nothing', async () => {
    const config = newConfig();
    const result = await runCli(['login', '--server', core.url, '--username', 'admin', '--password-stdin'], { config, input: 'not-the-password\n' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`login to ${core.url} as "admin" failed: incorrect username or password`);
    expect(() => statSync(config)).toThrow();
  });

  it('never prompts when stdin is not a terminal, and says how to give the password', async () => {
    const result = await runCli(['login', '--server', core.url, '--username', 'admin'], { config: newConfig() });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('standard input is not a terminal');
    expect(result.stderr).toContain('--password-stdin');
    expect(result.stderr).toContain('MORTISE_PASSWORD');
  });

  it('does not accept the password as a flag', async () => {
    const result = await runCli(['login', '--server', core.url, '--username', 'admin', '--password', adminPassword], { config: newConfig() });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('--password is not accepted');
  });

  it('says the server is unreachable, and which URL', async () => {
    const port = await closedPort();
    const result = await runCli(['login', '--server', `http://127.0.0.1:${port}`, '--username', 'admin', '--password-stdin'], { config: newConfig(), input: 'x' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`cannot reach the Mortise server at http://127.0.0.1:${port}/oauth/token`);
    expect(result.stderr).toContain('ECONNREFUSED');
  });

  it('says so when not logged in', async () => {
    const result = await runCli(['repo', 'list'], { config: newConfig() });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('not logged in: run `mortise login');
  });

  it('refreshes an expired access token and saves the new pair', async () => {
    const config = newConfig();
    expect((await login(config)).code).toBe(0);
    const before = read(config);
    await sleep(Math.max(0, Date.parse(before.expiresAt) - Date.now()) + 500);

    const result = await runCli(['repo', 'list', '-o', 'json'], { config });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([]);
    const after = read(config);
    expect(after.accessToken).not.toBe(before.accessToken);
    expect(after.refreshToken).not.toBe(before.refreshToken);
    expect(Date.parse(after.expiresAt)).toBeGreaterThan(Date.now());
    expect(statSync(config).mode & 0o777).toBe(0o600);
    // The old refresh token was spent by the rotation.
    expect(await refreshWorks(core, before.refreshToken)).toBe(false);
  });

  it('refreshes when the server answers 401 although the stored expiry says the token is good', async () => {
    const config = newConfig();
    expect((await login(config)).code).toBe(0);
    const before = read(config);
    await sleep(Math.max(0, Date.parse(before.expiresAt) - Date.now()) + 500);
    // The stored expiry lies: only the server's 401 tells the CLI the token is no good.
    writeFileSync(config, JSON.stringify({ ...before, expiresAt: new Date(Date.now() + 3_600_000).toISOString() }), { mode: 0o600 });

    const result = await runCli(['extension', 'list'], { config });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(read(config).accessToken).not.toBe(before.accessToken);
  });

  it('commands started together take turns refreshing: a refresh token used twice would end the session', async () => {
    const config = newConfig();
    expect((await login(config)).code).toBe(0);
    const before = read(config);
    await sleep(Math.max(0, Date.parse(before.expiresAt) - Date.now()) + 500);

    const results = await Promise.all([1, 2, 3, 4].map(() => runCli(['repo', 'list', '-o', 'json'], { config })));
    for (const r of results) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    // The session survived: the stored refresh token still works for the next command.
    await sleep(Math.max(0, Date.parse(read(config).expiresAt) - Date.now()) + 500);
    const next = await runCli(['repo', 'list'], { config });
    expect(next.stderr).toBe('');
    expect(next.code).toBe(0);
  });

  it('asks for a new login when the session has ended', async () => {
    const config = newConfig();
    expect((await login(config)).code).toBe(0);
    const stored = read(config);
    const revoked = await fetch(`${core.url}/oauth/revoke`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: stored.refreshToken }),
    });
    expect(revoked.status).toBe(200);
    await sleep(Math.max(0, Date.parse(stored.expiresAt) - Date.now()) + 500);

    const result = await runCli(['repo', 'list'], { config });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`your session at ${core.url} has ended`);
    expect(result.stderr).toContain('mortise login');
  });

  it('logout revokes the refresh token and deletes the credentials', async () => {
    const config = newConfig();
    expect((await login(config)).code).toBe(0);
    const stored = read(config);

    const result = await runCli(['logout'], { config });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Logged out of ${core.url} (admin).`);
    expect(() => statSync(config)).toThrow();
    expect(await refreshWorks(core, stored.refreshToken)).toBe(false);

    const again = await runCli(['logout'], { config });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Not logged in.');
    const list = await runCli(['repo', 'list'], { config });
    expect(list.code).not.toBe(0);
    expect(list.stderr).toContain('not logged in');
  });
});
