import { PassThrough } from 'node:stream';
import { badRequest } from '../api/status.js';
import type { AppContext } from './app-state.js';

/** Lines answered when `tailLines` is not given (a log keeps at most its ring buffer's size). */
const DEFAULT_TAIL = 100;
const MAX_TAIL = 100_000;

export interface LogLineSource<L extends { time: string; line: string }> {
  /** The last `tail` lines, oldest first. */
  tail(tail: number): L[];
  /** Calls `onLine` for every new line until the returned function is called. */
  follow(onLine: (line: L) => void): () => void;
}

function flag(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (value === '1' || value === 'true' || value === '') return true;
  if (value === '0' || value === 'false') return false;
  throw badRequest(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

function tailLines(value: unknown): number {
  if (value === undefined) return DEFAULT_TAIL;
  if (typeof value !== 'string' || !/^\d{1,6}$/.test(value) || Number(value) > MAX_TAIL) throw badRequest(`tailLines must be an integer from 0 to ${MAX_TAIL}, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** The query parameters of a log read (`tailLines`, `follow`, `timestamps`), validated before anything else. */
export function logReadParams(ctx: AppContext): { tailLines: number; follow: boolean; timestamps: boolean } {
  return { follow: flag(ctx.query.follow, 'follow'), timestamps: flag(ctx.query.timestamps, 'timestamps'), tailLines: tailLines(ctx.query.tailLines) };
}

/**
 * Answers a log like `kubectl logs`: `text/plain`, the last `tailLines` lines, each prefixed by
 * its RFC 3339 time with `timestamps`, and with `follow` every new line as it comes until the
 * client goes away.
 */
export function serveLogLines<L extends { time: string; line: string }>(ctx: AppContext, source: LogLineSource<L>, params: ReturnType<typeof logReadParams>): void {
  const format = (l: L) => `${params.timestamps ? `${l.time} ` : ''}${l.line}\n`;
  ctx.type = 'text/plain; charset=utf-8';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('X-Content-Type-Options', 'nosniff');
  const lines = params.tailLines === 0 ? [] : source.tail(params.tailLines);
  if (!params.follow) {
    ctx.body = lines.map(format).join('');
    return;
  }
  const out = new PassThrough();
  for (const l of lines) out.write(format(l));
  const unfollow = source.follow((l) => out.write(format(l)));
  const stop = () => {
    unfollow();
    out.end();
  };
  ctx.req.once('close', stop);
  ctx.res.once('close', stop);
  ctx.body = out;
}
