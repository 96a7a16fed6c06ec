import { labelValue, type Labels } from './log-store.js';
import type { Stage } from './logql.js';
import { MAX_FORMATTED_LINE, QueryLimitError } from './query-limits.js';

// The log pipeline of a LogQL query, applied to one line at a time.

export interface Processed { line: string; labels: Labels }

const sanitize = (key: string) => key.replace(/[^A-Za-z0-9_]/g, '_').replace(/^(\d)/, '_$1');

/** Extracted fields become labels; as Loki does, one never replaces a stream label (it gets `_extracted`). */
function addExtracted(labels: Labels, streamLabels: Labels, fields: Array<[string, string]>): void {
  for (const [key, value] of fields) {
    const name = sanitize(key);
    if (name) labels[Object.hasOwn(streamLabels, name) ? `${name}_extracted` : name] = value;
  }
}

function flattenJson(value: unknown, prefix: string, out: Array<[string, string]>): void {
  if (value === null || value === undefined || Array.isArray(value)) return;
  if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flattenJson(v, prefix ? `${prefix}_${k}` : k, out);
    return;
  }
  out.push([prefix, String(value)]);
}

const isSpace = (c: string) => /\s/.test(c);
const isLineEnd = (c: string | undefined) => c === '\n' || c === '\r' || c === '\u2028' || c === '\u2029';

/**
 * `key=value` and `key="quoted \"value\""` pairs, in one pass over the line. (A regex did this
 * before, /([^\s=]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/g, whose answers this keeps; on a long word
 * without "=" it retried from every character — 1.5 s for 32 KiB, minutes for a 256 KiB line,
 * the backend's only thread held all along.)
 */
function parseLogfmt(line: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const n = line.length;
  let i = 0;
  while (i < n) {
    if (isSpace(line[i]!)) { i++; continue; }
    const keyStart = i;
    while (i < n && line[i] !== '=' && !isSpace(line[i]!)) i++;
    // A word without "=" (or a lone "="): no pair starts anywhere in it.
    if (i === keyStart) { i++; continue; }
    if (line[i] !== '=') continue;
    const key = line.slice(keyStart, i);
    const valueStart = ++i;
    if (line[i] === '"') {
      let j = i + 1;
      while (j < n && line[j] !== '"' && !(line[j] === '\\' && (j + 1 >= n || isLineEnd(line[j + 1])))) j += line[j] === '\\' ? 2 : 1;
      if (j < n && line[j] === '"') {
        out.push([key, line.slice(i + 1, j).replace(/\\(.)/g, '$1')]);
        i = j + 1;
        continue;
      }
    }
    // Unquoted, or a quote never closed: the value runs to the next space.
    while (i < n && !isSpace(line[i]!)) i++;
    out.push([key, line.slice(valueStart, i)]);
  }
  return out;
}

function lineFormat(template: string, line: string, labels: Labels): string {
  // Counted before the pieces are joined: a template repeating {{.__line__}} would otherwise
  // build a line a thousand times the longest stored.
  let length = template.length;
  return template.replace(/\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_, name: string) => {
    const value = name === '__line__' ? line : labelValue(labels, name) ?? '';
    length += value.length;
    if (length > MAX_FORMATTED_LINE) throw new QueryLimitError(`line_format makes a line longer than ${MAX_FORMATTED_LINE} characters`);
    return value;
  });
}

function labelFilter(s: Extract<Stage, { kind: 'label' }>, labels: Labels): boolean {
  const v = labelValue(labels, s.name);
  if (typeof s.value === 'number') {
    const n = Number(v);
    if (v === undefined || v === '' || Number.isNaN(n)) return false;
    switch (s.op) {
      case '==': return n === s.value;
      case '!=': return n !== s.value;
      case '>': return n > s.value;
      case '>=': return n >= s.value;
      case '<': return n < s.value;
      case '<=': return n <= s.value;
      default: return false;
    }
  }
  const str = v ?? '';
  switch (s.op) {
    case '=': case '==': return str === s.value;
    case '!=': return str !== s.value;
    case '=~': return s.regex!.test(str);
    case '!~': return !s.regex!.test(str);
    default: return false;
  }
}

/** Runs the stages over a line; undefined when a filter drops it. */
export function runPipeline(stages: Stage[], line: string, streamLabels: Labels): Processed | undefined {
  let labels: Labels | undefined;
  const own = () => (labels ??= { ...streamLabels });
  for (const s of stages) {
    switch (s.kind) {
      case 'line': {
        const hit = s.regex ? s.regex.test(line) : line.includes(s.value);
        if (hit !== (s.op === '|=' || s.op === '|~')) return undefined;
        break;
      }
      case 'json': {
        const l = own();
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          parsed = undefined;
        }
        const fields: Array<[string, string]> = [];
        try {
          if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) flattenJson(parsed, '', fields);
          else parsed = undefined;
        } catch {
          // Nested deeper than the stack goes (a line of thousands of "{"): not JSON we can read.
          parsed = undefined;
        }
        if (parsed) {
          addExtracted(l, streamLabels, fields);
        } else {
          l.__error__ = 'JSONParserErr';
        }
        break;
      }
      case 'logfmt':
        addExtracted(own(), streamLabels, parseLogfmt(line));
        break;
      case 'line_format':
        line = lineFormat(s.template, line, labels ?? streamLabels);
        break;
      case 'label':
        if (!labelFilter(s, labels ?? streamLabels)) return undefined;
        break;
    }
  }
  return { line, labels: labels ?? streamLabels };
}

/** Substrings a line must contain, usable by a store's index: `|=` filters before any rewrite of the line. */
export function requiredSubstrings(stages: Stage[]): string[] {
  const out: string[] = [];
  for (const s of stages) {
    if (s.kind === 'line_format') break;
    if (s.kind === 'line' && s.op === '|=' && s.value) out.push(s.value);
  }
  return out;
}
