import { CoalescedCheck } from '../auth/coalesced-check.js';

/**
 * Something the gateway serves on the strength of one request's authorization for as long as it
 * stays open: a websocket tunnel, a proxied answer still streaming (server-sent events, a followed
 * log). The backend trusted the identity it was sent once; only the gateway can take it back.
 */
export interface OpenGrant {
  /** Authenticates and authorizes the request that opened it again: false when it would now be refused. */
  stillAllowed(): Promise<boolean>;
  /** Ends what it serves at once (the client's connection and the backend's request). */
  end(): void;
}

/**
 * The open grants of a gateway. Registering one is a Set add (and a delete when it ends): a short
 * request pays nothing more. When what authentication or authorization read changes (a binding, a
 * role, a user, a session), `revalidate()` checks each again and ends those no longer allowed, as
 * open watches are (watch-hub.ts).
 */
export class OpenGrants {
  private readonly open = new Set<OpenGrant>();
  /** The checks running (one per grant: a burst of changes costs it two checks, coalesced-check.ts). */
  private readonly checks = new Map<OpenGrant, CoalescedCheck>();
  /** Counts revalidate() calls: a grant authorized before one and registered after is checked at once. */
  private changes = 0;

  /** To pass to `add`: taken before the request is authenticated. */
  get generation(): number {
    return this.changes;
  }

  get size(): number {
    return this.open.size;
  }

  /** Registers an open grant authorized as of `since` (a `generation`): checked now if anything changed meanwhile. */
  add(grant: OpenGrant, since: number): void {
    this.open.add(grant);
    if (since !== this.changes) this.check(grant);
  }

  delete(grant: OpenGrant): void {
    this.open.delete(grant);
    this.checks.get(grant)?.cancel();
    this.checks.delete(grant);
  }

  /** Checks every open grant again, ending those whose request would now be refused. */
  revalidate(): void {
    this.changes++;
    for (const grant of this.open) this.check(grant);
  }

  /** Forgets them all (at shutdown: their owners end them). */
  clear(): void {
    for (const c of this.checks.values()) c.cancel();
    this.checks.clear();
    this.open.clear();
  }

  private check(grant: OpenGrant): void {
    let recheck = this.checks.get(grant);
    if (!recheck) {
      recheck = new CoalescedCheck(() => grant.stillAllowed(), (ok) => {
        this.checks.delete(grant);
        // One that ended meanwhile (deleted) is left alone.
        if (!ok && this.open.delete(grant)) grant.end();
      });
      this.checks.set(grant, recheck);
    }
    recheck.request();
  }
}
