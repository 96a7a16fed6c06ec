import { StringDecoder } from 'node:string_decoder';

/** Longest line kept as one; a longer run without a newline is cut into pieces of this size. */
export const MAX_LINE_CHARS = 16 * 1024;

/** Splits a byte stream into lines (UTF-8 safe across chunk borders; `\r\n` and `\n`). */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxChars = MAX_LINE_CHARS,
  ) {}

  push(chunk: Buffer | string): void {
    this.consume(this.partial + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk)));
  }

  /** The stream ended: a last line without a newline still counts. */
  end(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest.length > 0) this.emit(rest);
  }

  private consume(text: string): void {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      this.emit(text.slice(start, nl));
      start = nl + 1;
    }
    while (text.length - start > this.maxChars) {
      this.emit(text.slice(start, start + this.maxChars));
      start += this.maxChars;
    }
    this.partial = text.slice(start);
  }

  private emit(line: string): void {
    this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  }
}

const NODE_TRAILER = /^Node\.js v\d+\.\d+\.\d+$/;
const STACK_FRAME = /^\s+at\s/;
/** `Error: ...`, `TypeError: ...`, `Error [ERR_X]: ...`, `SomeException: ...`. */
const ERROR_HEADLINE = /^[\w$]*(Error|Exception)( \[[^\]]+\])?: /;

/**
 * The stderr line that best says why a process died: the last non-empty line, skipping Node's
 * `Node.js vX.Y.Z` trailer; when the tail is an uncaught error's dump (stack frames, the
 * error's own properties `{ code: ... }`, "Emitted 'error' event ... at:"), the error's
 * headline (`Error: listen EADDRINUSE ...`) instead.
 */
export function lastMeaningfulLine(lines: readonly string[]): string | undefined {
  let i = lines.length - 1;
  while (i >= 0 && (lines[i]!.trim() === '' || NODE_TRAILER.test(lines[i]!.trim()))) i--;
  if (i < 0) return undefined;
  const last = lines[i]!;
  if (last.trim() === '}' || STACK_FRAME.test(last)) {
    // Inside a crash dump: the nearest error headline above, within the dump.
    for (let j = i; j >= 0 && j > i - 80; j--) {
      if (ERROR_HEADLINE.test(lines[j]!.trim())) return lines[j]!.trim();
    }
    let j = i;
    while (j >= 0 && (lines[j]!.trim() === '}' || /^\s/.test(lines[j]!) || lines[j]!.trim() === '')) j--;
    if (j >= 0) return lines[j]!.trim();
  }
  return last.trim();
}

/** The last `n` lines worth showing a person: stack frames, blank lines and Node's version trailer left out. */
export function meaningfulTail(lines: readonly string[], n: number): string[] {
  return lines.filter((l) => l.trim() !== '' && !STACK_FRAME.test(l) && !NODE_TRAILER.test(l.trim()) && l.trim() !== '^').slice(-n).map((l) => l.trim());
}

/** `text` cut to at most `max` characters at a word boundary, with an ellipsis when cut. */
export function shorten(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  const head = chars.slice(0, max - 1).join('');
  const space = head.search(/\s\S*$/);
  return `${(space > max / 2 ? head.slice(0, space) : head).replace(/[\s,;:]+$/, '')}…`;
}
