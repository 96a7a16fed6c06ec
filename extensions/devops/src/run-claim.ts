import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { CoreClient } from '@mortise/extension-sdk/backend';
import { runsPath } from './run-executor.js';
import type { KubeObject, RunSpec, RunStatus } from './pipeline-types.js';

// Which backend executes a run. Two backends may watch the same runs (an upgrade starts the new
// one before the old one stops; or an admin runs two): each run is executed by exactly one, the
// one that wrote `status.claim` naming itself with a precondition on the run's resourceVersion
// (the loser gets 409). The holder renews the claim while the run goes on; another backend takes
// a run over only once the claim expired (the holder died or hung), and every status write of the
// holder tests, in the same JSON patch, that it still holds the claim — so a holder that was only
// paused and comes back cannot overwrite what the new holder wrote.

export interface RunClaim {
  /** `<host>/<pid>/<random>`: unique per backend process. */
  holder: string;
  renewTime: string;
  leaseSeconds: number;
}

export type ClaimedStatus = RunStatus & { claim?: RunClaim };
export type ClaimableRun = KubeObject<RunSpec, ClaimedStatus> & { metadata: { resourceVersion?: string } };

export type ClaimOutcome =
  | { kind: 'claimed'; run: ClaimableRun; previous?: RunClaim; previousGone?: 'process-gone' | 'expired' }
  | { kind: 'done' }
  | { kind: 'held'; until: number }
  | { kind: 'lost' };

const doneStates = new Set(['Succeeded', 'Failed', 'Aborted']);

/** Why a claim no longer holds, or undefined while it does. A holder on this host whose process is gone lets go at once. */
export function claimLapse(claim: RunClaim | undefined, now = Date.now()): 'unclaimed' | 'process-gone' | 'expired' | undefined {
  if (!claim) return 'unclaimed';
  const [host, pid] = claim.holder.split('/');
  if (host === hostname() && pid && !processAlive(Number(pid))) return 'process-gone';
  return Date.parse(claim.renewTime) + claim.leaseSeconds * 1000 <= now ? 'expired' : undefined;
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const claimExpiry = (claim: RunClaim) => Date.parse(claim.renewTime) + claim.leaseSeconds * 1000;

export class RunClaims {
  readonly holder = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  /** Runs this backend holds → what to do when it turns out another backend took one over. */
  private readonly held = new Map<string, { ns: string; name: string; onLost: () => void }>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly core: CoreClient, readonly leaseSeconds: number) {
    this.timer = setInterval(() => void this.renewAll(), Math.max(500, (leaseSeconds * 1000) / 3));
    this.timer.unref();
  }

  /**
   * Claims a run for this backend: writes the claim only if nobody changed the run since it was
   * read. `known` (the watched copy) saves the read; if it was stale, the run is read again once.
   */
  async claim(ns: string, name: string, known?: ClaimableRun): Promise<ClaimOutcome> {
    const path = `${runsPath(ns)}/${name}`;
    if (known?.metadata.resourceVersion) {
      const first = await this.tryClaim(path, known);
      if (first.kind !== 'lost') return first;
    }
    let run: ClaimableRun;
    try {
      run = await this.core.get<ClaimableRun>(path);
    } catch {
      return { kind: 'done' }; // deleted
    }
    return this.tryClaim(path, run);
  }

  private async tryClaim(path: string, run: ClaimableRun): Promise<ClaimOutcome> {
    if (run.status?.phase && doneStates.has(run.status.phase)) return { kind: 'done' };
    const previous = run.status?.claim;
    const lapse = claimLapse(previous);
    if (!lapse) return { kind: 'held', until: claimExpiry(previous!) };
    const claim: RunClaim = { holder: this.holder, renewTime: new Date().toISOString(), leaseSeconds: this.leaseSeconds };
    try {
      // PUT with the resourceVersion read: 409 if another backend (or anyone) wrote in between.
      const written = await this.core.put<ClaimableRun>(`${path}/status`, { ...run, status: { ...(run.status ?? { phase: 'Pending', stages: [] }), claim } });
      return { kind: 'claimed', run: written, ...(previous ? { previous, previousGone: lapse === 'process-gone' ? 'process-gone' : 'expired' } : {}) };
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code === 409) return { kind: 'lost' };
      if (code === 404) return { kind: 'done' };
      throw e;
    }
  }

  /** Keeps renewing the claim of a run being executed; `onLost` runs if another backend took it over. */
  hold(ns: string, name: string, onLost: () => void): void {
    this.held.set(`${ns}/${name}`, { ns, name, onLost });
  }

  release(ns: string, name: string): void {
    this.held.delete(`${ns}/${name}`);
  }

  holds(ns: string, name: string): boolean {
    return this.held.has(`${ns}/${name}`);
  }

  /**
   * A status write that applies only while this backend holds the run: one JSON patch testing
   * the holder, then setting each field. A failed test (422) means the run was taken over.
   */
  async writeStatus(ns: string, name: string, status: RunStatus): Promise<void> {
    if (!this.holds(ns, name)) return;
    const ops: unknown[] = [{ op: 'test', path: '/status/claim/holder', value: this.holder }];
    for (const [k, v] of Object.entries(status)) if (v !== undefined) ops.push({ op: 'add', path: `/status/${k}`, value: v });
    try {
      await this.core.patch(`${runsPath(ns)}/${name}/status`, ops);
    } catch (e) {
      if ((e as { code?: number }).code === 422) this.lost(`${ns}/${name}`);
      else throw e;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async renewAll(): Promise<void> {
    await Promise.all([...this.held.entries()].map(async ([k, h]) => {
      const ops = [
        { op: 'test', path: '/status/claim/holder', value: this.holder },
        { op: 'replace', path: '/status/claim/renewTime', value: new Date().toISOString() },
      ];
      try {
        await this.core.patch(`${runsPath(h.ns)}/${h.name}/status`, ops);
      } catch (e) {
        const code = (e as { code?: number }).code;
        if (code === 422 || code === 404) this.lost(k);
        // Anything else (the core briefly unreachable): try again at the next tick, within the lease.
      }
    }));
  }

  private lost(k: string): void {
    const h = this.held.get(k);
    if (!h) return;
    this.held.delete(k);
    console.error(JSON.stringify({ msg: 'run taken over by another backend: stopping it here', run: k }));
    h.onLost();
  }
}
