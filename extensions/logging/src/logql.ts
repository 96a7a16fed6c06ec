import { RE2JS } from 're2js';

// LogQL, the subset we serve: stream selectors, line filters, `| json`, `| logfmt`, label
// filters, `line_format`, and the metric queries count_over_time, rate, bytes_over_time,
// bytes_rate under sum/count/min/max/avg with `by`/`without`. Errors carry the position.

export type MatchOp = '=' | '!=' | '=~' | '!~';
/** A compiled regular expression: RE2's syntax and linear-time matching, as Loki's Go regexp. */
export interface Regex { test(input: string): boolean }
export interface Matcher { name: string; op: MatchOp; value: string; regex?: Regex }
export type LineFilterOp = '|=' | '!=' | '|~' | '!~';
export type Stage =
  | { kind: 'line'; op: LineFilterOp; value: string; regex?: Regex }
  | { kind: 'json' }
  | { kind: 'logfmt' }
  | { kind: 'line_format'; template: string }
  | { kind: 'label'; name: string; op: LabelFilterOp; value: string | number; regex?: Regex };
export type LabelFilterOp = MatchOp | '==' | '>' | '>=' | '<' | '<=';

export interface LogExpr { type: 'log'; matchers: Matcher[]; stages: Stage[] }
export type RangeFunction = 'count_over_time' | 'rate' | 'bytes_over_time' | 'bytes_rate';
export interface RangeExpr { type: 'range'; fn: RangeFunction; log: LogExpr; rangeMs: number }
export type VectorOp = 'sum' | 'count' | 'min' | 'max' | 'avg';
export interface VectorExpr { type: 'vector'; op: VectorOp; grouping?: { without: boolean; labels: string[] }; inner: MetricExpr }
export type MetricExpr = RangeExpr | VectorExpr;
export type Query = LogExpr | MetricExpr;

export class LogQLError extends Error {
  constructor(message: string, readonly position: number, source: string) {
    const col = position + 1;
    super(`parse error at line 1, col ${col}: ${message}${source ? ` (near ${JSON.stringify(source.slice(position, position + 20))})` : ''}`);
  }
}

type Tok = { t: 'ident' | 'string' | 'number' | 'duration' | 'op' | 'punct' | 'eof'; v: string; pos: number };

const OPS = ['|=', '|~', '!=', '!~', '=~', '==', '>=', '<=', '=', '>', '<', '|'];

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) { i++; continue; }
    const start = i;
    if (c === '"' || c === '`') {
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new LogQLError('unterminated string', start, src);
        const d = src[i]!;
        if (d === c) { i++; break; }
        if (d === '\\' && c === '"') {
          const n = src[i + 1];
          if (n === undefined) throw new LogQLError('unterminated string', start, src);
          s += n === 'n' ? '\n' : n === 't' ? '\t' : n;
          i += 2;
          continue;
        }
        s += d;
        i++;
      }
      out.push({ t: 'string', v: s, pos: start });
      continue;
    }
    const dur = /^\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y)(?:\d+(?:ms|s|m|h|d))*/.exec(src.slice(i));
    if (dur) { out.push({ t: 'duration', v: dur[0], pos: start }); i += dur[0].length; continue; }
    const num = /^-?\d+(?:\.\d+)?/.exec(src.slice(i));
    if (num) { out.push({ t: 'number', v: num[0], pos: start }); i += num[0].length; continue; }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (id) { out.push({ t: 'ident', v: id[0], pos: start }); i += id[0].length; continue; }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op) { out.push({ t: 'op', v: op, pos: start }); i += op.length; continue; }
    if ('{}(),[]'.includes(c)) { out.push({ t: 'punct', v: c, pos: start }); i++; continue; }
    throw new LogQLError(`unexpected character ${JSON.stringify(c)}`, start, src);
  }
  out.push({ t: 'eof', v: '', pos: src.length });
  return out;
}

export function parseDurationMs(s: string): number | undefined {
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };
  let total = 0;
  // Sticky: each part where the last ended, so a long run of digits is read once (a global regex
  // retried from each digit: quadratic in a query parameter).
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/y;
  while (re.lastIndex < s.length) {
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * unit[m[2]!]!;
  }
  return s.length > 0 ? total : undefined;
}

function compileRegex(pattern: string, pos: number, src: string): Regex {
  try {
    // Loki's regexes are anchored for label matchers; line filters search anywhere. RE2 (re2js),
    // not JavaScript's backtracking RegExp: a pattern like (a|aa)+$ over a long line would hold
    // the backend's only thread for minutes, stalling every tenant's queries and pushes.
    return RE2JS.compile(pattern);
  } catch (e) {
    throw new LogQLError(`invalid regular expression: ${(e as Error).message}`, pos, src);
  }
}

const RANGE_FNS = new Set<string>(['count_over_time', 'rate', 'bytes_over_time', 'bytes_rate']);
const VECTOR_OPS = new Set<string>(['sum', 'count', 'min', 'max', 'avg']);

export function parseLogQL(src: string): Query {
  if (src.length > 16_384) throw new LogQLError('the query is longer than 16384 characters', 0, '');
  const toks = lex(src);
  let k = 0;
  const peek = () => toks[k]!;
  const next = () => toks[k++]!;
  const fail = (msg: string, tok = peek()): never => {
    throw new LogQLError(`${msg}, got ${tok.t === 'eof' ? 'the end of the query' : JSON.stringify(tok.v)}`, tok.pos, src);
  };
  const expect = (t: Tok['t'], v?: string): Tok => {
    const tok = peek();
    if (tok.t !== t || (v !== undefined && tok.v !== v)) fail(`expected ${v ? JSON.stringify(v) : t}`);
    return next();
  };

  const selector = (): Matcher[] => {
    expect('punct', '{');
    const matchers: Matcher[] = [];
    while (!(peek().t === 'punct' && peek().v === '}')) {
      const name = expect('ident');
      const op = peek();
      if (op.t !== 'op' || !['=', '!=', '=~', '!~'].includes(op.v)) fail('expected a label matcher (=, !=, =~, !~)');
      next();
      const value = expect('string');
      const m: Matcher = { name: name.v, op: op.v as MatchOp, value: value.v };
      if (m.op === '=~' || m.op === '!~') m.regex = compileRegex(`^(?:${value.v})$`, value.pos, src);
      matchers.push(m);
      if (peek().t === 'punct' && peek().v === ',') next();
      else if (!(peek().t === 'punct' && peek().v === '}')) fail('expected "," or "}"');
    }
    next();
    if (matchers.length === 0) throw new LogQLError('a stream selector needs at least one label matcher', toks[k - 1]!.pos, src);
    if (matchers.every((m) => (m.op === '=' && m.value === '') || (m.regex && m.regex.test('')) || m.op === '!=')) {
      throw new LogQLError('queries require at least one matcher that does not match the empty value', toks[k - 1]!.pos, src);
    }
    return matchers;
  };

  const stages = (): Stage[] => {
    const out: Stage[] = [];
    for (;;) {
      const tok = peek();
      if (tok.t === 'op' && ['|=', '!=', '|~', '!~'].includes(tok.v)) {
        next();
        const value = expect('string');
        const s: Stage = { kind: 'line', op: tok.v as LineFilterOp, value: value.v };
        if (tok.v === '|~' || tok.v === '!~') s.regex = compileRegex(value.v, value.pos, src);
        out.push(s);
        continue;
      }
      if (tok.t === 'op' && tok.v === '|') {
        next();
        const what = peek();
        if (what.t !== 'ident') fail('expected a parser, line_format or a label filter after "|"');
        if (what.v === 'json' || what.v === 'logfmt') {
          // `| json` and `| logfmt` without parameters: every field becomes a label.
          next();
          out.push({ kind: what.v });
          continue;
        }
        if (what.v === 'line_format') {
          next();
          out.push({ kind: 'line_format', template: expect('string').v });
          continue;
        }
        const name = next();
        const op = peek();
        if (op.t !== 'op' || !['=', '!=', '=~', '!~', '==', '>', '>=', '<', '<='].includes(op.v)) fail(`unknown stage "${name.v}" or expected a label filter operator`, op);
        next();
        const value = peek();
        if (value.t === 'string') {
          next();
          const s: Stage = { kind: 'label', name: name.v, op: op.v as MatchOp, value: value.v };
          if (op.v === '=~' || op.v === '!~') s.regex = compileRegex(`^(?:${value.v})$`, value.pos, src);
          if (['>', '>=', '<', '<='].includes(op.v)) fail('a numeric comparison needs a number', value);
          out.push(s);
        } else if (value.t === 'number') {
          next();
          if (['=~', '!~'].includes(op.v)) fail('a regex label filter needs a string', value);
          out.push({ kind: 'label', name: name.v, op: (op.v === '=' ? '==' : op.v) as LabelFilterOp, value: Number(value.v) });
        } else {
          fail('expected a string or a number');
        }
        continue;
      }
      return out;
    }
  };

  const logExpr = (): LogExpr => ({ type: 'log', matchers: selector(), stages: stages() });

  const grouping = (): { without: boolean; labels: string[] } | undefined => {
    const tok = peek();
    if (tok.t !== 'ident' || (tok.v !== 'by' && tok.v !== 'without')) return undefined;
    next();
    expect('punct', '(');
    const labels: string[] = [];
    while (!(peek().t === 'punct' && peek().v === ')')) {
      labels.push(expect('ident').v);
      if (peek().t === 'punct' && peek().v === ',') next();
    }
    next();
    return { without: tok.v === 'without', labels };
  };

  const metricExpr = (): MetricExpr => {
    const tok = peek();
    if (tok.t !== 'ident') return fail('expected a stream selector "{...}" or a metric function');
    if (RANGE_FNS.has(tok.v)) {
      next();
      expect('punct', '(');
      const log = logExpr();
      expect('punct', '[');
      const d = expect('duration');
      const rangeMs = parseDurationMs(d.v);
      // Samples are kept to the millisecond; a range beyond any representable time reads everything anyway.
      if (!rangeMs || !Number.isSafeInteger(rangeMs)) throw new LogQLError(`invalid range ${JSON.stringify(d.v.slice(0, 40))}: give a whole number of milliseconds, under 285,000 years`, d.pos, src);
      expect('punct', ']');
      expect('punct', ')');
      return { type: 'range', fn: tok.v as RangeFunction, log, rangeMs };
    }
    if (VECTOR_OPS.has(tok.v)) {
      next();
      let g = grouping();
      expect('punct', '(');
      const inner = metricExpr();
      expect('punct', ')');
      g ??= grouping();
      return { type: 'vector', op: tok.v as VectorOp, grouping: g, inner };
    }
    return fail('unknown function');
  };

  const q: Query = peek().t === 'punct' && peek().v === '{' ? logExpr() : metricExpr();
  if (peek().t !== 'eof') fail('unexpected input after the query');
  return q;
}

/** The matchers of every stream selector in a query (for series, label values, tenancy). */
export function logExprOf(q: Query): LogExpr {
  if (q.type === 'log') return q;
  if (q.type === 'range') return q.log;
  return logExprOf(q.inner);
}

export function matches(m: Matcher, value: string | undefined): boolean {
  const v = value ?? '';
  switch (m.op) {
    case '=': return v === m.value;
    case '!=': return v !== m.value;
    case '=~': return m.regex!.test(v);
    case '!~': return !m.regex!.test(v);
  }
}
