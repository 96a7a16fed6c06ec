import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import type { PublishToken } from '../options.js';
import { ApiError } from './api-error.js';

export interface Publisher {
  /** Undefined for a token that may act on any extension. */
  publisher?: string;
}

/**
 * Checks `Authorization: Bearer <token>` against the configured tokens. Tokens are compared
 * as sha256 digests in constant time, so neither their content nor their length leaks.
 */
export function createTokenAuthenticator(tokens: readonly PublishToken[]): (ctx: Context) => Publisher {
  const known = tokens.map((t) => ({ digest: digest(t.token), publisher: t.publisher }));
  return (ctx) => {
    const header = ctx.get('authorization');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw unauthorized(header ? 'the Authorization header must be "Bearer <token>"' : 'a bearer token is required');
    const presented = digest(match[1]!);
    let found: Publisher | undefined;
    for (const candidate of known) {
      if (timingSafeEqual(candidate.digest, presented) && !found) found = { publisher: candidate.publisher };
    }
    if (!found) throw unauthorized('the token is not valid');
    return found;
  };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, 'Unauthorized', message);
}

/** Refuses a scoped token acting on another publisher's extension. */
export function assertMayActOn(principal: Publisher, providerNames: readonly string[], extension: string): void {
  if (principal.publisher === undefined) return;
  const other = providerNames.find((name) => name !== principal.publisher);
  if (other !== undefined) {
    throw new ApiError(403, 'Forbidden', `this token publishes as "${principal.publisher}" and may not act on ${extension}, provided by "${other}"`);
  }
}
