import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

// The backends a ProcessRuntime has running, kept on disk so that the next core can kill the
// ones a killed core (SIGKILL, OOM, power-cut of the supervisor only) left behind. A pid is only
// killed when it still runs the recorded entry file (its command line) and, where the platform
// tells, started at the recorded time, so a recycled pid is never hit.

export interface PidRecord {
  pid: number;
  id: string;
  entry: string;
  /** /proc/<pid>/stat field 22 (start time in clock ticks since boot), where available. */
  startTime?: string;
}

/** Start time of a process from /proc (Linux); undefined where unavailable. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/** The argv of a running process, or undefined when it is gone (zombies count as gone). */
export function processArgs(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a.length > 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || process.platform === 'linux') return undefined;
  }
  // No /proc (macOS, BSD): ask ps. Its output joins the arguments with spaces.
  try {
    const out = execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return out ? [out] : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `pid` still runs the backend described by `rec`. */
export function runsRecordedBackend(rec: PidRecord): boolean {
  const args = processArgs(rec.pid);
  if (!args) return false;
  // ps (no /proc) gives one space-joined string; /proc gives the exact argv.
  const matches = args.includes(rec.entry) || (process.platform !== 'linux' && args.some((a) => a.includes(rec.entry)));
  if (!matches) return false;
  if (rec.startTime !== undefined) {
    const now = processStartTime(rec.pid);
    if (now !== undefined && now !== rec.startTime) return false;
  }
  return true;
}

export class PidFile {
  private records: PidRecord[] = [];

  constructor(readonly path: string) {}

  /** Records left by a previous owner (an unreadable or corrupt file counts as empty). */
  read(): PidRecord[] {
    try {
      const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as unknown;
      if (!Array.isArray(parsed)) return [];
      return parsed.filter(
        (r): r is PidRecord =>
          !!r && typeof r === 'object' && Number.isInteger((r as PidRecord).pid) && (r as PidRecord).pid > 0 &&
          typeof (r as PidRecord).entry === 'string' && typeof (r as PidRecord).id === 'string',
      );
    } catch {
      return [];
    }
  }

  /**
   * Kills (SIGKILL) every recorded process that still runs its recorded entry and forgets the
   * rest. Returns what was killed. Synchronous: the constructor of the runtime calls it before
   * anything is started again.
   */
  killStale(): PidRecord[] {
    const killed: PidRecord[] = [];
    for (const rec of this.read()) {
      if (rec.pid === process.pid || !runsRecordedBackend(rec)) continue;
      try {
        process.kill(rec.pid, 'SIGKILL');
        killed.push(rec);
      } catch {
        // gone in the meantime, or not ours to kill
      }
    }
    this.records = [];
    this.save();
    return killed;
  }

  add(rec: PidRecord): void {
    this.records = this.records.filter((r) => r.pid !== rec.pid);
    this.records.push(rec);
    this.save();
  }

  remove(pid: number): void {
    const before = this.records.length;
    this.records = this.records.filter((r) => r.pid !== pid);
    if (this.records.length !== before) this.save();
  }

  private save(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.records, null, 1) + '\n', { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
