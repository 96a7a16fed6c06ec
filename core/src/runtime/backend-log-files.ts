import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DurableLog, type LogRead, type LogReadQuery } from '../ops/durable-log.js';
import type { BackendLogLine } from './runtime.js';

/** A backend's log cap unless configured (`MORTISE_BACKEND_LOG_MAX_BYTES`). */
export const DEFAULT_BACKEND_LOG_BYTES = 4 * 1024 * 1024;

/** `name@version`: a directory name (no separator, not `.` or `..`). */
const SAFE_ID = /^[a-z0-9][a-z0-9-]*@[0-9A-Za-z][0-9A-Za-z.+-]*$/;

/**
 * The stdout/stderr lines of every backend the runtime ran, one {@link DurableLog} per backend id
 * in `<dir>/<id>/` (in memory without a dir): kept across restarts of the backend and of the
 * core, so a reader's cursor (the last sequence number it stored) stays valid.
 */
export class BackendLogFiles {
  private readonly logs = new Map<string, DurableLog<BackendLogLine>>();

  constructor(private readonly opts: { dir?: string; maxBytes?: number }) {}

  /** The log of backend `id`, opened (or created) on first use. */
  of(id: string): DurableLog<BackendLogLine> {
    let log = this.logs.get(id);
    if (!log) {
      if (this.opts.dir && !SAFE_ID.test(id)) throw new RangeError(`not a backend id: ${JSON.stringify(id)}`);
      log = new DurableLog<BackendLogLine>(this.opts.maxBytes ?? DEFAULT_BACKEND_LOG_BYTES, this.opts.dir ? join(this.opts.dir, id) : undefined);
      this.logs.set(id, log);
    }
    return log;
  }

  /** Reads a backend's log, also one this core has not started yet (its files from before a restart). */
  read(id: string, q: LogReadQuery): Promise<LogRead<BackendLogLine>> {
    // Ids come from requests too (a `version` asked for): only an existing log is opened.
    if (!this.logs.has(id) && (!this.opts.dir || !SAFE_ID.test(id) || !existsSync(join(this.opts.dir, id)))) return Promise.resolve({ lines: [], dropped: 0 });
    return this.of(id).read(q);
  }

  /** Closes the files (the runtime stopped every backend); a later start opens them again. */
  closeAll(): void {
    for (const log of this.logs.values()) log.close();
    this.logs.clear();
  }
}
