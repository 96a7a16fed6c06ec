import { Option } from 'commander';
import { stringify } from 'yaml';

export type OutputFormat = 'table' | 'json' | 'yaml';

/** `-o, --output`: human output by default, json or yaml for scripts. */
export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['table', 'json', 'yaml']).default('table');
}

export const isMachine = (format: OutputFormat) => format === 'json' || format === 'yaml';

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printData(format: 'json' | 'yaml', data: unknown): void {
  out(format === 'json' ? JSON.stringify(data, null, 2) : stringify(data, { lineWidth: 0, aliasDuplicateObjects: false }));
}

/** Columns separated by three spaces, as kubectl prints them; cells never hold newlines. */
export function renderTable(headers: string[], rows: string[][]): string {
  const clean = (cell: string) => cell.replace(/\s*\n\s*/g, ' ');
  const all = [headers, ...rows.map((r) => r.map(clean))];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => width(r[i] ?? ''))));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i]! - width(cell)))).join('   ').trimEnd()).join('\n');
}

/** Display width: code points, so accented and CJK text does not skew columns by bytes. */
function width(text: string): number {
  let n = 0;
  for (const ch of text) n += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u.test(ch) ? 2 : 1;
  return n;
}

export function truncate(text: string, max: number): string {
  const chars = [...text.replace(/\s+/g, ' ').trim()];
  return chars.length <= max ? chars.join('') : `${chars.slice(0, max - 1).join('')}…`;
}

/** `string` or `{en, zh, ...}`: the text in the user's language (LC_ALL, LC_MESSAGES, LANG), else English. */
export type Localized = string | Record<string, string> | undefined;

export function preferredLanguages(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env.LC_ALL || env.LC_MESSAGES || env.LANG || '';
  const tag = raw.split('.')[0]!.replace('_', '-');
  if (!tag || tag === 'C' || tag === 'POSIX') return ['en'];
  const base = tag.split('-')[0]!;
  return [...new Set([tag, tag.toLowerCase(), base, 'en'])];
}

export function localize(text: Localized, languages = preferredLanguages()): string {
  if (text === undefined || text === null) return '';
  if (typeof text === 'string') return text;
  for (const lang of languages) if (text[lang]) return text[lang]!;
  return Object.values(text)[0] ?? '';
}

/** Every language's text, for searching. */
export function allTexts(text: Localized): string[] {
  if (text === undefined || text === null) return [];
  return typeof text === 'string' ? [text] : Object.values(text);
}

/** "12s ago", "5m ago", "3h ago", "2d ago"; "never" for no time. */
export function ago(time: string | undefined, now = Date.now()): string {
  if (!time) return 'never';
  const ms = now - Date.parse(time);
  if (Number.isNaN(ms)) return time;
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** "1m30s" for 90 000 ms. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  return `${Math.floor(m / 60)}h${m % 60 ? `${m % 60}m` : ''}`;
}

/** "10m", "90s", "1h30m", "500ms" → milliseconds; undefined if malformed. */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+(ms|s|m|h))+$/.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/(\d+)(ms|s|m|h)/g)) ms += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return ms;
}
