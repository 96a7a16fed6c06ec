import type { ResourceStore, Watcher } from '../store/resource-store.js';
import { iamGroup } from '../schemas/iam.js';

export interface DirectoryUser {
  username: string;
  uid?: string;
  groups: string[];
  state: string;
  passwordHash?: string;
  /** Tokens issued before this instant (ms) are refused. */
  tokensValidAfter?: number;
}

export const tokensValidAfterAnnotation = 'iam.mortise.io/tokens-valid-after';
export const usersRef = { group: iamGroup, resource: 'users' };

const maxCached = 10_000;

/**
 * Reads users for authentication (the stored form, with the password hash). Every request looks
 * its caller up, so once `start`ed the directory keeps what it read, and forgets a user the moment
 * the store reports a change to it: a disabled user or a changed password stops at the next request.
 */
export class UserDirectory {
  private readonly cache = new Map<string, DirectoryUser | null>();
  private watcher?: Watcher;
  /** Bumped by every change to any user: a read that a change overtook is not cached. */
  private changes = 0;
  private readonly changeListeners = new Set<(username: string) => void>();

  constructor(private readonly store: ResourceStore) {}

  /** Watches users so lookups can be served from memory; without it every lookup reads the store. */
  async start(): Promise<void> {
    const since = await this.store.currentResourceVersion();
    this.watcher = this.store.watch(usersRef, { sinceResourceVersion: since, cache: true }, (e) => {
      this.changes++;
      this.cache.delete(e.name);
      for (const l of this.changeListeners) l(e.name);
    });
  }

  /** Called when a user changes (disabled, deleted, a new password): open watches authenticate again. */
  onChange(listener: (username: string) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  stop(): void {
    this.watcher?.stop();
    this.watcher = undefined;
    this.cache.clear();
  }

  async lookup(username: string): Promise<DirectoryUser | undefined> {
    if (!this.watcher) return this.read(username);
    const hit = this.cache.get(username);
    if (hit !== undefined) return hit ?? undefined;
    const before = this.changes;
    const user = await this.read(username);
    if (this.watcher && this.changes === before) {
      if (this.cache.size >= maxCached) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(username, user ?? null);
    }
    return user;
  }

  private async read(username: string): Promise<DirectoryUser | undefined> {
    const obj = await this.store.get({ ...usersRef, namespace: '', name: username });
    if (!obj) return undefined;
    const spec = (obj.spec ?? {}) as { groups?: string[]; password?: string };
    const status = (obj.status ?? {}) as { state?: string };
    const after = obj.metadata.annotations?.[tokensValidAfterAnnotation];
    // Tokens from before the user existed belong to a deleted namesake: never to this user.
    const cutoffs = [after, obj.metadata.creationTimestamp].map((t) => (t ? Date.parse(t) : NaN)).filter((t) => Number.isFinite(t));
    return {
      username: obj.metadata.name!,
      uid: obj.metadata.uid,
      groups: spec.groups ?? [],
      state: status.state ?? 'Active',
      passwordHash: spec.password,
      tokensValidAfter: cutoffs.length ? Math.max(...cutoffs) : undefined,
    };
  }
}
