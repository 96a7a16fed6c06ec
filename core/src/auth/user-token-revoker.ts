import type { Logger } from 'pino';
import { ApiError } from '../api/status.js';
import { Controller, type ReconcileResult } from '../controller/controller.js';
import type { KindDefinition } from '../registry/kind.js';
import type { ResourceService } from '../registry/resource-service.js';
import type { KubeObject } from '../store/resource-store.js';
import type { LoginRecords } from './login-records.js';
import type { TokenService } from './token-service.js';
import { tokensValidAfterAnnotation } from './user-directory.js';

/** Set on a disabled user once its sessions were ended (removed when it is enabled again). */
export const sessionsRevokedAnnotation = 'iam.mortise.io/sessions-revoked';

const stateOf = (u: KubeObject) => ((u.status ?? {}) as { state?: string }).state ?? 'Active';

/**
 * Ends the sessions of disabled and deleted users. The authenticator already refuses a disabled
 * user's access tokens on every request; this makes the end permanent: refresh tokens are
 * revoked and `iam.mortise.io/tokens-valid-after` moves past every token issued so far, so
 * enabling the user again does not bring old sessions back — the user logs in afresh.
 */
export class UserTokenRevoker extends Controller {
  constructor(
    private readonly service: ResourceService,
    private readonly userDef: KindDefinition,
    private readonly tokens: TokenService,
    logger: Logger,
    private readonly loginRecords?: LoginRecords,
  ) {
    super({ name: 'user-token-revoker', logger, resyncMs: 10 * 60_000 });
  }

  protected watch(enqueue: (key: string) => void): () => void {
    const w = this.service.store.watch(this.service.ref(this.userDef), {}, (e) => {
      if (e.type === 'DELETED' || stateOf(e.object) === 'Disabled' || e.object.metadata.annotations?.[sessionsRevokedAnnotation]) enqueue(e.name);
    });
    return () => w.stop();
  }

  protected async listKeys(): Promise<string[]> {
    const { items } = await this.service.store.list(this.service.ref(this.userDef));
    return items.filter((u) => stateOf(u) === 'Disabled' || u.metadata.annotations?.[sessionsRevokedAnnotation]).map((u) => u.metadata.name!);
  }

  protected async reconcile(name: string): Promise<ReconcileResult | void> {
    const user = await this.service.getStored(this.userDef, '', name);
    if (!user) {
      const n = await this.tokens.revokeUser(name);
      await this.loginRecords?.forget(name);
      if (n) this.logger.info({ event: 'user.sessions-revoked', username: name, refreshTokens: n, why: 'deleted' }, 'revoked the sessions of a deleted user');
      return;
    }
    const marked = user.metadata.annotations?.[sessionsRevokedAnnotation];
    if (stateOf(user) === 'Disabled') {
      // Idempotent: also catches refresh tokens issued in a race with the disable.
      const n = await this.tokens.revokeUser(name);
      if (!marked) {
        const cutoff = nextWholeSecond(Date.now());
        await this.annotate(name, { [tokensValidAfterAnnotation]: new Date(cutoff).toISOString(), [sessionsRevokedAnnotation]: new Date().toISOString() });
        this.logger.info({ event: 'user.sessions-revoked', username: name, refreshTokens: n, why: 'disabled' }, 'revoked the sessions of a disabled user');
      }
      return;
    }
    if (marked) await this.annotate(name, { [sessionsRevokedAnnotation]: null });
  }

  private async annotate(name: string, annotations: Record<string, string | null>): Promise<void> {
    try {
      await this.service.patch(this.userDef, '', name, 'merge', { metadata: { annotations } }, {});
    } catch (e) {
      if (e instanceof ApiError && e.code === 404) return;
      throw e;
    }
  }
}

/**
 * The cut-off for "every token issued until now": JWT `iat` is in whole seconds, so a token
 * issued earlier in this very second has the same `iat` as one issued later in it. The cut-off is
 * therefore the start of the next second; tokens with `iat` before it are refused, and fresh ones
 * are issued only once it has passed (see `waitUntil`).
 */
export function nextWholeSecond(nowMs: number): number {
  return (Math.floor(nowMs / 1000) + 1) * 1000;
}

export async function waitUntil(ms: number): Promise<void> {
  const wait = ms - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait + 1));
}
