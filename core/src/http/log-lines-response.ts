import { PassThrough } from 'node:stream';
import { badRequest } from '../api/status.js';
import type { LogRead, LogReadQuery, LogRecord } from '../ops/durable-log.js';
import type { AppContext } from './app-state.js';

/** Lines answered when neither `tailLines` nor `sinceSeq` is given. */
const DEFAULT_TAIL = 100;
const MAX_TAIL = 100_000;

export interface LogLineSource<L extends LogRecord> {
  /** The last `tail` lines, or those after `afterSeq`, oldest first. */
  read(q: LogReadQuery): Promise<LogRead<L>>;
  /** Calls `onLine` for every new line until the returned function is called. */
  follow(onLine: (line: L) => void): () => void;
}

export interface LogReadParams {
  /** undefined: all (with `sinceSeq`) or the default 100. */
  tailLines: number | undefined;
  follow: boolean;
  timestamps: boolean;
  /** Only the lines after this sequence number (a reader's cursor, kept across core restarts). */
  sinceSeq: number | undefined;
  /** Each line starts with its sequence number (before its time). */
  seq: boolean;
}

function flag(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (value === '1' || value === 'true' || value === '') return true;
  if (value === '0' || value === 'false') return false;
  throw badRequest(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

function count(value: unknown, name: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d{1,16}$/.test(value) || Number(value) > max) throw badRequest(`${name} must be an integer from 0 to ${max}, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** The query parameters of a log read (`tailLines`, `follow`, `timestamps`, `sinceSeq`, `seq`), validated before anything else. */
export function logReadParams(ctx: AppContext): LogReadParams {
  return {
    follow: flag(ctx.query.follow, 'follow'), timestamps: flag(ctx.query.timestamps, 'timestamps'), seq: flag(ctx.query.seq, 'seq'),
    tailLines: count(ctx.query.tailLines, 'tailLines', MAX_TAIL), sinceSeq: count(ctx.query.sinceSeq, 'sinceSeq', Number.MAX_SAFE_INTEGER),
  };
}

/** The line standing for lines rotated away before a reader came back for them (JSON, as the core's own lines). */
export function droppedMarker(dropped: number, time: string): string {
  return JSON.stringify({ level: 'warn', time, event: 'log.dropped', dropped, msg: `${dropped} lines of this log were rotated away (its size cap) before they were read` });
}

/**
 * Answers a log like `kubectl logs`: `text/plain`, the last `tailLines` lines (or those after
 * `sinceSeq`), each prefixed by its sequence number with `seq` and its RFC 3339 time with
 * `timestamps`, and with `follow` every new line as it comes until the client goes away. Lines
 * after `sinceSeq` that were rotated away are announced by one marker line (numbered as the
 * last of them, so a reader's cursor moves past them) and the `X-Mortise-Log-Dropped` header.
 */
export async function serveLogLines<L extends LogRecord>(ctx: AppContext, source: LogLineSource<L>, params: LogReadParams): Promise<void> {
  const format = (l: LogRecord) => `${params.seq ? `${l.seq} ` : ''}${params.timestamps ? `${l.time} ` : ''}${l.line}\n`;
  // Followers subscribe before reading, so no line falls between the read and the follow.
  const early: L[] = [];
  let onLine: (l: L) => void = (l) => early.push(l);
  const unfollow = params.follow ? source.follow((l) => onLine(l)) : () => undefined;
  let read: LogRead<L>;
  try {
    read = params.tailLines === 0 && params.sinceSeq === undefined ? { lines: [], dropped: 0 }
      : await source.read({ afterSeq: params.sinceSeq, tail: params.tailLines ?? (params.sinceSeq === undefined ? DEFAULT_TAIL : undefined) });
  } catch (e) {
    unfollow();
    throw e;
  }
  ctx.type = 'text/plain; charset=utf-8';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('X-Content-Type-Options', 'nosniff');
  let text = '';
  if (read.dropped > 0) {
    ctx.set('X-Mortise-Log-Dropped', String(read.dropped));
    const time = new Date().toISOString();
    text += format({ seq: (read.lines[0]?.seq ?? params.sinceSeq! + read.dropped + 1) - 1, time, line: droppedMarker(read.dropped, time) });
  }
  let last = read.lines[read.lines.length - 1]?.seq ?? params.sinceSeq ?? 0;
  for (const l of read.lines) text += format(l);
  if (!params.follow) {
    ctx.body = text;
    return;
  }
  const out = new PassThrough();
  out.write(text);
  onLine = (l) => {
    if (l.seq <= last) return;
    last = l.seq;
    out.write(format(l));
  };
  for (const l of early) onLine(l);
  const stop = () => {
    unfollow();
    out.end();
  };
  ctx.req.once('close', stop);
  ctx.res.once('close', stop);
  ctx.body = out;
}
