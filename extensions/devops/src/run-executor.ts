import type { ChildProcess } from 'node:child_process';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readSync, realpathSync, statSync, writeSync, type Stats } from 'node:fs';
import { basename, join, resolve, sep } from 'node:path';
import type { CoreClient } from '@mortise/extension-sdk/backend';
import { checkoutTarget, gitConfigEnv } from './checkout-target.js';
import type { RunLog } from './run-log.js';
import { startProcess } from './sandbox.js';
import { stepName, type KubeObject, type Phase, type PipelineSpec, type RunSpec, type RunStatus, type Step, type StepStatus } from './pipeline-types.js';

export interface ExecutorOptions {
  core: CoreClient;
  confined: boolean;
  /** The bubblewrap binary (config `bwrapPath`, default "bwrap" on the PATH). */
  bwrapPath?: string;
  localGitRoots: string[];
  /** Hosts a checkout may reach though they are this machine's or link-local (checkout-target.ts). */
  checkoutAllowedHosts: string[];
  maxLogBytesPerStep: number;
  /** Writes the status to the PipelineRun (status subresource). */
  saveStatus: (status: RunStatus) => Promise<void>;
}

const runsPath = (ns: string) => `/apis/devops.mortise.io/v1alpha1/namespaces/${ns}/pipelineruns`;
export const pipelinePath = (ns: string, name: string) => `/apis/devops.mortise.io/v1alpha1/namespaces/${ns}/pipelines/${name}`;
export { runsPath };

class Aborted extends Error {}

/**
 * Runs one PipelineRun: stages in order, a stage's parallel branches at once, `when` checks,
 * per-step timeouts and retries, approvals, then the `post` steps; the status is written back
 * after every change and every line of output goes to the run's log.
 */
export class RunExecutor {
  readonly status: RunStatus;
  private readonly children = new Set<ChildProcess>();
  private readonly approvals = new Map<string, { approvers: string[]; resolve: (who: string) => void }>();
  private readonly secrets: string[] = [];
  private aborted = false;
  private saving = Promise.resolve();

  constructor(
    readonly run: KubeObject<RunSpec>, private readonly pipeline: PipelineSpec, private readonly dir: { workspace: string; artifacts: string },
    readonly log: RunLog, private readonly o: ExecutorOptions,
  ) {
    const params: Record<string, string> = {};
    for (const p of pipeline.parameters ?? []) if (p.default !== undefined) params[p.name] = p.default;
    Object.assign(params, run.spec.parameters ?? {});
    this.status = {
      phase: 'Pending', triggeredBy: run.spec.triggeredBy, parameters: params,
      stages: pipeline.stages.map((s) => ({
        name: s.name, phase: 'Pending',
        branches: s.parallel ? s.parallel.map((b) => ({ name: b.name, steps: b.steps.map((st, i) => ({ name: stepName(st, i), phase: 'Pending' as Phase })) }))
          : [{ name: s.name, steps: (s.steps ?? []).map((st, i) => ({ name: stepName(st, i), phase: 'Pending' as Phase })) }],
      })),
      artifacts: [],
    };
  }

  secretValues(): string[] {
    return this.secrets;
  }

  abort(): void {
    this.aborted = true;
    for (const c of this.children) killGroup(c);
    for (const a of this.approvals.values()) a.resolve('');
  }

  /**
   * Approves the first waiting step `user` is an approver of. Parallel branches may wait at once
   * on different approvers: each answers only to its own.
   */
  approve(user: string): 'approved' | 'forbidden' | 'nothing-waiting' {
    if (this.approvals.size === 0) return 'nothing-waiting';
    for (const [key, a] of this.approvals) {
      if (!a.approvers.includes(user)) continue;
      this.approvals.delete(key);
      a.resolve(user);
      return 'approved';
    }
    return 'forbidden';
  }

  /** The approvers of every waiting step. */
  waitingApprovers(): string[] | undefined {
    if (this.approvals.size === 0) return undefined;
    return [...new Set([...this.approvals.values()].flatMap((a) => a.approvers))];
  }

  async execute(): Promise<void> {
    mkdirSync(this.dir.workspace, { recursive: true });
    mkdirSync(this.dir.artifacts, { recursive: true });
    this.status.phase = 'Running';
    this.status.startTime = new Date().toISOString();
    void this.save(); // saves are chained in order; the last one is awaited
    let failed: string | undefined;
    for (const [i, stage] of this.pipeline.stages.entries()) {
      const st = this.status.stages[i]!;
      if (failed || this.aborted) {
        st.phase = 'Skipped';
        continue;
      }
      if (stage.when && (this.status.parameters?.[stage.when.parameter] ?? '') !== stage.when.equals) {
        st.phase = 'Skipped';
        this.log.write('marker', `stage ${stage.name} skipped (when ${stage.when.parameter} == ${stage.when.equals})`, { stage: stage.name });
        continue;
      }
      st.phase = 'Running';
      this.log.write('marker', `stage ${stage.name} started`, { stage: stage.name });
      void this.save(); // saves are chained in order; the last one is awaited
      const branches = stage.parallel ?? [{ name: stage.name, steps: stage.steps ?? [] }];
      const results = await Promise.all(branches.map((b, bi) => this.runSteps(b.steps, st.branches[bi]!.steps, stage.name, stage.parallel ? b.name : undefined)));
      const bad = results.find((r) => r !== undefined);
      st.phase = this.aborted ? 'Aborted' : bad ? 'Failed' : 'Succeeded';
      this.log.write('marker', `stage ${stage.name} ${st.phase.toLowerCase()}`, { stage: stage.name });
      if (bad) failed = `stage ${stage.name}: ${bad}`;
      void this.save(); // saves are chained in order; the last one is awaited
    }
    const post = this.pipeline.post ?? {};
    const postSteps = [...(post.always ?? []), ...((failed || this.aborted ? post.failure : post.success) ?? [])];
    if (postSteps.length) {
      const statuses: StepStatus[] = postSteps.map((s, i) => ({ name: stepName(s, i), phase: 'Pending' }));
      this.status.stages.push({ name: 'post', phase: 'Running', branches: [{ name: 'post', steps: statuses }] });
      this.log.write('marker', 'stage post started', { stage: 'post' });
      const postFailure = await this.runSteps(postSteps, statuses, 'post', undefined, true);
      this.status.stages[this.status.stages.length - 1]!.phase = postFailure ? 'Failed' : 'Succeeded';
      if (postFailure && !failed) failed = `post: ${postFailure}`;
    }
    this.status.phase = this.aborted ? 'Aborted' : failed ? 'Failed' : 'Succeeded';
    this.status.message = this.aborted ? 'aborted' : failed;
    this.status.completionTime = new Date().toISOString();
    this.log.write('marker', `run ${this.status.phase.toLowerCase()}${failed ? `: ${failed}` : ''}`);
    await this.save();
    this.log.end();
  }

  /** Runs steps in order; the reason of the first failure, or undefined. `all` keeps going after one fails (post). */
  private async runSteps(steps: Step[], statuses: StepStatus[], stage: string, branch: string | undefined, all = false): Promise<string | undefined> {
    let failure: string | undefined;
    for (const [i, step] of steps.entries()) {
      const s = statuses[i]!;
      if ((failure && !all) || this.aborted) {
        s.phase = 'Skipped';
        continue;
      }
      const where = { stage, step: branch ? `${branch}/${s.name}` : s.name };
      s.phase = 'Running';
      s.startTime = new Date().toISOString();
      this.log.write('marker', `step ${where.step} started`, where);
      void this.save(); // saves are chained in order; the last one is awaited
      const attempts = 1 + Math.max(0, Math.min(step.retries ?? 0, 10));
      let reason: string | undefined;
      for (let a = 1; a <= attempts; a++) {
        s.attempts = a;
        try {
          reason = await this.runStep(step, s, where);
        } catch (e) {
          reason = e instanceof Aborted ? 'aborted' : (e as Error).message;
        }
        if (!reason || this.aborted) break;
        if (a < attempts) this.log.write('marker', `step ${where.step} failed (${reason}); retry ${a}/${attempts - 1}`, where);
      }
      s.phase = this.aborted ? 'Aborted' : reason ? 'Failed' : 'Succeeded';
      s.message = reason;
      s.completionTime = new Date().toISOString();
      this.log.write('marker', `step ${where.step} ${s.phase.toLowerCase()}${reason ? `: ${reason}` : ''}`, where);
      await this.save();
      if (reason) failure = `${where.step}: ${reason}`;
    }
    return failure;
  }

  private async runStep(step: Step, s: StepStatus, where: { stage: string; step: string }): Promise<string | undefined> {
    if (step.approval) return this.awaitApproval(step.approval, s, where);
    if (step.archive) return this.archive(step.archive, where);
    const env: Record<string, string> = { ...(this.pipeline.env ?? {}), ...(step.env ?? {}) };
    for (const [k, v] of Object.entries(this.status.parameters ?? {})) env[`PARAM_${k}`] = v;
    for (const se of step.secretEnv ?? []) {
      const secret = await this.o.core.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${this.run.metadata.namespace}/secrets/${se.secretRef.name}`);
      const value = Buffer.from(secret.data?.[se.secretRef.key] ?? '', 'base64').toString('utf8');
      if (value) this.secrets.push(value);
      env[se.name] = value;
    }
    let script = step.sh ?? '';
    const readOnly: string[] = [];
    let network = false;
    if (step.checkout) {
      const { url, ref, dir } = step.checkout;
      if (url.startsWith('file://') || url.startsWith('/')) {
        const path = resolve(url.replace(/^file:\/\//, ''));
        const root = this.o.localGitRoots.find((r) => path === r || path.startsWith(r.endsWith(sep) ? r : r + sep));
        if (!root) return `the local repository ${path} is not under a directory the administrator allowed (config localGitRoots)`;
        readOnly.push(root);
      } else if (/^https?:\/\//.test(url)) {
        const target = await checkoutTarget(url, this.o.checkoutAllowedHosts);
        if (!target.ok) return target.reason;
        Object.assign(env, gitConfigEnv(target.gitConfig));
        network = true;
      } else {
        return 'checkout supports https://, http:// and allowed file:// URLs only';
      }
      env.GIT_URL = url;
      env.GIT_REF = ref ?? '';
      env.GIT_DIR_NAME = dir ?? '.';
      // -c protocol.allow limits git to the transports above (never ext:: and friends).
      script = 'git -c protocol.allow=never -c protocol.file.allow=always -c protocol.https.allow=always -c protocol.http.allow=always clone -q ${GIT_REF:+--branch "$GIT_REF"} "$GIT_URL" "$GIT_DIR_NAME" && git -C "$GIT_DIR_NAME" -c safe.directory=* log -1 --format="checked out %H %s"';
    }
    if (!script) return 'the step has nothing to do (sh, checkout, archive or approval)';
    return this.exec(script, { env, readOnly, network }, step.timeoutSeconds, where);
  }

  private exec(script: string, o: { env: Record<string, string>; readOnly: string[]; network: boolean }, timeoutSeconds: number | undefined, where: { stage: string; step: string }): Promise<string | undefined> {
    if (this.aborted) return Promise.reject(new Aborted());
    const child = startProcess(script, { workspace: this.dir.workspace, ...o, bwrapPath: this.o.bwrapPath }, this.o.confined);
    this.children.add(child);
    let bytes = 0;
    let cut: string | undefined;
    const flushes: Array<() => void> = [];
    const onData = (kind: 'out' | 'err') => {
      let pending = '';
      // The last line, when the step ends without a newline, is logged (masked) when the stream ends.
      flushes.push(() => {
        if (pending) this.log.write(kind, pending, where);
        pending = '';
      });
      return (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > this.o.maxLogBytesPerStep) {
          if (!cut) {
            cut = `the step printed more than ${this.o.maxLogBytesPerStep} bytes`;
            killGroup(child);
          }
          return;
        }
        pending += chunk.toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const l of lines) this.log.write(kind, l, where);
      };
    };
    child.stdout!.on('data', onData('out'));
    child.stderr!.on('data', onData('err'));
    const timer = timeoutSeconds ? setTimeout(() => {
      cut ??= `timed out after ${timeoutSeconds}s`;
      killGroup(child);
    }, timeoutSeconds * 1000) : undefined;
    return new Promise((resolvePromise) => {
      child.once('error', (e) => {
        clearTimeout(timer);
        this.children.delete(child);
        resolvePromise(`could not start: ${e.message}`);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        this.children.delete(child);
        for (const flush of flushes) flush();
        if (this.aborted) resolvePromise('aborted');
        else if (cut) resolvePromise(cut);
        else resolvePromise(code === 0 ? undefined : `exit code ${code ?? signal}`);
      });
    });
  }

  private async awaitApproval(approval: { approvers: string[]; message?: string }, s: StepStatus, where: { stage: string; step: string }): Promise<string | undefined> {
    s.phase = 'WaitingForApproval';
    s.message = `waiting for ${approval.approvers.join(', ')}${approval.message ? `: ${approval.message}` : ''}`;
    const previous = this.status.phase;
    this.status.phase = 'WaitingForApproval';
    this.log.write('marker', `step ${where.step} waits for approval by ${approval.approvers.join(', ')}`, where);
    await this.save();
    const who = await new Promise<string>((res) => this.approvals.set(`${where.stage}/${where.step}`, { approvers: approval.approvers, resolve: res }));
    this.status.phase = previous;
    if (!who) return 'aborted';
    s.approvedBy = who;
    this.log.write('marker', `step ${where.step} approved by ${who}`, where);
    return undefined;
  }

  /**
   * Copies a regular file of the workspace (no links out of it) to the run's artifacts. Steps of
   * parallel branches run meanwhile and may swap a checked path for a symlink to a host file, so
   * what is copied is what was opened: opened without following a link at its end (nor
   * blocking on a FIFO), then kept only when the path, resolved again, still leads inside the
   * workspace to that same file.
   */
  private async archive(path: string, where: { stage: string; step: string }): Promise<string | undefined> {
    const workspace = realpathSync(this.dir.workspace);
    const inside = (p: string) => p.startsWith(workspace + sep);
    const full = resolve(workspace, path);
    if (!inside(full)) return `the artifact ${path} is outside the workspace`;
    const notRegular = `the artifact ${path} is not a regular file in the workspace`;
    let fd: number;
    try {
      const real = realpathSync(full);
      if (!inside(real)) return notRegular;
      fd = openSync(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ENOENT' ? `the artifact ${path} does not exist` : notRegular;
    }
    try {
      const opened = fstatSync(fd);
      let real: string;
      let now: Stats;
      try {
        real = realpathSync(full);
        now = statSync(real);
      } catch {
        return notRegular;
      }
      if (!opened.isFile() || !inside(real) || now.dev !== opened.dev || now.ino !== opened.ino) return notRegular;
      const name = basename(real);
      copyOpened(fd, join(this.dir.artifacts, name));
      this.status.artifacts = [...(this.status.artifacts ?? []).filter((a) => a.name !== name), { name, size: opened.size }];
      this.log.write('marker', `archived ${name}`, where);
      return undefined;
    } finally {
      closeSync(fd);
    }
  }

  private save(): Promise<void> {
    const snapshot = structuredClone(this.status);
    this.saving = this.saving.then(() => this.o.saveStatus(snapshot)).catch(() => undefined);
    return this.saving;
  }
}

/** Copies an open file to `dest` (replaced). */
function copyOpened(fd: number, dest: string): void {
  const out = openSync(dest, 'w');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n: number; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) writeSync(out, buf, 0, n);
  } finally {
    closeSync(out);
  }
}

function killGroup(child: ChildProcess): void {
  try {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}
