import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, createLocalJWKSet, jwtVerify, errors as joseErrors, type JWTPayload } from 'jose';
import type { ResourceStore } from '../store/resource-store.js';
import { StoreError } from '../store/resource-store.js';
import { refreshTokensRef } from './internal-kinds.js';
import type { RevokedSessions } from './revoked-sessions.js';
import { forwardedAlgorithm, legacyAlgorithm, signingAlgorithm, type SigningKey, type SigningKeys } from './signing-keys.js';

export interface TokenServiceOptions {
  issuer: () => string;
  /** Clients whose tokens the API accepts (the `aud` of access tokens). */
  clients: string[];
  accessTokenTtlSeconds?: number;
  refreshTokenTtlSeconds?: number;
  /** Sessions ended by logout or revocation: their access tokens are refused before they expire. */
  revokedSessions?: RevokedSessions;
}

export interface AccessClaims extends JWTPayload {
  sub: string;
  /** Set on tokens the gateway forwards to an extension. */
  token_use?: 'access' | 'forwarded';
  /** The session (refresh-token family) an access token was issued with: ended by logout. */
  sid?: string;
}

interface RefreshRecord {
  username: string;
  clientId: string;
  family: string;
  expiresAt: number;
  used: boolean;
  revoked: boolean;
}

export class TokenError extends Error {
  constructor(readonly oauthError: 'invalid_grant' | 'invalid_token' | 'invalid_client', message: string) {
    super(message);
  }
}

export interface IssuedTokens {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope?: string;
}

/**
 * Signed JWT access tokens (short-lived, verified locally) and opaque refresh tokens
 * (stored hashed, rotated on use, revocable; reuse of a rotated one revokes its family).
 */
export class TokenService {
  readonly accessTtl: number;
  readonly refreshTtl: number;

  constructor(
    private readonly keys: SigningKeys,
    private readonly store: ResourceStore,
    private readonly opts: TokenServiceOptions,
  ) {
    this.accessTtl = opts.accessTokenTtlSeconds ?? 3600;
    this.refreshTtl = opts.refreshTokenTtlSeconds ?? 7 * 24 * 3600;
  }

  get clients(): string[] {
    return this.opts.clients;
  }

  async issue(username: string, clientId: string, family: string = randomUUID()): Promise<IssuedTokens> {
    const access = await this.sign({ sub: username, token_use: 'access', sid: family }, clientId, this.accessTtl);
    const refresh = `mrt_${randomBytes(32).toString('base64url')}`;
    const record: RefreshRecord = { username, clientId, family, expiresAt: Date.now() + this.refreshTtl * 1000, used: false, revoked: false };
    await this.store.create(refreshTokensRef, { metadata: { name: digest(refresh), labels: { family } }, data: record });
    return { access_token: access, token_type: 'Bearer', expires_in: this.accessTtl, refresh_token: refresh };
  }

  /** Signs an access token (ES256, the current key). */
  async sign(claims: Record<string, unknown>, audience: string, ttlSeconds: number): Promise<string> {
    const key = this.keys.current(signingAlgorithm);
    return this.jwt(claims, audience, ttlSeconds, key).setJti(randomUUID()).sign(key.privateKey);
  }

  /**
   * Signs an identity the gateway forwards to an extension (EdDSA, see signing-keys.ts). No
   * `jti`: nothing looks one up, and every proxied request carries the token. Never an access
   * token: its algorithm and `token_use` are both refused by verifyAccessToken.
   */
  async signForwarded(claims: Record<string, unknown>, audience: string, ttlSeconds: number): Promise<string> {
    const key = this.keys.current(forwardedAlgorithm);
    return this.jwt(claims, audience, ttlSeconds, key).sign(key.privateKey);
  }

  private jwt(claims: Record<string, unknown>, audience: string, ttlSeconds: number, key: SigningKey): SignJWT {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(this.opts.issuer())
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`);
  }

  async verifyAccessToken(token: string): Promise<AccessClaims> {
    // Verifying an ES256 signature (~0.1 ms) costs more than serving a small GET: remember good tokens
    // until they expire (bounded; signature checks still happen for every new token).
    let claims = this.verified.get(token);
    if (!claims || (claims.exp ?? 0) * 1000 <= Date.now()) {
      claims = await this.verifyUncached(token);
      if (this.verified.size >= 10_000) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, claims);
    }
    return claims;
  }

  /** Whether the access token's session was ended by logout or revocation (checked per request). */
  sessionEnded(claims: AccessClaims): boolean {
    return !!claims.sid && !!this.opts.revokedSessions?.has(claims.sid);
  }

  private readonly verified = new Map<string, AccessClaims>();
  private jwksFor?: { keys: object[]; set: ReturnType<typeof createLocalJWKSet> };

  private jwks() {
    const current = this.keys.jwks();
    if (!this.jwksFor || this.jwksFor.keys.length !== current.keys.length) this.jwksFor = { keys: current.keys, set: createLocalJWKSet(current) };
    return this.jwksFor.set;
  }

  private async verifyUncached(token: string): Promise<AccessClaims> {
    try {
      const { payload } = await jwtVerify(token, this.jwks(), {
        issuer: this.opts.issuer(),
        audience: this.opts.clients,
        // RS256: the tokens signed before access tokens were ES256, valid until they expire.
        // Never EdDSA: a forwarded identity is not an access token.
        algorithms: [signingAlgorithm, legacyAlgorithm],
      });
      if (typeof payload.sub !== 'string' || payload.token_use !== 'access') throw new TokenError('invalid_token', 'the token is not an access token');
      return payload as AccessClaims;
    } catch (e) {
      if (e instanceof TokenError) throw e;
      if (e instanceof joseErrors.JWTExpired) throw new TokenError('invalid_token', 'the token has expired: log in again or use your refresh token');
      throw new TokenError('invalid_token', `the token is not valid: ${(e as Error).message}`);
    }
  }

  async refresh(refreshToken: string, clientId: string): Promise<IssuedTokens> {
    const name = digest(refreshToken);
    const stored = await this.store.get({ ...refreshTokensRef, namespace: '', name });
    const record = stored?.data as RefreshRecord | undefined;
    if (!stored || !record) throw new TokenError('invalid_grant', 'the refresh token is not valid');
    if (record.clientId !== clientId) throw new TokenError('invalid_grant', 'the refresh token was issued to another client');
    if (record.revoked) throw new TokenError('invalid_grant', 'the refresh token has been revoked: log in again');
    if (record.expiresAt < Date.now()) throw new TokenError('invalid_grant', 'the refresh token has expired: log in again');
    if (record.used) {
      // A rotated token used twice means it leaked: end the whole session.
      await this.revokeFamily(record.family);
      throw new TokenError('invalid_grant', 'the refresh token was already used; the session has been revoked: log in again');
    }
    try {
      await this.store.update(refreshTokensRef, { ...stored, data: { ...record, used: true } }, stored.metadata.resourceVersion);
    } catch (e) {
      if (e instanceof StoreError && e.reason === 'Conflict') throw new TokenError('invalid_grant', 'the refresh token was already used');
      throw e;
    }
    return { ...(await this.issue(record.username, clientId, record.family)) };
  }

  /** The refresh token's username, for checks before refreshing (e.g. a disabled user). */
  async refreshTokenOwner(refreshToken: string): Promise<string | undefined> {
    const stored = await this.store.get({ ...refreshTokensRef, namespace: '', name: digest(refreshToken) });
    return (stored?.data as RefreshRecord | undefined)?.username;
  }

  /** RFC 7009: revoking a refresh token ends its session (the whole rotation family). */
  async revoke(token: string): Promise<void> {
    const stored = await this.store.get({ ...refreshTokensRef, namespace: '', name: digest(token) });
    const record = stored?.data as RefreshRecord | undefined;
    if (record) await this.revokeFamily(record.family);
  }

  /** Revokes every refresh token of a user (password change, disable). */
  async revokeUser(username: string): Promise<number> {
    const { items } = await this.store.list(refreshTokensRef);
    let n = 0;
    for (const item of items) {
      const r = item.data as RefreshRecord;
      if (r.username === username && !r.revoked) {
        await this.store.update(refreshTokensRef, { ...item, data: { ...r, revoked: true } });
        n++;
      }
    }
    return n;
  }

  /** Revokes one session: every refresh token rotated from the same login. */
  async revokeFamily(family: string): Promise<void> {
    this.opts.revokedSessions?.add(family);
    const { items } = await this.store.list(refreshTokensRef);
    for (const item of items) {
      const r = item.data as RefreshRecord;
      if (r.family === family && !r.revoked) await this.store.update(refreshTokensRef, { ...item, data: { ...r, revoked: true } });
    }
  }

  /** Drops expired refresh tokens (called periodically). */
  async pruneExpired(): Promise<number> {
    const { items } = await this.store.list(refreshTokensRef);
    let n = 0;
    for (const item of items) {
      if ((item.data as RefreshRecord).expiresAt < Date.now()) {
        await this.store.delete({ ...refreshTokensRef, namespace: '', name: item.metadata.name! }).catch(() => undefined);
        n++;
      }
    }
    return n;
  }
}

const digest = (token: string) => createHash('sha256').update(token).digest('hex');
