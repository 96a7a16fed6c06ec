import { EventEmitter } from 'node:events';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

/** One line of a run's log: output of a step, or a marker where a stage or step starts or ends. */
export interface LogEntry {
  id: number;
  time: string;
  stage?: string;
  step?: string;
  kind: 'out' | 'err' | 'marker';
  text: string;
}

/**
 * A run's log: appended to a JSON-lines file (so it survives restarts) and fanned out to live
 * followers. Ids increase by one, so a follower that reconnects with Last-Event-ID gets exactly
 * the entries after it.
 */
export class RunLog extends EventEmitter<{ entry: [LogEntry]; end: [] }> {
  private next = 1;
  ended = false;

  constructor(readonly file: string, private readonly mask: () => string[]) {
    super();
    this.setMaxListeners(0);
    if (existsSync(file)) this.next = this.read().length + 1;
  }

  write(kind: LogEntry['kind'], text: string, where: { stage?: string; step?: string } = {}): void {
    let masked = text;
    for (const secret of this.mask()) {
      // The log is kept line by line: a secret of several lines (a key, a certificate) is never
      // whole in one entry, so each of its lines is masked as well (the whole value first).
      const parts = secret.includes('\n') ? [secret, ...secret.split(/\r?\n/).map((l) => l.trim())] : [secret];
      for (const part of parts) if (part.length >= 3) masked = masked.split(part).join('****');
    }
    const entry: LogEntry = { id: this.next++, time: new Date().toISOString(), ...where, kind, text: masked };
    appendFileSync(this.file, `${JSON.stringify(entry)}\n`);
    this.emit('entry', entry);
  }

  end(): void {
    this.ended = true;
    this.emit('end');
  }

  read(after = 0): LogEntry[] {
    if (!existsSync(this.file)) return [];
    return readFileSync(this.file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogEntry).filter((e) => e.id > after);
  }
}
