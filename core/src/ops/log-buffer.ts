import { Writable } from 'node:stream';
import { LineSplitter } from '../runtime/log-lines.js';
import { DurableLog, type LogRecord } from './durable-log.js';

/** One line of the core's log: its sequence number, when it was written and what. */
export type LogLine = LogRecord;

/** The core log's cap in its data dir unless configured (`MORTISE_CORE_LOG_MAX_BYTES`). */
export const DEFAULT_CORE_LOG_BYTES = 16 * 1024 * 1024;
/** The core log's cap when the core has no data dir (kept in memory). */
export const IN_MEMORY_LOG_BYTES = 1024 * 1024;

/**
 * The core's own log lines for the core log API (`GET /kapis/ops.mortise.io/v1alpha1/logs`):
 * a {@link DurableLog}, in memory until the core moves it to `<data dir>/logs/core/`
 * (`persistTo`), with a `line` event per new line for followers. `stream` is a destination for
 * the logger, beside standard output.
 */
export class LogBuffer extends DurableLog {
  readonly stream: Writable;

  constructor(maxBytes = IN_MEMORY_LOG_BYTES) {
    super(maxBytes);
    const splitter = new LineSplitter((line) => this.push(line));
    this.stream = new Writable({
      write: (chunk: Buffer | string, _enc, done) => {
        splitter.push(chunk);
        done();
      },
    });
  }

  push(line: string): void {
    this.append({ line });
  }
}
