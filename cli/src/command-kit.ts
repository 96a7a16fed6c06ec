import { CoreClient } from './client/core-client.js';
import { configPath, CredentialStore } from './config.js';
import { CliError } from './errors.js';

export function credentialStore(): CredentialStore {
  return new CredentialStore(configPath());
}

/** The API client of the stored login. */
export function loggedInClient(): CoreClient {
  return CoreClient.fromStore(credentialStore());
}

/** Prints an error the way every command does: `error: <message>` and indented details. */
export function reportError(error: unknown): number {
  if (error instanceof CliError) {
    process.stderr.write(`error: ${error.message}\n`);
    for (const line of error.details) process.stderr.write(`  ${line}\n`);
    return error.exitCode;
  }
  const e = error as Error;
  process.stderr.write(`error: ${e?.message ?? String(error)}\n`);
  if (process.env.MORTISE_DEBUG && e?.stack) process.stderr.write(`${e.stack}\n`);
  return 1;
}

/** Wraps a command's action: errors are printed and set the exit code, never thrown at Node. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      process.exitCode = reportError(e);
    }
  };
}
