import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashAdminPasswordEarly, takeEarlyAdminPassword } from '../src/auth/early-admin-password.js';
import { verifyPassword } from '../src/auth/passwords.js';

// The admin's password hashed by the core's entry before the core is loaded (start.ts): only
// when this start creates the admin, only for the password the seed will be given, once.

describe('the early admin password hash', () => {
  const dirs: string[] = [];
  const fresh = () => {
    const d = mkdtempSync(join(tmpdir(), 'mortise-early-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('hashes a configured password on a fresh data dir, handed out once and only for that password', async () => {
    hashAdminPasswordEarly({ MORTISE_DATA_DIR: fresh(), MORTISE_ADMIN_PASSWORD: 'configured-pw-1' });
    const early = takeEarlyAdminPassword('configured-pw-1');
    expect(early).toMatchObject({ password: 'configured-pw-1', generated: false });
    expect(await verifyPassword('configured-pw-1', await early!.hash)).toBe(true);
    expect(await verifyPassword('configured-pw-2', await early!.hash)).toBe(false);
    expect(takeEarlyAdminPassword('configured-pw-1')).toBeUndefined();

    hashAdminPasswordEarly({ MORTISE_DATA_DIR: fresh(), MORTISE_ADMIN_PASSWORD: 'configured-pw-1' });
    expect(takeEarlyAdminPassword('another-password')).toBeUndefined();
    // A mismatch still uses it up: a later caller never gets a stale hash.
    expect(takeEarlyAdminPassword('configured-pw-1')).toBeUndefined();
  });

  it('generates the password when none is configured (an empty one counts as none)', async () => {
    for (const configured of [undefined, '']) {
      hashAdminPasswordEarly({ MORTISE_DATA_DIR: fresh(), ...(configured === undefined ? {} : { MORTISE_ADMIN_PASSWORD: configured }) });
      const early = takeEarlyAdminPassword(configured);
      expect(early?.generated).toBe(true);
      expect(early!.password.length).toBeGreaterThanOrEqual(16);
      expect(await verifyPassword(early!.password, await early!.hash)).toBe(true);
    }
    hashAdminPasswordEarly({ MORTISE_DATA_DIR: fresh() });
    expect(takeEarlyAdminPassword('configured-later')).toBeUndefined();
  });

  it('does nothing where the start will not create the admin, or would refuse the password', () => {
    const existing = fresh();
    writeFileSync(join(existing, 'mortise.db'), '');
    hashAdminPasswordEarly({ MORTISE_DATA_DIR: existing, MORTISE_ADMIN_PASSWORD: 'configured-pw-1' });
    expect(takeEarlyAdminPassword('configured-pw-1')).toBeUndefined();
    hashAdminPasswordEarly({ MORTISE_DATA_DIR: fresh(), MORTISE_MODE: 'kubernetes', MORTISE_ADMIN_PASSWORD: 'configured-pw-1' });
    expect(takeEarlyAdminPassword('configured-pw-1')).toBeUndefined();
    // Under 8 characters: the User kind refuses it at the seed, as without the early hash.
    hashAdminPasswordEarly({ MORTISE_DATA_DIR: fresh(), MORTISE_ADMIN_PASSWORD: 'short' });
    expect(takeEarlyAdminPassword('short')).toBeUndefined();
  });
});
