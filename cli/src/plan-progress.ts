import cliProgress from 'cli-progress';
import type { InstallPlan, PlanProgress as StepProgress } from './api.js';
import { formatDuration } from './output.js';
import { isInteractive, terminalBar } from './progress.js';

/** What the installer's steps (`status.progress.step`) do, as the CLI shows them. */
const stepLabels: Record<string, string> = {
  resolve: 'Resolving the version',
  download: 'Downloading the package',
  unpack: 'Unpacking the package',
  check: 'Checking compatibility, dependencies and configuration',
  resources: 'Creating its resources',
  backend: 'Starting the backend',
  routes: 'Switching routes',
};

/**
 * What an InstallPlan is doing while the CLI waits for it, from its `status.state`,
 * `status.message` and `status.progress`: a bar (cli-progress) on a terminal, otherwise one
 * line per change of state or message ("Installing: unpacking hello-world 0.1.0 (1s)") and
 * one per installer step ("[3/7] Unpacking the package").
 */
export interface PlanProgress {
  /** Something the CLI does itself ("Creating InstallPlan ..."). */
  note(text: string): void;
  /** The plan as it was before the operation: only what changes after it is shown. */
  baseline(plan: InstallPlan | undefined): void;
  /** The plan as read now; undefined once it is gone. */
  update(plan: InstallPlan | undefined): void;
  /** Said on stderr if the user presses Ctrl-C from now on (the operation goes on in the core). */
  onInterrupt(text: string): void;
  /** Ends the display; the caller prints the result. */
  stop(): void;
}

export interface PlanProgressOptions {
  /** stdout for human output, stderr when stdout carries json/yaml. */
  stream: NodeJS.WriteStream;
  /** Whether the operation runs the installer's numbered steps (install, upgrade, retry). */
  steps: boolean;
}

export function createPlanProgress(options: PlanProgressOptions): PlanProgress {
  return isInteractive(options.stream) ? new BarPlanProgress(options) : new LinePlanProgress(options);
}

const stepKey = (p: StepProgress | undefined) => (p ? `${p.step} ${p.completed}/${p.total}` : '');
const stateKey = (plan: InstallPlan | undefined) => (plan ? `${plan.status?.state ?? 'Pending'}\n${plan.status?.message ?? ''}` : 'gone');

/** What is common to both displays: what changed since the last look, Ctrl-C. */
abstract class PlanDisplay implements PlanProgress {
  protected readonly started = Date.now();
  private lastState = '';
  private lastStep = '';
  private interruptText = '';
  private listening = false;
  private readonly interrupted = () => {
    this.stop();
    if (this.interruptText) process.stderr.write(`\n${this.interruptText}\n`);
    process.exit(130);
  };

  constructor(protected readonly options: PlanProgressOptions) {}

  abstract note(text: string): void;
  protected abstract showState(state: string, message: string): void;
  protected abstract showStep(progress: StepProgress): void;
  protected abstract end(): void;

  baseline(plan: InstallPlan | undefined): void {
    this.lastState = stateKey(plan);
    this.lastStep = stepKey(plan?.status?.progress);
  }

  update(plan: InstallPlan | undefined): void {
    const step = plan?.status?.progress;
    // A step is the installer's news only when it differs from the last one seen: a plan keeps
    // the progress of its last install ("done") until the next one starts.
    if (this.options.steps && step && stepKey(step) !== this.lastStep) {
      this.lastStep = stepKey(step);
      this.showStep(step);
    }
    const key = stateKey(plan);
    if (key !== this.lastState) {
      this.lastState = key;
      if (plan) this.showState(plan.status?.state ?? 'Pending', plan.status?.message ?? '');
    }
  }

  onInterrupt(text: string): void {
    this.interruptText = text;
    this.listen();
  }

  protected listen(): void {
    if (this.listening) return;
    this.listening = true;
    process.once('SIGINT', this.interrupted);
  }

  stop(): void {
    if (this.listening) {
      this.listening = false;
      process.off('SIGINT', this.interrupted);
    }
    this.end();
  }
}

class LinePlanProgress extends PlanDisplay {
  note(text: string): void {
    this.options.stream.write(`${text}\n`);
  }

  protected showState(state: string, message: string): void {
    this.options.stream.write(`${state}${message ? `: ${message}` : ''} (${formatDuration(Date.now() - this.started)})\n`);
  }

  protected showStep(p: StepProgress): void {
    // "done" is no step of its own: the state line that comes with it says how it ended.
    if (p.step === 'done') return;
    this.options.stream.write(`[${Math.min(p.completed + 1, p.total)}/${p.total}] ${stepLabels[p.step] ?? p.step}\n`);
  }

  protected end(): void {}
}

class BarPlanProgress extends PlanDisplay {
  private readonly bar: cliProgress.SingleBar;
  private running = false;
  private total: number;
  private value = 0;
  private state = '';
  private label = '';

  constructor(options: PlanProgressOptions) {
    super(options);
    // Without steps (enable, disable, uninstall) there is no count to show, only the state.
    this.total = options.steps ? 7 : 1;
    this.bar = terminalBar(options.stream, options.steps ? '{bar} {value}/{total} {state}{label} {duration_formatted}' : '{bar} {state}{label} {duration_formatted}');
  }

  note(text: string): void {
    this.label = text;
    this.render();
  }

  protected showState(state: string, message: string): void {
    this.state = state;
    this.label = message ? `: ${message}` : '';
    this.render();
  }

  protected showStep(p: StepProgress): void {
    this.total = p.total;
    this.value = p.completed;
    // "done" fills the bar; the state that comes with it labels it.
    if (p.step !== 'done') {
      this.state = '';
      this.label = stepLabels[p.step] ?? p.step;
    }
    this.render();
  }

  private render(): void {
    const payload = { state: this.state, label: this.label };
    if (!this.running) {
      this.running = true;
      // Ctrl-C must give the terminal its cursor back.
      this.listen();
      this.bar.start(this.total, this.value, payload);
      return;
    }
    this.bar.setTotal(this.total);
    this.bar.update(this.value, payload);
  }

  protected end(): void {
    if (!this.running) return;
    this.running = false;
    this.bar.stop();
  }
}
