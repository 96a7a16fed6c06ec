import type { Logger } from 'pino';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import { iamGroup } from '../schemas/iam.js';
import { StoreError, type KubeObject, type ResourceStore } from '../store/resource-store.js';
import { loginRecordsRef } from './internal-kinds.js';

/** One login attempt, as kept per user and served at `.../users/{name}/loginrecords`. */
export interface LoginAttempt {
  /** `Token`: the password grant; `OAuth`: an external identity provider. */
  type: 'Token' | 'OAuth';
  success: boolean;
  /** Why it failed (or how it succeeded), in words. */
  reason?: string;
  sourceIP: string;
  userAgent?: string;
  /** The identity provider, for logins through one. */
  provider?: string;
  clientId?: string;
}

export interface StoredLoginRecord extends LoginAttempt {
  time: string;
}

interface RecordsData {
  /** The user's uid: records of a deleted user never show on a new user of the same name. */
  uid?: string;
  /** Newest first. */
  records: StoredLoginRecord[];
}

/** Where the password grant and the identity-provider callback report attempts. */
export interface LoginRecorder {
  record(username: string, attempt: LoginAttempt): Promise<void>;
}

export const loginRecordsPerUser = 100;

/**
 * Login attempts, kept per user in the store (one internal object per user, the newest
 * `limit` attempts), so they survive restarts and are shared by replicas. Attempts at
 * usernames that do not exist are not kept: that would let anyone fill the store.
 */
export class LoginRecords implements LoginRecorder {
  private readonly limit: number;

  constructor(
    private readonly store: ResourceStore,
    private readonly logger: Logger,
    opts: { limit?: number } = {},
  ) {
    this.limit = opts.limit ?? loginRecordsPerUser;
  }

  async record(username: string, attempt: LoginAttempt): Promise<void> {
    try {
      const user = await this.store.get({ group: iamGroup, resource: 'users', namespace: '', name: username });
      if (!user) return;
      const entry: StoredLoginRecord = { time: new Date().toISOString(), ...clean(attempt) };
      await this.append(username, user.metadata.uid, entry);
    } catch (e) {
      // Never fail a login because its record could not be written.
      this.logger.warn({ event: 'login.record-failed', username, err: (e as Error).message }, 'could not record the login attempt');
    }
  }

  /** The user's attempts, newest first. */
  async list(username: string, uid?: string): Promise<StoredLoginRecord[]> {
    const obj = await this.store.get({ ...loginRecordsRef, namespace: '', name: username });
    const data = obj?.data as RecordsData | undefined;
    if (!data || (uid && data.uid && data.uid !== uid)) return [];
    return data.records;
  }

  /** Drops a (deleted) user's records. */
  async forget(username: string): Promise<void> {
    await this.store.delete({ ...loginRecordsRef, namespace: '', name: username }).catch((e: unknown) => {
      if (!(e instanceof StoreError && e.reason === 'NotFound')) throw e;
    });
  }

  private async append(username: string, uid: string | undefined, entry: StoredLoginRecord): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const key = { ...loginRecordsRef, namespace: '', name: username };
      const current = await this.store.get(key);
      const data = current?.data as RecordsData | undefined;
      const kept = data && (!uid || !data.uid || data.uid === uid) ? data.records : [];
      const next: RecordsData = { uid, records: [entry, ...kept].slice(0, this.limit) };
      try {
        if (current) await this.store.update(loginRecordsRef, { ...current, data: next } as KubeObject, current.metadata.resourceVersion);
        else await this.store.create(loginRecordsRef, { metadata: { name: username }, data: next });
        return;
      } catch (e) {
        // Another attempt of the same user was written at the same time: read again.
        if (e instanceof StoreError && (e.reason === 'Conflict' || e.reason === 'AlreadyExists') && attempt < 20) continue;
        throw e;
      }
    }
  }
}

function clean(a: LoginAttempt): LoginAttempt {
  const out: LoginAttempt = { type: a.type, success: a.success, sourceIP: a.sourceIP };
  if (a.reason) out.reason = a.reason;
  if (a.userAgent) out.userAgent = a.userAgent.slice(0, 512);
  if (a.provider) out.provider = a.provider;
  if (a.clientId) out.clientId = a.clientId;
  return out;
}

/** Sets `status.lastLoginTime` of a user who just logged in. */
export async function touchLastLogin(service: ResourceService, kinds: KindRegistry, username: string): Promise<void> {
  const def = kinds.byGroupResource(iamGroup, 'users');
  if (!def) return;
  await service.patch(def, '', username, 'merge', { status: { lastLoginTime: new Date().toISOString() } }, {}, { subresource: 'status' });
}

/** A caller's address as people read it (IPv4-mapped IPv6 unwrapped). */
export function sourceAddress(ip: string): string {
  return ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
}
