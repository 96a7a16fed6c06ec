import { EventEmitter } from 'node:events';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, ftruncateSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

// A log kept within a size cap, numbered line by line: the core's own log and each extension
// backend's stdout/stderr. Lines are appended as JSON lines to segment files named after their
// first sequence number; when a segment reaches a quarter of the cap a new one is started and
// the oldest are deleted while the log is over its cap. Sequence numbers go on across restarts
// (read back from the newest segment), so a reader that remembers the last number it stored
// resumes exactly after it, and learns how many lines were rotated away before it came back.
// Without a directory (a core without a data dir) the segments are kept in memory, same rules.

export interface LogRecord {
  /** 1, 2, 3… for the life of the log (its files). */
  seq: number;
  /** RFC 3339, when the line was written. */
  time: string;
  line: string;
  /** Which output of a backend the line came from. */
  stream?: 'stdout' | 'stderr';
}

export interface LogRead<R extends LogRecord = LogRecord> {
  /** Oldest first. */
  lines: R[];
  /** Lines after the asked `afterSeq` that were rotated away before this read (0 without `afterSeq`). */
  dropped: number;
}

export interface LogReadQuery {
  /** The lines after this sequence number (all retained ones for 0). */
  afterSeq?: number;
  /** Only the last `tail` of them. */
  tail?: number;
}

interface Segment {
  firstSeq: number;
  bytes: number;
  /** In memory: its records; on disk: undefined (the file `<firstSeq>.log`). */
  records?: LogRecord[];
}

/** Logs with lines not yet written to their file: written when the process exits normally. */
const unflushed = new Set<DurableLog<LogRecord>>();
process.once('exit', () => {
  for (const log of unflushed) log.flush();
});

const SEGMENT_NAME = /^(\d{20})\.log$/;
const MIN_SEGMENT_BYTES = 4096;

export class DurableLog<R extends LogRecord = LogRecord> extends EventEmitter<{ line: [R] }> {
  private segments: Segment[] = [];
  private lastSeq = 0;
  private fd: number | undefined;
  private dir: string | undefined;
  private closed = false;
  private pendingText = '';
  private flushScheduled = false;
  private maxBytes = 0;
  private segmentBytes = 0;

  /** `maxBytes`: the cap of what is kept (between three quarters of it and all of it once full). */
  constructor(maxBytes: number, dir?: string) {
    super();
    this.setMaxListeners(0);
    this.setCap(maxBytes);
    if (dir) this.open(dir);
  }

  private setCap(maxBytes: number): void {
    if (!Number.isFinite(maxBytes) || maxBytes < MIN_SEGMENT_BYTES * 2) throw new RangeError(`a log's cap must be at least ${MIN_SEGMENT_BYTES * 2} bytes, got ${maxBytes}`);
    this.maxBytes = maxBytes;
    this.segmentBytes = Math.max(MIN_SEGMENT_BYTES, Math.floor(maxBytes / 4));
  }

  /** The cap in bytes. */
  get cap(): number {
    return this.maxBytes;
  }

  /** Where it is kept on disk, if anywhere. */
  get directory(): string | undefined {
    return this.dir;
  }

  /** The sequence number of the newest line (0 before the first). */
  get last(): number {
    return this.lastSeq;
  }

  /**
   * Moves an in-memory log to `dir`: the lines kept so far are appended after what the directory
   * already holds, numbered after it (nobody has read them yet: this happens before serving).
   */
  persistTo(dir: string, maxBytes = this.maxBytes): void {
    this.setCap(maxBytes);
    const pending = this.segments.flatMap((s) => s.records ?? []);
    this.segments = [];
    this.lastSeq = 0;
    this.open(dir);
    for (const r of pending) this.write({ ...r, seq: 0 } as R);
  }

  append(fields: Omit<R, 'seq' | 'time'> & { time?: string }): R {
    const record = { ...fields, seq: 0, time: fields.time ?? new Date().toISOString() } as R;
    this.write(record);
    if (!this.closed) this.emit('line', record);
    return record;
  }

  private write(record: R): void {
    if (this.closed) return;
    record.seq = ++this.lastSeq;
    const text = `${JSON.stringify(record)}\n`;
    const bytes = Buffer.byteLength(text);
    let seg = this.segments[this.segments.length - 1];
    if (!seg || (seg.bytes > 0 && seg.bytes + bytes > this.segmentBytes)) seg = this.startSegment(record.seq);
    if (this.dir) this.buffer(text);
    else seg.records!.push(record);
    seg.bytes += bytes;
  }

  /** Lines go to the file once per turn of the event loop (one write for a burst, not one each). */
  private buffer(text: string): void {
    this.pendingText += text;
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    unflushed.add(this);
    setImmediate(() => this.flush());
  }

  /** Writes the buffered lines to the current segment file. */
  flush(): void {
    this.flushScheduled = false;
    unflushed.delete(this);
    if (!this.pendingText || this.fd === undefined) return;
    const text = this.pendingText;
    this.pendingText = '';
    writeSync(this.fd, text);
  }

  private startSegment(firstSeq: number): Segment {
    const seg: Segment = { firstSeq, bytes: 0, ...(this.dir ? {} : { records: [] }) };
    if (this.dir) {
      this.flush();
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = openSync(this.file(firstSeq), 'a');
    }
    this.segments.push(seg);
    // Over the cap: the oldest segments go (never the one being written).
    let total = this.segments.reduce((n, s) => n + s.bytes, 0);
    while (this.segments.length > 1 && total + this.segmentBytes > this.maxBytes) {
      const old = this.segments.shift()!;
      total -= old.bytes;
      if (this.dir) {
        try {
          unlinkSync(this.file(old.firstSeq));
        } catch {
          // already gone
        }
      }
    }
    return seg;
  }

  private file(firstSeq: number): string {
    return join(this.dir!, `${String(firstSeq).padStart(20, '0')}.log`);
  }

  /** Finds the segments of `dir` and the last sequence number; a line cut by a crash is dropped. */
  private open(dir: string): void {
    mkdirSync(dir, { recursive: true });
    this.dir = dir;
    const firsts = readdirSync(dir).map((f) => SEGMENT_NAME.exec(f)?.[1]).filter((s): s is string => s !== undefined).map(Number).sort((a, b) => a - b);
    this.segments = firsts.map((firstSeq) => ({ firstSeq, bytes: statSync(this.file(firstSeq)).size }));
    const newest = this.segments[this.segments.length - 1];
    if (!newest) return;
    const text = readFileSync(this.file(newest.firstSeq), 'utf8');
    const complete = text.lastIndexOf('\n') + 1;
    this.fd = openSync(this.file(newest.firstSeq), 'r+');
    if (complete < text.length) ftruncateSync(this.fd, Buffer.byteLength(text.slice(0, complete)));
    closeSync(this.fd);
    this.fd = openSync(this.file(newest.firstSeq), 'a');
    newest.bytes = Buffer.byteLength(text.slice(0, complete));
    const lines = text.slice(0, complete).split('\n').filter(Boolean);
    this.lastSeq = lines.length ? (JSON.parse(lines[lines.length - 1]!) as LogRecord).seq : newest.firstSeq - 1;
  }

  /** The lines after `afterSeq` (or the last `tail`), oldest first, and how many asked-for lines were rotated away. */
  async read(q: LogReadQuery = {}): Promise<LogRead<R>> {
    this.flush();
    const last = this.lastSeq;
    // A cursor beyond the log's end: the log was started afresh (its files removed); all of it is new.
    const after = q.afterSeq !== undefined && q.afterSeq <= last ? q.afterSeq : q.afterSeq !== undefined ? 0 : undefined;
    const tail = q.tail ?? Infinity;
    if (tail === 0) return { lines: [], dropped: 0 };
    const segments = [...this.segments];
    const lines: R[] = [];
    // Newest segment first, until enough lines (or those after the cursor) are in.
    for (let i = segments.length - 1; i >= 0 && lines.length < tail; i--) {
      const seg = segments[i]!;
      // Within a segment line k is number firstSeq + k: only the lines wanted are parsed.
      const skip = after === undefined ? 0 : Math.max(0, after + 1 - seg.firstSeq);
      const records = await this.records(seg, skip, tail - lines.length);
      lines.unshift(...records.filter((r) => r.seq <= last && (after === undefined || r.seq > after)));
      if (after !== undefined && seg.firstSeq <= after + 1) break;
    }
    const out = Number.isFinite(tail) ? lines.slice(-tail) : lines;
    const firstKept = lines[0]?.seq ?? last + 1;
    return { lines: out, dropped: after === undefined ? 0 : Math.max(0, firstKept - after - 1) };
  }

  /** A segment's records from index `skip` on, at most the last `max` of them. */
  private async records(seg: Segment, skip: number, max: number): Promise<R[]> {
    if (seg.records) return seg.records.slice(skip).slice(-max) as R[];
    let text: string;
    try {
      text = await readFile(this.file(seg.firstSeq), 'utf8');
    } catch {
      return []; // rotated away while being read: counted as dropped
    }
    const out: R[] = [];
    for (const l of text.slice(0, text.lastIndexOf('\n') + 1).split('\n').slice(skip, -1).slice(-max)) {
      try {
        out.push(JSON.parse(l) as R);
      } catch {
        // a line damaged on disk is skipped, not the log
      }
    }
    return out;
  }

  /** Closes its file; lines appended afterwards are not kept (the core has stopped). */
  close(): void {
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.closed = true;
  }
}
