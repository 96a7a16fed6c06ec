import { pino, type Logger } from 'pino';

/** One JSON line per event; `MORTISE_LOG_LEVEL` sets the level (default info, silent in tests). */
export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: opts.name ?? 'mortise',
    level: opts.level ?? process.env.MORTISE_LOG_LEVEL ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

export type { Logger };
