import type { TokenService } from '../auth/token-service.js';

export interface ForwardedIdentityOptions {
  /** Lifetime of a forwarded identity token (default 60 s). */
  ttlSeconds?: number;
  /** A cached token is replaced this long before it expires (default 20 s). */
  renewBeforeSeconds?: number;
  /** Bound on cached tokens (default 10 000); the oldest go first. */
  maxEntries?: number;
}

export interface ForwardedUser {
  username: string;
  groups: string[];
  /** A display name, when known. */
  name?: string;
}

interface Entry {
  token: Promise<string>;
  renewAt: number;
}

/**
 * The caller's identity as the gateway forwards it to an extension: a short-lived JWT signed by
 * the core, audience the extension, `token_use: forwarded` (so it is never accepted as an access
 * token by the core). Signing costs ~0.2 ms (EdDSA), more than proxying a small GET, so a
 * token is reused for the same (user, groups, extension) until shortly before it expires; callers
 * racing for the same identity share one signature.
 */
export class ForwardedIdentities {
  private readonly cache = new Map<string, Entry>();
  private readonly ttl: number;
  private readonly renewBefore: number;
  private readonly maxEntries: number;

  constructor(private readonly tokens: Pick<TokenService, 'signForwarded'>, opts: ForwardedIdentityOptions = {}) {
    this.ttl = opts.ttlSeconds ?? 60;
    this.renewBefore = Math.min(opts.renewBeforeSeconds ?? 20, Math.floor(this.ttl / 2));
    this.maxEntries = opts.maxEntries ?? 10_000;
  }

  /**
   * `usableForMs`: how long the token must stay in use before it is due for renewal (the native
   * edge reuses a decision, the token in it, until then: one about to be renewed would make
   * decisions that live for nothing). Default 0.
   */
  token(user: ForwardedUser, extension: string, usableForMs = 0): Promise<string> {
    // Keyed by the groups as given (a caller's come in the same order each time): no sorting per request.
    const key = `${user.username}\u0000${user.groups.join('\u0001')}\u0000${user.name ?? ''}\u0000${extension}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.renewAt - usableForMs > now) return hit.token;
    if (hit) this.cache.delete(key);
    const groups = [...new Set(user.groups)].sort();
    const claims: Record<string, unknown> = { sub: user.username, groups, token_use: 'forwarded', ...(user.name ? { name: user.name } : {}) };
    const token = this.tokens.signForwarded(claims, extension, this.ttl);
    const entry: Entry = { token, renewAt: now + (this.ttl - this.renewBefore) * 1000 };
    if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, entry);
    token.catch(() => {
      if (this.cache.get(key) === entry) this.cache.delete(key);
    });
    return token;
  }

  clear(): void {
    this.cache.clear();
  }

  get size(): number {
    return this.cache.size;
  }
}
