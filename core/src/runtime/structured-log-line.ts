// A backend's output line read as structured log fields where it is JSON (pino and most
// structured loggers), so the core's log keeps the backend's own level and message.

const PINO_LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal',
};
export type LevelName = (typeof PINO_LEVELS)[number];
const LEVEL_NAMES = new Set<string>(Object.values(PINO_LEVELS));

export function levelOf(v: unknown): LevelName | undefined {
  if (typeof v === 'number') return PINO_LEVELS[v];
  if (typeof v === 'string') {
    const l = v.toLowerCase();
    if (LEVEL_NAMES.has(l)) return l as LevelName;
    if (l === 'warning') return 'warn';
  }
  return undefined;
}

/** A JSON object line (what pino and most structured loggers write), else undefined. */
export function jsonObjectLine(line: string): Record<string, unknown> | undefined {
  const t = line.trim();
  if (!t.startsWith('{') || !t.endsWith('}')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
