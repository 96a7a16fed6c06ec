import { destination, levels, multistream, pino, type Level, type Logger, type StreamEntry } from 'pino';
import type { LogBuffer } from './log-buffer.js';

/**
 * One JSON line per event; `MORTISE_LOG_LEVEL` sets the level (default info, silent in tests).
 * With a `buffer`, lines from `bufferLevel` (info) up are also kept there for the core log API,
 * whatever goes to standard output.
 */
export function createLogger(opts: { level?: string; name?: string; buffer?: LogBuffer; bufferLevel?: string } = {}): Logger {
  const level = opts.level ?? process.env.MORTISE_LOG_LEVEL ?? 'info';
  const options = {
    name: opts.name ?? 'mortise',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (!opts.buffer) return pino({ ...options, level }, standardOutput());
  const bufferLevel = opts.bufferLevel ?? 'info';
  const streams: StreamEntry[] = [{ level: bufferLevel as Level, stream: opts.buffer.stream }];
  if (level !== 'silent') streams.push({ level: level as Level, stream: standardOutput() });
  // The logger passes what the most talkative destination wants; each destination keeps its own level.
  const lowest = streams.reduce((a, s) => (levels.values[s.level as string]! < levels.values[a]! ? (s.level as string) : a), bufferLevel);
  return pino({ ...options, level: lowest }, multistream(streams));
}

/**
 * Standard output, written as each line is logged. With pino's default (asynchronous writes,
 * flushed synchronously on exit) a core whose reader had gone (a closed pipe) never exited: at
 * exit sonic-boom's flushSync retries a write that fails with EPIPE forever. Written at once, the
 * first EPIPE turns this destination off (pino's handler) and nothing is left to flush. A line
 * per event, not per request, so the writes cost nothing that matters; no line is lost in a crash.
 */
const standardOutput = () => destination({ dest: 1, sync: true });

export type { Logger };
