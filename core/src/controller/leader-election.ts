// Several core replicas on one cluster: any of them serves the API, exactly one runs the
// controllers. Who does is a coordination.k8s.io/v1 Lease in the core's namespace, as
// client-go's leader election keeps it: the holder renews it; when it stops renewing for
// `leaseDurationSeconds`, another replica takes it (the resourceVersion makes the takeover a
// compare-and-swap, so two replicas never both win).
import type { Logger } from 'pino';
import { StoreError, type KubeObject } from '../store/resource-store.js';
import type { KubeClient } from '../store/kube/kube-client.js';

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  /** The Lease's name. */
  name: string;
  /** This replica (unique: the pod name, or host and pid). */
  identity: string;
  leaseDurationSeconds?: number;
  /** How often the holder renews and the others look (default a third of the lease). */
  retryPeriodMs?: number;
  logger: Logger;
  onStartedLeading: () => Promise<void>;
  onStoppedLeading: () => Promise<void>;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

const microTime = (d = new Date()) => d.toISOString().replace('Z', '000Z');

export class LeaderElector {
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private stopped = false;
  private readonly duration: number;
  private readonly period: number;
  private transition: Promise<void> = Promise.resolve();

  constructor(private readonly opts: LeaderElectionOptions) {
    this.duration = opts.leaseDurationSeconds ?? 15;
    this.period = opts.retryPeriodMs ?? Math.max(200, Math.floor((this.duration * 1000) / 3));
  }

  get isLeader(): boolean {
    return this.leading;
  }

  private get path() {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases`;
  }

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      try {
        await this.tryAcquireOrRenew();
      } catch (e) {
        this.opts.logger.warn({ event: 'leader.error', err: (e as Error).message }, 'leader election: could not reach the lease');
        // Cannot renew: the lease may expire under us; stop leading before another replica starts.
        if (this.leading) this.setLeading(false);
      }
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.period);
    };
    void tick();
  }

  /** Stops leading and gives the lease up, so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const wasLeading = this.leading;
    if (wasLeading) this.setLeading(false);
    await this.transition;
    if (!wasLeading) return;
    const lease = await this.opts.client.call('GET', `${this.path}/${this.opts.name}`, undefined, { missingOk: true }).catch(() => undefined);
    const spec = lease?.spec as LeaseSpec | undefined;
    if (lease && spec?.holderIdentity === this.opts.identity) {
      await this.opts.client.call('PUT', `${this.path}/${this.opts.name}`, { ...lease, spec: { ...spec, holderIdentity: '', renewTime: microTime(new Date(0)) } }).catch(() => undefined);
    }
  }

  private setLeading(leading: boolean) {
    if (leading === this.leading) return;
    this.leading = leading;
    this.opts.logger.info({ event: leading ? 'leader.started' : 'leader.stopped', identity: this.opts.identity }, leading ? 'this replica now runs the controllers' : 'this replica no longer runs the controllers');
    this.transition = this.transition.then(() => (leading ? this.opts.onStartedLeading() : this.opts.onStoppedLeading())).catch((e: Error) => {
      this.opts.logger.error({ event: 'leader.transition-failed', err: e.message }, 'starting or stopping the controllers failed');
    });
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const now = new Date();
    const lease = await this.opts.client.call('GET', `${this.path}/${this.opts.name}`, undefined, { missingOk: true });
    const mine: LeaseSpec = { holderIdentity: this.opts.identity, leaseDurationSeconds: this.duration, renewTime: microTime(now) };
    if (!lease) {
      await this.write('POST', this.path, {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.opts.name, namespace: this.opts.namespace },
        spec: { ...mine, acquireTime: microTime(now), leaseTransitions: 0 },
      });
      return;
    }
    const spec = (lease.spec ?? {}) as LeaseSpec;
    if (spec.holderIdentity === this.opts.identity) {
      await this.write('PUT', `${this.path}/${this.opts.name}`, { ...lease, spec: { ...spec, ...mine } });
      return;
    }
    const renewed = spec.renewTime ? Date.parse(spec.renewTime) : 0;
    const expired = !spec.holderIdentity || renewed + (spec.leaseDurationSeconds ?? this.duration) * 1000 < now.getTime();
    if (this.leading) this.setLeading(false);
    if (!expired) return;
    await this.write('PUT', `${this.path}/${this.opts.name}`, {
      ...lease, spec: { ...mine, acquireTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 },
    });
  }

  /** A write that wins makes this replica the leader; a lost race (409) leaves it a follower. */
  private async write(method: 'POST' | 'PUT', path: string, body: KubeObject): Promise<void> {
    try {
      await this.opts.client.call(method, path, body);
      this.setLeading(true);
    } catch (e) {
      if (e instanceof StoreError && (e.reason === 'Conflict' || e.reason === 'AlreadyExists')) {
        this.setLeading(false);
        return;
      }
      throw e;
    }
  }
}
