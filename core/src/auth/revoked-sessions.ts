import type { KubeObject, ResourceStore, Watcher } from '../store/resource-store.js';
import { refreshTokensRef } from './internal-kinds.js';

/** The part of a stored refresh token this index reads. */
interface RefreshFamilyRecord {
  family?: string;
  revoked?: boolean;
}

/**
 * Which sessions (refresh-token families) have been ended. Access tokens carry their session as
 * `sid`, so logout or an RFC 7009 revocation stops the access token in the browser's cookie at
 * once, not when it expires an hour later. The set is rebuilt from the stored refresh tokens and
 * kept current by a watch, so a revocation made by another process (or replica) is seen too;
 * `add` makes this process's own revocations effective before the watch event arrives.
 * A family leaves the set when its last revoked refresh token is pruned (expired): by then every
 * access token issued with it has expired too, since refresh tokens outlive access tokens.
 */
export class RevokedSessions {
  /** Family → the names of its stored refresh tokens that are revoked. */
  private readonly revoked = new Map<string, Set<string>>();
  /** Families revoked by this process, before (or without) the store's event. */
  private readonly local = new Set<string>();
  private watcher?: Watcher;
  private readonly changeListeners = new Set<() => void>();

  constructor(private readonly store: ResourceStore) {}

  async start(): Promise<void> {
    const since = await this.store.currentResourceVersion();
    const { items } = await this.store.list(refreshTokensRef);
    for (const item of items) this.note(item, false);
    this.watcher = this.store.watch(refreshTokensRef, { sinceResourceVersion: since, cache: true }, (e) => this.note(e.object, e.type === 'DELETED'));
  }

  stop(): void {
    this.watcher?.stop();
    this.watcher = undefined;
  }

  add(family: string): void {
    this.local.add(family);
    this.changed();
  }

  /** Called when a session is ended (open watches authenticate again). */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private changed(): void {
    for (const l of this.changeListeners) l();
  }

  has(family: string): boolean {
    return this.local.has(family) || this.revoked.has(family);
  }

  private note(obj: KubeObject | undefined, deleted: boolean): void {
    const record = obj?.data as RefreshFamilyRecord | undefined;
    const name = obj?.metadata.name;
    if (!record?.family || !name || !record.revoked) return;
    const names = this.revoked.get(record.family) ?? new Set<string>();
    if (deleted) names.delete(name);
    else {
      names.add(name);
      this.changed();
    }
    if (names.size) this.revoked.set(record.family, names);
    else {
      // The family's last revoked token was pruned: every access token it issued has expired.
      this.revoked.delete(record.family);
      this.local.delete(record.family);
    }
  }
}
