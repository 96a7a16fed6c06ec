import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';

/**
 * Who is calling, as the core vouches for it: `ctx.state.identity` in a backend's handlers. It
 * comes from the signed token the core forwards, never from a header a client could set.
 */
export interface Identity {
  /** The caller's user name (`admin`, `alice`; `system:serviceaccount...` style names for services). */
  username: string;
  /** Groups, `system:authenticated` included. */
  groups: string[];
  /** A display name, when the core knows one. */
  name?: string;
}

export { IDENTITY_HEADER } from './runtime-env.js';

/** Algorithms the core signs with (asymmetric only: a shared secret could be forged by anyone holding it). */
const algorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'];

export class IdentityError extends Error {
  override readonly name = 'IdentityError';
  /** 401 for a missing or bad identity, 503 when the core's keys could not be fetched. */
  constructor(message: string, readonly status: 401 | 503 = 401) {
    super(message);
  }
}

export interface IdentityVerifierOptions {
  /** The extension's name: the audience the core signs its identities for. */
  audience: string;
  /** The core's issuer URL (the `iss` of its tokens). */
  issuer: string;
  /** The core's JWKS (`<core>/oauth/keys`); fetched when needed, cached, refetched for unknown keys. */
  jwksUrl: string | URL;
  /** Clock skew accepted between the core and this process. Default 5 s. */
  clockToleranceSeconds?: number;
  /** A key source instead of `jwksUrl` (a fixed key set). */
  keys?: JWTVerifyGetKey;
  /** Bound on remembered verified tokens. Default 5 000. */
  maxCached?: number;
}

export type IdentityVerifier = (token: string | undefined) => Promise<Identity>;

/**
 * Verifies the identity JWT the core forwards: signed by one of the core's published keys,
 * issued by the core, for this extension (audience), meant to be forwarded (`token_use`), not
 * expired. The core reuses a token for the same caller for most of its minute, so a verified
 * token is remembered until it expires.
 */
export function createIdentityVerifier(opts: IdentityVerifierOptions): IdentityVerifier {
  const keys = opts.keys ?? createRemoteJWKSet(new URL(opts.jwksUrl), { cooldownDuration: 10_000, timeoutDuration: 5_000 });
  const clockTolerance = opts.clockToleranceSeconds ?? 5;
  const maxCached = opts.maxCached ?? 5_000;
  const cache = new Map<string, { identity: Identity; expiresAt: number }>();

  return async (token) => {
    if (!token) throw new IdentityError(`the request carries no X-Mortise-Identity header: extension APIs are reached through the Mortise core, which authenticates the caller`);
    const hit = cache.get(token);
    if (hit && hit.expiresAt > Date.now()) return hit.identity;
    let payload;
    try {
      ({ payload } = await jwtVerify(token, keys, { audience: opts.audience, issuer: opts.issuer, algorithms, clockTolerance, requiredClaims: ['sub', 'exp'] }));
    } catch (e) {
      const unavailable = e instanceof joseErrors.JWKSTimeout || !(e instanceof joseErrors.JOSEError);
      throw new IdentityError(unavailable ? `the core's signing keys could not be fetched from ${opts.jwksUrl}: ${(e as Error).message}` : describe(e), unavailable ? 503 : 401);
    }
    if (payload.token_use !== 'forwarded') throw new IdentityError('the identity token is not a forwarded identity (token_use must be "forwarded")');
    if (typeof payload.sub !== 'string' || payload.sub === '') throw new IdentityError('the identity token names no user');
    const groups = Array.isArray(payload.groups) ? payload.groups.filter((g): g is string => typeof g === 'string') : [];
    const identity: Identity = { username: payload.sub, groups, ...(typeof payload.name === 'string' ? { name: payload.name } : {}) };
    if (cache.size >= maxCached) cache.delete(cache.keys().next().value!);
    cache.set(token, { identity, expiresAt: (payload.exp as number) * 1000 });
    return identity;
  };
}

function describe(e: unknown): string {
  if (e instanceof joseErrors.JWTExpired) return 'the identity token has expired';
  if (e instanceof joseErrors.JWTClaimValidationFailed) return `the identity token is not for this extension: ${e.message}`;
  if (e instanceof joseErrors.JWKSNoMatchingKey) return 'the identity token is signed by a key the core does not publish';
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return 'the identity token has an invalid signature';
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return 'the identity token uses an algorithm the core does not sign with';
  return `the identity token is not valid: ${(e as Error).message}`;
}
