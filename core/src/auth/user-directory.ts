import type { ResourceStore } from '../store/resource-store.js';
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
const usersRef = { group: iamGroup, resource: 'users' };

/** Reads users for authentication (the stored form, with the password hash). */
export class UserDirectory {
  constructor(private readonly store: ResourceStore) {}

  async lookup(username: string): Promise<DirectoryUser | undefined> {
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
