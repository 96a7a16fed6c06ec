import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hashPassword } from './passwords.js';

// A first start waited longest for the admin's password hash (scrypt: 190–260 ms of a core on
// this machine), which needs nothing but the password. The core's entry (start.ts) begins it in
// the thread pool before the rest of the core is loaded and evaluated (~0.5 s of the main thread),
// so on a fresh data dir the seed finds it done.

export interface EarlyAdminPassword {
  password: string;
  /** Generated here: MORTISE_ADMIN_PASSWORD was not set. */
  generated: boolean;
  hash: Promise<string>;
}

let early: EarlyAdminPassword | undefined;

/**
 * Starts hashing the admin's password when this start will create the admin: embedded mode and
 * no store in the data dir yet. Nothing for a password the User kind would refuse (under 8
 * characters): the seed then fails on it as before.
 */
export function hashAdminPasswordEarly(env: NodeJS.ProcessEnv = process.env): void {
  if (env.MORTISE_MODE === 'kubernetes') return;
  if (existsSync(join(resolve(env.MORTISE_DATA_DIR ?? '.mortise'), 'mortise.db'))) return;
  const configured = env.MORTISE_ADMIN_PASSWORD;
  if (configured && configured.length < 8) return;
  const password = configured || randomBytes(12).toString('base64url');
  const hash = hashPassword(password);
  // A failure here is not the start's: the seed then hashes the password itself.
  hash.catch(() => undefined);
  early = { password, generated: !configured, hash };
}

/** The early hash, once, if it is for `configured` (the same password, or none configured on both sides). */
export function takeEarlyAdminPassword(configured: string | undefined): EarlyAdminPassword | undefined {
  const taken = early;
  early = undefined;
  if (!taken) return undefined;
  return (taken.generated ? !configured : configured === taken.password) ? taken : undefined;
}
