import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CliError } from './errors.js';

/** What `mortise login` stores, and every later command reads. */
export interface StoredCredentials {
  server: string;
  username: string;
  accessToken: string;
  refreshToken: string;
  /** RFC 3339 time the access token expires. */
  expiresAt: string;
}

export const defaultServer = 'http://127.0.0.1:8080';

/** `$MORTISE_CONFIG`, else `$XDG_CONFIG_HOME/mortise/config.json` (`~/.config/mortise/config.json`). */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MORTISE_CONFIG) return resolve(env.MORTISE_CONFIG);
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'mortise', 'config.json');
}

const lockStaleMs = 30_000;
const lockWaitMs = 15_000;

/**
 * The credentials file: written whole (temp file + rename) with mode 0600, in a directory of
 * mode 0700. A lock file next to it keeps two `mortise` processes from refreshing at once:
 * refresh tokens rotate, and using one twice ends the session.
 */
export class CredentialStore {
  constructor(readonly path: string) {}

  read(): StoredCredentials | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new CliError(`cannot read ${this.path}: ${(e as Error).message}`);
    }
    let data: Partial<StoredCredentials>;
    try {
      data = JSON.parse(text) as Partial<StoredCredentials>;
    } catch (e) {
      throw new CliError(`${this.path} is not valid JSON (${(e as Error).message}): delete it and run \`mortise login\` again`);
    }
    const missing = (['server', 'accessToken', 'refreshToken', 'expiresAt'] as const).filter((k) => typeof data?.[k] !== 'string' || !data[k]);
    if (missing.length) throw new CliError(`${this.path} lacks ${missing.join(', ')}: run \`mortise login\` again`);
    return { username: '', ...data } as StoredCredentials;
  }

  write(credentials: StoredCredentials): void {
    const dir = dirname(this.path);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temp = `${this.path}.${process.pid}.tmp`;
    const { server, username, accessToken, refreshToken, expiresAt } = credentials;
    // Mode on create, so the tokens are never readable by others, not even for a moment.
    writeFileSync(temp, `${JSON.stringify({ server, username, accessToken, refreshToken, expiresAt }, null, 2)}\n`, { mode: 0o600 });
    chmodSync(temp, 0o600);
    renameSync(temp, this.path);
  }

  /** Deletes the file; false when there was none. */
  remove(): boolean {
    try {
      unlinkSync(this.path);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new CliError(`cannot delete ${this.path}: ${(e as Error).message}`);
    }
  }

  /** Runs `fn` holding the lock file (`<path>.lock`); a lock older than 30 s is taken over. */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const lock = `${this.path}.lock`;
    mkdirSync(dirname(lock), { recursive: true, mode: 0o700 });
    const deadline = Date.now() + lockWaitMs;
    for (;;) {
      try {
        closeSync(openSync(lock, 'wx', 0o600));
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new CliError(`cannot create ${lock}: ${(e as Error).message}`);
        try {
          if (Date.now() - statSync(lock).mtimeMs > lockStaleMs) unlinkSync(lock);
        } catch {
          // Gone already: try again.
        }
        if (Date.now() > deadline) throw new CliError(`another mortise process holds ${lock}; if none is running, delete that file`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    try {
      return await fn();
    } finally {
      try {
        unlinkSync(lock);
      } catch {
        // Taken over as stale by another process: nothing to release.
      }
    }
  }
}
