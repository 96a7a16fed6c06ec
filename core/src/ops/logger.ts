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
  if (!opts.buffer) return pino({ ...options, level });
  const bufferLevel = opts.bufferLevel ?? 'info';
  const streams: StreamEntry[] = [{ level: bufferLevel as Level, stream: opts.buffer.stream }];
  if (level !== 'silent') streams.push({ level: level as Level, stream: destination(1) });
  // The logger passes what the most talkative destination wants; each destination keeps its own level.
  const lowest = streams.reduce((a, s) => (levels.values[s.level as string]! < levels.values[a]! ? (s.level as string) : a), bufferLevel);
  return pino({ ...options, level: lowest }, multistream(streams));
}

export type { Logger };
