import { join } from 'node:path';
import { watchCollection, type CollectionWatch, type CoreClient } from '@mortise/extension-sdk/backend';
import type { Access } from './access.js';
import type { AppendedEvents } from './ingest.js';
import { readJsonFile, writeJsonFile } from './json-file.js';
import type { Labels, LogStore, StreamBatch } from './log-store.js';

// The devops extension's pipeline-run logs, when it is installed: found through the core's API
// alone — PipelineRuns watched with the SDK's watchCollection (a 404 while devops is not
// installed is retried, so installing it later is picked up), each run's log read through the
// devops APIService (`GET /kapis/devops.mortise.io/v1alpha1/namespaces/<ns>/pipelineruns/<run>/log`,
// server-sent events with the line number as id), authorized by the core with the permissions
// the manifest declares. Lines belong to the run's namespace and its workspace, as stream
// {source="devops", namespace, workspace, pipeline, run, stage, step, stream="stdout|stderr|marker"}.
// Per run (by uid) the last stored line number is kept in the data directory, so a restart
// resumes after it; a finished run whose lines are all stored is not read again.

interface Run {
  metadata: { name: string; namespace: string; uid: string };
  spec: { pipeline: string };
  status?: { phase?: string; completionTime?: string };
}

/** One line of a run's log as the devops backend sends it. */
interface RunLogEntry { id: number; time: string; stage?: string; step?: string; kind: 'out' | 'err' | 'marker'; text: string }

/** The last stored line number of a run, and whether the run ended with every line stored. */
interface RunCursor { id: number; done: boolean }

const runsPath = '/apis/devops.mortise.io/v1alpha1/pipelineruns';
const logPath = (r: Run) => `/kapis/devops.mortise.io/v1alpha1/namespaces/${encodeURIComponent(r.metadata.namespace)}/pipelineruns/${encodeURIComponent(r.metadata.name)}/log`;
const doneStates = new Set(['Succeeded', 'Failed', 'Aborted']);
const streamOf = { out: 'stdout', err: 'stderr', marker: 'marker' } as const;
/** Runs read at once (a first start beside many finished runs reads them a few at a time). */
const MAX_FOLLOWED = 8;
const FLUSH_LINES = 500;
const FLUSH_MS = 200;
const RETRY_MS = 2000;

export interface DevopsRunSourceDeps {
  core: CoreClient;
  store: LogStore;
  events: AppendedEvents;
  access: Pick<Access, 'workspaceOf'>;
  dataDir: string;
  /** Finished runs older than this are not read on discovery (retention would delete their lines). */
  maxAgeMs?: number;
  log: (msg: string) => void;
}

/** Labels of a run's line, and its time in nanoseconds: the line number orders lines of one millisecond. */
export function runLine(run: Run, workspace: string, e: RunLogEntry): { labels: Labels; tsNs: bigint } {
  const labels: Labels = { source: 'devops', namespace: run.metadata.namespace, pipeline: run.spec.pipeline, run: run.metadata.name, stream: streamOf[e.kind] ?? 'stdout' };
  if (workspace) labels.workspace = workspace;
  if (e.stage) labels.stage = e.stage;
  if (e.step) labels.step = e.step;
  return { labels, tsNs: BigInt(Date.parse(e.time)) * 1_000_000n + BigInt(e.id % 1_000_000) };
}

export class DevopsRunSource {
  private readonly file: string;
  private readonly cursors: Record<string, RunCursor>;
  private readonly runs = new Map<string, Run>();
  private readonly followed = new Map<string, AbortController>();
  private readonly waiting = new Set<string>();
  private watch: CollectionWatch | undefined;
  private lastError = '';

  constructor(private readonly deps: DevopsRunSourceDeps) {
    this.file = join(deps.dataDir, 'devops-run-cursors.json');
    this.cursors = readJsonFile<Record<string, RunCursor>>(this.file, {});
  }

  start(): void {
    this.watch = watchCollection<Run>(this.deps.core, runsPath, {
      onList: (items) => {
        const present = new Set(items.map((r) => r.metadata.uid));
        for (const uid of [...this.runs.keys(), ...Object.keys(this.cursors)]) if (!present.has(uid)) this.forget(uid);
        this.saveCursors();
        for (const r of items) this.seen(r);
        this.lastError = '';
      },
      onEvent: (type, r) => {
        if (type === 'DELETED') {
          this.forget(r.metadata.uid);
          this.saveCursors();
        } else this.seen(r);
      },
      // Not installed (404) or not allowed: said once, retried quietly.
      onError: (e) => {
        if (e.message !== this.lastError) this.deps.log(`devops run logs: ${e.message}`);
        this.lastError = e.message;
      },
    }, { maxRetryMs: 10_000 });
  }

  stop(): void {
    this.watch?.stop();
    for (const ac of this.followed.values()) ac.abort();
    this.followed.clear();
    this.waiting.clear();
  }

  private seen(r: Run): void {
    const uid = r.metadata.uid;
    this.runs.set(uid, r);
    const phase = r.status?.phase;
    if (this.cursors[uid]?.done || this.followed.has(uid) || !phase || phase === 'Pending') return;
    const finished = r.status?.completionTime ? Date.parse(r.status.completionTime) : NaN;
    if (!this.cursors[uid] && this.deps.maxAgeMs !== undefined && Date.now() - finished > this.deps.maxAgeMs) return;
    this.waiting.add(uid);
    this.pump();
  }

  private forget(uid: string): void {
    this.followed.get(uid)?.abort();
    this.followed.delete(uid);
    this.waiting.delete(uid);
    this.runs.delete(uid);
    delete this.cursors[uid];
  }

  /** Starts reading waiting runs up to the limit, those still running first. */
  private pump(): void {
    while (this.followed.size < MAX_FOLLOWED && this.waiting.size) {
      const uids = [...this.waiting];
      const uid = uids.find((u) => !doneStates.has(this.runs.get(u)?.status?.phase ?? '')) ?? uids[0]!;
      this.waiting.delete(uid);
      const ac = new AbortController();
      this.followed.set(uid, ac);
      void this.follow(uid, ac.signal).finally(() => {
        if (this.followed.get(uid)?.signal === ac.signal) this.followed.delete(uid);
        this.pump();
      });
    }
  }

  /** Reads the run's log after its cursor until the run is finished and every line stored. */
  private async follow(uid: string, signal: AbortSignal): Promise<void> {
    let delay = RETRY_MS;
    while (!signal.aborted && this.runs.has(uid)) {
      const run = this.runs.get(uid)!;
      const workspace = await this.deps.access.workspaceOf(run.metadata.namespace).catch(() => '');
      const pending: RunLogEntry[] = [];
      let timer: NodeJS.Timeout | undefined;
      let flushing = Promise.resolve();
      const flush = () => {
        clearTimeout(timer);
        timer = undefined;
        const entries = pending.splice(0);
        flushing = flushing.then(() => this.store(uid, run, workspace, entries));
        return flushing;
      };
      let ended = false;
      try {
        let event = '';
        for await (const text of this.deps.core.lines(logPath(run), { query: { after: this.cursors[uid]?.id ?? 0 }, signal })) {
          if (text.startsWith('event: ')) event = text.slice(7);
          else if (text.startsWith('data: ') && event === 'log') {
            pending.push(JSON.parse(text.slice(6)) as RunLogEntry);
            if (pending.length >= FLUSH_LINES) await flush();
            else timer ??= setTimeout(() => void flush(), FLUSH_MS);
          } else if (event === 'end') {
            ended = true;
            break;
          }
        }
        await flush();
        delay = RETRY_MS;
      } catch (e) {
        clearTimeout(timer);
        await flushing.catch(() => undefined);
        if (signal.aborted) return;
        this.deps.log(`devops run logs: ${run.metadata.namespace}/${run.metadata.name}: ${(e as Error).message}`);
        delay = Math.min(delay * 2, 30_000);
      }
      // The log ends when the run does; it is complete once the core says the run finished.
      if (ended && doneStates.has(this.runs.get(uid)?.status?.phase ?? '')) {
        this.cursors[uid] = { id: this.cursors[uid]?.id ?? 0, done: true };
        this.saveCursors();
        return;
      }
      await new Promise((r) => setTimeout(r, delay).unref());
    }
  }

  /** Stores a batch of one run's lines (one stream per stage, step and output), then moves its cursor. */
  private async store(uid: string, run: Run, workspace: string, entries: RunLogEntry[]): Promise<void> {
    if (entries.length === 0 || !this.runs.has(uid)) return;
    const streams = new Map<string, StreamBatch>();
    for (const e of entries) {
      const { labels, tsNs } = runLine(run, workspace, e);
      const key = JSON.stringify(labels);
      let s = streams.get(key);
      if (!s) streams.set(key, (s = { labels, namespace: run.metadata.namespace, workspace, entries: [] }));
      s.entries.push({ tsNs, line: e.text });
    }
    const batch = [...streams.values()];
    await this.deps.store.append(batch);
    this.deps.events.emit('appended', batch);
    this.cursors[uid] = { id: entries[entries.length - 1]!.id, done: false };
    this.saveCursors();
  }

  private saveCursors(): void {
    writeJsonFile(this.file, this.cursors);
  }
}
