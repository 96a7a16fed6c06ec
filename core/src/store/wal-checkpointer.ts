import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Checkpoints a SQLite file in WAL mode from a thread of its own. A commit appends the pages it
 * changed to the WAL; a checkpoint copies them back into the database file and syncs both, and
 * SQLite runs it (by default once the WAL holds 1,000 pages) inside the commit that crossed the
 * mark — on the event loop's thread, with two fsyncs, about 5 % of the core's CPU under a stream
 * of creates. Here a thread with its own connection runs a PASSIVE checkpoint (it never blocks
 * writers or readers) every `intervalMs`, and the writers' own automatic checkpoint is raised to
 * `fallbackPages`, a bound on the WAL should this thread fall behind.
 *
 * Durability is unchanged: a commit is durable against a crash of the process once it is in the
 * WAL (synchronous = NORMAL, as before), and a checkpoint syncs the same way whichever thread
 * runs it.
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  private closing?: Promise<void>;

  constructor(path: string, opts: { intervalMs?: number } = {}) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(checkpointerCode, { eval: true, workerData: { path, module, intervalMs: opts.intervalMs ?? 100 } });
    // It holds nothing the process waits for: a core that exits without close() is not kept up.
    this.worker.unref();
    this.worker.on('error', () => undefined);
  }

  /** Stops the thread after its current checkpoint; the writers' last close checkpoints what is left. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
      // Held again until it has exited: a caller awaiting this must not see the process end
      // (nothing else may keep the event loop alive by then) before its own close runs.
      this.worker.ref();
      this.worker.postMessage('close');
    });
    return this.closing;
  }
}

/** The writers' automatic checkpoint while a WalCheckpointer runs: ~40 MB of WAL (4 KiB pages). */
export const fallbackCheckpointPages = 10_000;

// CommonJS, evaluated in the thread: better-sqlite3 is loaded from the path the core resolved.
const checkpointerCode = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('synchronous = NORMAL');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or closed meanwhile: the next round (or the writers' own checkpoint) catches up.
  }
}, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'close') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;
