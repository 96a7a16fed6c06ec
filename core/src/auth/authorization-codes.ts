import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { StoreError, type KubeObject, type ResourceRef, type ResourceStore } from '../store/resource-store.js';
import { authorizationCodesRef, externalLoginStatesRef } from './internal-kinds.js';
import type { IssuedTokens, TokenService } from './token-service.js';
import type { UserDirectory } from './user-directory.js';
import { waitUntil } from './user-token-revoker.js';

// The two short-lived records of the authorization-code flow, kept in the store (so any replica
// can finish a flow another started) under their SHA-256 digest, never in clear:
// - the state of a login in progress at an external provider (ours, not the client's);
// - the one-time authorization code we hand the client at the end.

const digest = (s: string) => createHash('sha256').update(s).digest('hex');

export interface CodeRequest {
  username: string;
  clientId: string;
  redirectUri: string;
  /** PKCE S256 challenge of the client. */
  codeChallenge: string;
  provider?: string;
}

interface CodeRecord extends CodeRequest {
  expiresAt: number;
  used: boolean;
  /** The refresh-token family issued for it, revoked if the code is replayed. */
  family: string;
}

export interface OAuthFailure {
  error: 'invalid_request' | 'invalid_grant';
  error_description: string;
}

export const authorizationCodeTtlMs = 60_000;

/** What the token endpoint's `authorization_code` grant calls. */
export interface CodeGrant {
  exchange(form: URLSearchParams, clientId: string): Promise<IssuedTokens | OAuthFailure>;
}

/** Single-use authorization codes of our own, bound to a client, a redirect URI and a PKCE challenge. */
export class AuthorizationCodes implements CodeGrant {
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: ResourceStore,
    private readonly tokens: TokenService,
    private readonly users: UserDirectory,
    private readonly logger: Logger,
    opts: { ttlMs?: number; now?: () => number } = {},
  ) {
    this.ttlMs = opts.ttlMs ?? authorizationCodeTtlMs;
    this.now = opts.now ?? Date.now;
  }

  async issue(request: CodeRequest): Promise<string> {
    await pruneExpired(this.store, authorizationCodesRef, this.now(), 5 * 60_000);
    const code = `mac_${randomBytes(32).toString('base64url')}`;
    const record: CodeRecord = { ...request, expiresAt: this.now() + this.ttlMs, used: false, family: randomUUID() };
    await this.store.create(authorizationCodesRef, { metadata: { name: digest(code) }, data: record });
    return code;
  }

  async exchange(form: URLSearchParams, clientId: string): Promise<IssuedTokens | OAuthFailure> {
    const code = form.get('code') ?? '';
    const redirectUri = form.get('redirect_uri') ?? '';
    const verifier = form.get('code_verifier') ?? '';
    const missing = [['code', code], ['redirect_uri', redirectUri], ['code_verifier', verifier]].filter(([, v]) => !v).map(([k]) => k);
    if (missing.length) return fail('invalid_request', `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} required for grant_type=authorization_code (PKCE is required)`);

    const key = { ...authorizationCodesRef, namespace: '', name: digest(code) };
    const stored = await this.store.get(key);
    const record = stored?.data as CodeRecord | undefined;
    if (!stored || !record) return fail('invalid_grant', 'the authorization code is not valid (unknown, or expired and cleaned up): log in again');
    if (record.used) {
      // A replayed code means it leaked: end the session it started (RFC 6749 §4.1.2).
      await this.tokens.revokeFamily(record.family);
      this.logger.warn({ event: 'oauth.code-replayed', username: record.username, clientId }, 'an authorization code was used twice; its session was revoked');
      return fail('invalid_grant', 'the authorization code was already used; the session it started has been revoked: log in again');
    }
    // Spend the code before any other check: a wrong verifier must not leave it usable.
    try {
      await this.store.update(authorizationCodesRef, { ...stored, data: { ...record, used: true } } as KubeObject, stored.metadata.resourceVersion);
    } catch (e) {
      if (e instanceof StoreError && (e.reason === 'Conflict' || e.reason === 'NotFound')) return fail('invalid_grant', 'the authorization code was already used: log in again');
      throw e;
    }
    if (record.expiresAt < this.now()) return fail('invalid_grant', `the authorization code has expired (codes are valid for ${Math.round(this.ttlMs / 1000)} seconds): log in again`);
    if (record.clientId !== clientId) return fail('invalid_grant', `the authorization code was issued to another client than "${clientId}"`);
    if (record.redirectUri !== redirectUri) return fail('invalid_grant', 'redirect_uri does not match the redirect_uri of the authorization request');
    if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)) return fail('invalid_grant', 'code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, "-", ".", "_" and "~" (RFC 7636)');
    if (createHash('sha256').update(verifier).digest('base64url') !== record.codeChallenge) {
      return fail('invalid_grant', 'code_verifier does not match the code_challenge of the authorization request');
    }
    const user = await this.users.lookup(record.username);
    if (!user) return fail('invalid_grant', `the user "${record.username}" no longer exists`);
    if (user.state === 'Disabled') return fail('invalid_grant', `the user "${record.username}" is disabled`);
    if (user.tokensValidAfter) await waitUntil(Math.min(user.tokensValidAfter, Date.now() + 2000));
    return this.tokens.issue(record.username, clientId, record.family);
  }
}

/** A login in progress at an external provider, keyed by the `state` we sent it. */
export interface ExternalLoginState {
  provider: string;
  clientId: string;
  redirectUri: string;
  /** The client's own `state`, echoed back to it. */
  clientState?: string;
  codeChallenge: string;
  /** Our nonce and PKCE verifier towards the provider. */
  nonce: string;
  codeVerifier: string;
  /** Digest of the browser-binding cookie set when the login started. */
  browserBinding: string;
  expiresAt: number;
}

export const externalLoginTtlMs = 10 * 60_000;

export class ExternalLoginStates {
  constructor(
    private readonly store: ResourceStore,
    private readonly now: () => number = Date.now,
    /** Logins in progress at once (anyone may start one): beyond this, new ones are refused. */
    private readonly maxPending = 10_000,
  ) {}

  /** False when too many logins are in progress (the caller answers "try again later"). */
  async save(state: string, record: Omit<ExternalLoginState, 'expiresAt'>): Promise<boolean> {
    const pending = await pruneExpired(this.store, externalLoginStatesRef, this.now(), 0);
    if (pending >= this.maxPending) return false;
    const data: ExternalLoginState = { ...record, expiresAt: this.now() + externalLoginTtlMs };
    await this.store.create(externalLoginStatesRef, { metadata: { name: digest(state) }, data });
    return true;
  }

  /** Returns and forgets the login of this state (each state completes at most once). */
  async take(state: string): Promise<ExternalLoginState | undefined> {
    const key = { ...externalLoginStatesRef, namespace: '', name: digest(state) };
    const stored = await this.store.get(key);
    if (!stored) return undefined;
    try {
      await this.store.delete(key, stored.metadata.resourceVersion);
    } catch (e) {
      if (e instanceof StoreError && (e.reason === 'NotFound' || e.reason === 'Conflict')) return undefined;
      throw e;
    }
    const record = stored.data as ExternalLoginState;
    return record.expiresAt < this.now() ? undefined : record;
  }
}

/** Digest of a secret, for records and cookies. */
export const secretDigest = digest;

/** Deletes the records past their expiry (plus grace); returns how many are left. */
async function pruneExpired(store: ResourceStore, ref: ResourceRef, now: number, graceMs: number): Promise<number> {
  const { items } = await store.list(ref);
  let left = 0;
  for (const item of items) {
    const expiresAt = (item.data as { expiresAt?: number } | undefined)?.expiresAt ?? 0;
    if (expiresAt + graceMs < now) await store.delete({ ...ref, namespace: '', name: item.metadata.name! }).catch(() => undefined);
    else left++;
  }
  return left;
}

function fail(error: OAuthFailure['error'], description: string): OAuthFailure {
  return { error, error_description: description };
}
