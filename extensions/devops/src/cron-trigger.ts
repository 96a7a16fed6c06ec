import { Cron } from 'croner';
import { CoreApiError, type CoreClient } from '@mortise/extension-sdk/backend';
import { pipelinePath, runsPath } from './run-executor.js';
import type { KubeObject, PipelineSpec } from './pipeline-types.js';

// Cron triggers (`spec.triggers.cron`): standard 5-field expressions (croner), in UTC unless a
// timezone is named. Firing is idempotent and remembered in the core, not in this process:
// - the run for schedule time T is named `<pipeline>-cron-<T in minutes since the epoch>`, so a
//   second firing of T (a restart, two backends during an upgrade) meets AlreadyExists;
// - `status.lastScheduleTime` records the last T fired; at start (or when it changes) the
//   latest T missed since then fires once — a backend down for a day starts one run, not 1440.

export interface CronTrigger { schedule: string; timezone?: string; parameters?: Record<string, string> }
type PipelineStatus = { lastScheduleTime?: string; cron?: { schedule: string; valid: boolean; message?: string; nextScheduleTime?: string } };
type Pipeline = KubeObject<PipelineSpec & { triggers?: { cron?: CronTrigger } }, PipelineStatus>;

/** The parsed expression, or why it is not a standard 5-field cron expression. */
export function parseSchedule(t: CronTrigger): Cron | string {
  const fields = t.schedule.trim().split(/\s+/);
  if (fields.length !== 5) return `"${t.schedule}" is not a 5-field cron expression (minute hour day-of-month month day-of-week)`;
  try {
    const cron = new Cron(t.schedule, { timezone: t.timezone ?? 'UTC', paused: true });
    cron.nextRun();
    return cron;
  } catch (e) {
    return `"${t.schedule}"${t.timezone ? ` in ${t.timezone}` : ''}: ${(e as Error).message}`;
  }
}

const armedFor = (p: Pipeline) => JSON.stringify([p.spec.triggers?.cron, p.status?.lastScheduleTime]);

export const cronRunName = (pipeline: string, at: Date) => `${pipeline}-cron-${Math.floor(at.getTime() / 60_000)}`;

export class CronScheduler {
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; armedFor: string }>();

  constructor(private readonly core: CoreClient, private readonly log: (msg: string, fields: Record<string, unknown>) => void) {}

  /** A pipeline was listed, added or changed: (re)arm its trigger, firing what was missed. */
  async sync(p: Pipeline): Promise<void> {
    const key = `${p.metadata.namespace}/${p.metadata.name}`;
    const trigger = p.spec.triggers?.cron;
    const armed = this.timers.get(key);
    // Our own status writes come back as events: nothing to do when neither trigger nor last firing changed.
    if (armed && armed.armedFor === armedFor(p)) return;
    if (armed) clearTimeout(armed.timer);
    this.timers.delete(key);
    if (!trigger) return;
    const cron = parseSchedule(trigger);
    if (typeof cron === 'string') {
      if (p.status?.cron?.message !== cron) await this.setStatus(p, { cron: { schedule: trigger.schedule, valid: false, message: cron } });
      return;
    }
    const last = new Date(p.status?.lastScheduleTime ?? p.metadata.creationTimestamp ?? Date.now());
    const now = new Date();
    const due = cron.previousRuns(1, new Date(now.getTime() + 1))[0];
    if (due && due > last) {
      await this.fire(p, trigger, due);
      p = { ...p, status: { ...p.status, lastScheduleTime: due.toISOString() } };
    }
    this.arm(p, trigger, cron);
  }

  remove(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const armed = this.timers.get(key);
    if (armed) clearTimeout(armed.timer);
    this.timers.delete(key);
  }

  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
  }

  private arm(p: Pipeline, trigger: CronTrigger, cron: Cron): void {
    const key = `${p.metadata.namespace}/${p.metadata.name}`;
    const next = cron.nextRun();
    if (!next) return;
    void this.setStatus(p, { cron: { schedule: trigger.schedule, valid: true, nextScheduleTime: next.toISOString() } }).catch(() => undefined);
    // Long waits are re-armed in steps (timers hold at most ~24.8 days).
    const delay = Math.min(next.getTime() - Date.now(), 2 ** 31 - 1);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      void (async () => {
        if (Date.now() >= next.getTime()) await this.fire(p, trigger, next);
        this.arm({ ...p, status: { ...p.status, lastScheduleTime: next.toISOString() } }, trigger, cron);
      })().catch((e: unknown) => this.log('cron firing failed', { pipeline: key, err: (e as Error).message }));
    }, Math.max(0, delay));
    timer.unref();
    this.timers.set(key, { timer, armedFor: armedFor(p) });
  }

  private async fire(p: Pipeline, trigger: CronTrigger, at: Date): Promise<void> {
    const ns = p.metadata.namespace;
    try {
      await this.core.post(runsPath(ns), {
        apiVersion: 'devops.mortise.io/v1alpha1', kind: 'PipelineRun',
        metadata: { name: cronRunName(p.metadata.name, at), annotations: { 'devops.mortise.io/scheduled-for': at.toISOString() } },
        spec: { pipeline: p.metadata.name, parameters: trigger.parameters ?? {}, triggeredBy: `cron (${trigger.schedule})` },
      });
    } catch (e) {
      // Fired already (by this backend before a restart, or by another): nothing more to do.
      if (!(e instanceof CoreApiError && e.reason === 'AlreadyExists')) throw e;
    }
    await this.setStatus(p, { lastScheduleTime: at.toISOString() });
  }

  private setStatus(p: Pipeline, status: PipelineStatus): Promise<unknown> {
    return this.core.patch(`${pipelinePath(p.metadata.namespace, p.metadata.name)}/status`, { status });
  }
}
