import type { Logger } from 'pino';
import { WorkQueue, type WorkQueueOptions } from './work-queue.js';

export interface ReconcileResult {
  /** Look again after this long even without a change (polling a backend, a timer). */
  requeueAfterMs?: number;
}

export interface ControllerOptions extends WorkQueueOptions {
  name: string;
  logger: Logger;
  workers?: number;
  /** Every key is re-listed and reconciled this often (level-triggered safety net). */
  resyncMs?: number;
}

/**
 * A level-triggered reconcile loop: watchers enqueue keys, workers reconcile them; an error
 * retries with backoff. `listKeys` gives every key for the periodic resync and the start.
 */
export abstract class Controller {
  protected queue: WorkQueue;
  protected readonly logger: Logger;
  readonly name: string;
  private running: Promise<void>[] = [];
  private resyncTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly opts: ControllerOptions) {
    this.queue = new WorkQueue(opts);
    this.name = opts.name;
    this.logger = opts.logger.child({ controller: opts.name });
  }

  protected abstract reconcile(key: string): Promise<ReconcileResult | void>;
  protected abstract listKeys(): Promise<string[]>;
  /** Subscribe to changes; return an unsubscribe function. */
  protected abstract watch(enqueue: (key: string) => void): () => void;

  private unwatch?: () => void;

  async start(): Promise<void> {
    if (this.stopped) {
      // Started again after a stop (a replica that leads again): a fresh queue.
      this.stopped = false;
      this.queue = new WorkQueue(this.opts);
      this.running = [];
    }
    this.unwatch = this.watch((k) => this.queue.add(k));
    await this.resync();
    if (this.opts.resyncMs) {
      this.resyncTimer = setInterval(() => void this.resync().catch((e: Error) => this.logger.warn({ err: e.message }, 'resync failed')), this.opts.resyncMs);
      this.resyncTimer.unref();
    }
    for (let i = 0; i < (this.opts.workers ?? 1); i++) this.running.push(this.work());
  }

  async resync(): Promise<void> {
    for (const k of await this.listKeys()) this.queue.add(k);
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unwatch?.();
    clearInterval(this.resyncTimer);
    this.queue.shutdown();
    await Promise.all(this.running);
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined || this.stopped) return;
      try {
        const result = await this.reconcile(key);
        this.queue.forget(key);
        if (result?.requeueAfterMs) this.queue.addAfter(key, result.requeueAfterMs);
      } catch (e) {
        const delay = this.queue.addRateLimited(key);
        this.logger.warn({ event: 'reconcile.failed', key, err: (e as Error).message, retryInMs: delay }, 'reconcile failed');
      } finally {
        this.queue.done(key);
      }
    }
  }
}
