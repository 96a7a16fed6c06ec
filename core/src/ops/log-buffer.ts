import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { LineSplitter, RingBuffer } from '../runtime/log-lines.js';

/** One line of a log as kept in memory: when it was written and what. */
export interface LogLine {
  time: string;
  line: string;
}

/**
 * The core's own log lines, the most recent `capacity` kept in memory for the core log API
 * (`GET /kapis/ops.mortise.io/v1alpha1/logs`), with a `line` event per new line for followers.
 * `stream` is a destination for the logger, beside standard output.
 */
export class LogBuffer extends EventEmitter<{ line: [LogLine] }> {
  private readonly lines: RingBuffer<LogLine>;
  readonly stream: Writable;

  constructor(capacity = 1000) {
    super();
    this.setMaxListeners(0);
    this.lines = new RingBuffer<LogLine>(capacity);
    const splitter = new LineSplitter((line) => this.push(line));
    this.stream = new Writable({
      write: (chunk: Buffer | string, _enc, done) => {
        splitter.push(chunk);
        done();
      },
    });
  }

  push(line: string): void {
    const entry = { time: new Date().toISOString(), line };
    this.lines.push(entry);
    this.emit('line', entry);
  }

  /** Oldest first; with `tail`, only the last `tail` lines. */
  tail(tail?: number): LogLine[] {
    return this.lines.toArray(tail);
  }
}
