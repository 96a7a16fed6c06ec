import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { MatrixResult, Scope, StreamResult, VectorResult } from './query-engine.js';
import { MAX_QUERY_MS, QueryLimitError } from './query-limits.js';

// LogQL queries run on worker threads, each with a read-only connection of its own to the store
// (WAL: it reads what is committed, and never holds up the writer). A query over a day of lines
// no longer holds the backend's thread, where every tenant's pushes and tails are served, for up
// to its time budget: pushes, tails and the cheap reads (labels, series) go on meanwhile.

/** What a worker is told when it starts. */
export interface QueryWorkerData {
  dir: string;
  partitionNs?: bigint;
}

type Range = { startNs: bigint; endNs: bigint; limit: number; direction: 'forward' | 'backward' };

/** One query, as its text (re-parsed in the worker) and what to evaluate it over. */
export type QueryAsk = { id: number; query: string; scope: Scope; budgetMs: number } & (
  | { kind: 'log'; range: Range }
  | { kind: 'range'; startMs: number; endMs: number; stepMs: number }
  | { kind: 'instant'; atMs: number }
);

export type QueryAnswer = { id: number; result: unknown } | { id: number; error: { limit: boolean; syntax: boolean; message: string } };

/** A QueryAsk before the pool numbers it and gives it its budget. */
type Asked = QueryAsk extends infer A ? (A extends QueryAsk ? Omit<A, 'id' | 'budgetMs'> : never) : never;

/** Queries waiting for a worker beyond this are refused (429) rather than queued without end. */
export const MAX_WAITING_QUERIES = 64;

export class QueryBusyError extends Error {}

interface Running {
  ask: QueryAsk;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  startedAt: number;
  running?: Running;
  /** Ends a query whose worker does not answer within its budget and a grace (one step of SQLite or of a pipeline stage is not interruptible from inside). */
  deadline?: NodeJS.Timeout;
}

export interface QueryPoolOptions extends QueryWorkerData {
  /** Worker threads (default: one per core but one, at least one, at most 4). */
  size?: number;
  /** The time budget of each query (default MAX_QUERY_MS). */
  budgetMs?: number;
  /** How long past its budget a worker may take before it is stopped and replaced (default 2 s). */
  graceMs?: number;
  /** The worker's script (default query-worker.js beside this file). */
  workerUrl?: URL;
}

export class QueryPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Running[] = [];
  private nextId = 1;
  private closed = false;
  /** Workers that failed one after another within a second of starting. */
  private failures = 0;
  private readonly budgetMs: number;
  private readonly graceMs: number;
  private readonly workerUrl: URL;

  constructor(private readonly opts: QueryPoolOptions) {
    this.budgetMs = opts.budgetMs ?? MAX_QUERY_MS;
    this.graceMs = opts.graceMs ?? 2000;
    this.workerUrl = opts.workerUrl ?? new URL('./query-worker.js', import.meta.url);
    const size = opts.size ?? Math.min(4, Math.max(1, availableParallelism() - 1));
    for (let i = 0; i < size; i++) this.slots.push(this.start());
  }

  logQuery(scope: Scope, query: string, range: Range): Promise<StreamResult[]> {
    return this.ask({ kind: 'log', query, scope, range }) as Promise<StreamResult[]>;
  }

  metricRangeQuery(scope: Scope, query: string, startMs: number, endMs: number, stepMs: number): Promise<MatrixResult[]> {
    return this.ask({ kind: 'range', query, scope, startMs, endMs, stepMs }) as Promise<MatrixResult[]>;
  }

  metricInstantQuery(scope: Scope, query: string, atMs: number): Promise<VectorResult[]> {
    return this.ask({ kind: 'instant', query, scope, atMs }) as Promise<VectorResult[]>;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(new QueryBusyError('the logging backend is stopping'));
    await Promise.all(this.slots.map(async (s) => {
      clearTimeout(s.deadline);
      s.running?.reject(new QueryBusyError('the logging backend is stopping'));
      await s.worker.terminate();
    }));
  }

  private ask(what: Asked): Promise<unknown> {
    if (this.closed) return Promise.reject(new QueryBusyError('the logging backend is stopping'));
    return new Promise((resolve, reject) => {
      const running: Running = { ask: { ...what, id: this.nextId++, budgetMs: this.budgetMs } as QueryAsk, resolve, reject };
      const idle = this.slots.find((s) => !s.running);
      if (idle) return this.send(idle, running);
      if (this.waiting.length >= MAX_WAITING_QUERIES) return reject(new QueryBusyError(`${MAX_WAITING_QUERIES} queries are waiting already: try again shortly`));
      this.waiting.push(running);
    });
  }

  private start(): Slot {
    const worker = new Worker(this.workerUrl, { workerData: { dir: this.opts.dir, partitionNs: this.opts.partitionNs } satisfies QueryWorkerData });
    const slot: Slot = { worker, startedAt: Date.now() };
    worker.on('message', (answer: QueryAnswer) => {
      const running = slot.running;
      if (!running || running.ask.id !== answer.id) return;
      this.finish(slot);
      if ('error' in answer) {
        const e = answer.error.limit ? new QueryLimitError(answer.error.message) : new Error(answer.error.message);
        running.reject(e);
      } else {
        running.resolve(answer.result);
      }
    });
    // A worker that fails (it could not open the store) or is stopped: its query fails, another takes its place.
    const replace = (why: Error) => {
      const running = slot.running;
      slot.running = undefined;
      clearTimeout(slot.deadline);
      running?.reject(why);
      this.renew(slot, true);
    };
    worker.on('error', (e) => replace(e));
    worker.on('exit', () => replace(new Error('the query worker stopped')));
    worker.unref();
    return slot;
  }

  private send(slot: Slot, running: Running): void {
    slot.running = running;
    slot.worker.ref();
    slot.deadline = setTimeout(() => {
      // Stopped from outside: its query is answered as one over its budget, and a new worker
      // takes the slot at once (the old one takes no more queries while it stops).
      const r = slot.running;
      slot.running = undefined;
      r?.reject(new QueryLimitError(`the query ran longer than ${this.budgetMs} ms: narrow the selector or the time range, or parse less`));
      this.renew(slot, false);
      void slot.worker.terminate();
    }, this.budgetMs + this.graceMs);
    slot.worker.postMessage(running.ask);
  }

  /**
   * Another worker in `slot`'s place (which takes no more queries): at once, or, when workers keep
   * failing within a second of starting (a store that cannot be opened), after a pause that
   * doubles up to 10 s — never a thread started after another without end. Queries wait meanwhile.
   */
  private renew(slot: Slot, failed: boolean): void {
    const i = this.slots.indexOf(slot);
    if (i < 0 || this.closed) return;
    this.failures = failed && Date.now() - slot.startedAt < 1000 ? this.failures + 1 : 0;
    if (this.failures === 0) {
      this.slots[i] = this.start();
      this.next(this.slots[i]!);
      return;
    }
    this.slots.splice(i, 1);
    setTimeout(() => {
      if (this.closed) return;
      const fresh = this.start();
      this.slots.push(fresh);
      this.next(fresh);
    }, Math.min(10_000, 250 * 2 ** Math.min(6, this.failures - 1))).unref();
  }

  private finish(slot: Slot): void {
    clearTimeout(slot.deadline);
    slot.running = undefined;
    slot.worker.unref();
    this.next(slot);
  }

  private next(slot: Slot): void {
    const w = this.waiting.shift();
    if (w) this.send(slot, w);
  }
}
