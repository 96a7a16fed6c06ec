import cliProgress from 'cli-progress';
import { formatDuration } from './output.js';

/**
 * Progress of a long operation in numbered steps: a bar (cli-progress) when the stream is a
 * terminal, otherwise one plain line per step ("[2/3] Syncing ...") that CI logs keep readable.
 */
export interface Progress {
  /** Starts step `n` (1-based) of the total. */
  step(n: number, label: string): void;
  /** Changes the text of the current step (shown on the bar; printed once per change in plain mode). */
  detail(text: string): void;
  /** Ends the display (the bar disappears); the caller prints the result. */
  stop(): void;
}

export interface ProgressOptions {
  total: number;
  /** Where progress goes: stdout for human output, stderr when stdout carries json/yaml. */
  stream: NodeJS.WriteStream;
}

/** Whether to draw bars on this stream: a terminal, outside CI, that can move the cursor. */
export function isInteractive(stream: NodeJS.WriteStream): boolean {
  return !!stream.isTTY && !process.env.CI && process.env.TERM !== 'dumb';
}

export function createProgress(options: ProgressOptions): Progress {
  return isInteractive(options.stream) ? new BarProgress(options) : new LineProgress(options);
}

class LineProgress implements Progress {
  private readonly started = Date.now();
  private lastDetail = '';
  private current = 0;

  constructor(private readonly options: ProgressOptions) {}

  step(n: number, label: string): void {
    this.current = n;
    this.lastDetail = '';
    this.options.stream.write(`[${n}/${this.options.total}] ${label}\n`);
  }

  detail(text: string): void {
    if (text === this.lastDetail) return;
    this.lastDetail = text;
    this.options.stream.write(`[${this.current}/${this.options.total}]   ${text} (${formatDuration(Date.now() - this.started)})\n`);
  }

  stop(): void {}
}

class BarProgress implements Progress {
  private readonly bar: cliProgress.SingleBar;
  private running = false;
  private label = '';
  /** Ctrl-C while the bar runs: give the terminal its cursor back, then end as Node would. */
  private readonly onInterrupt = () => {
    this.stop();
    process.exit(130);
  };

  constructor(private readonly options: ProgressOptions) {
    this.bar = terminalBar(options.stream, '{bar} {value}/{total} {label} {duration_formatted}');
  }

  step(n: number, label: string): void {
    this.label = label;
    // The bar shows finished steps: step n running means n-1 are done.
    if (!this.running) {
      this.bar.start(this.options.total, n - 1, { label });
      this.running = true;
      process.once('SIGINT', this.onInterrupt);
    } else {
      this.bar.update(n - 1, { label });
    }
  }

  detail(text: string): void {
    if (this.running) this.bar.update({ label: `${this.label}: ${text}` });
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    process.off('SIGINT', this.onInterrupt);
    this.bar.stop();
  }
}

/** The one look of every progress bar the CLI draws on a terminal. */
export function terminalBar(stream: NodeJS.WriteStream, format: string): cliProgress.SingleBar {
  return new cliProgress.SingleBar({
    stream, format, barsize: 20, hideCursor: true, clearOnComplete: true, linewrap: false, fps: 8,
  }, cliProgress.Presets.shades_classic);
}
