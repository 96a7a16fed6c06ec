import { installPlansPath, type InstallPlan } from './api.js';
import type { CoreClient } from './client/core-client.js';
import { CliError } from './errors.js';
import { assertNotUninstalling, planView, requirePlan, settled, waitForPlan, type Judge } from './installplans.js';
import { isMachine, out, printData, type OutputFormat } from './output.js';
import { createPlanProgress } from './plan-progress.js';

/** One change to an InstallPlan, followed until the installer is done with it. */
export interface PlanOperation {
  name: string;
  /** The plan before the change (undefined for an install): only what changes is shown. */
  before: InstallPlan | undefined;
  /** Whether the installer runs its numbered steps (install, upgrade, retry): a bar with a count. */
  steps: boolean;
  /** What the CLI does, shown first: 'Disabling hello-world'. */
  note: string;
  /** What goes on in the core, for timeouts and Ctrl-C: 'installing hello-world 0.1.0'. */
  what: string;
  /** Makes the change; the judge says when the installer is done with it. */
  apply(): Promise<{ plan: InstallPlan | undefined; judge: Judge }>;
  /** The result line after --no-wait. */
  started: string;
  /** The result line when it worked. */
  succeeded(plan: InstallPlan | undefined): string;
  /** The error when the installer reports failure (its message; the plan as last read). */
  failed(message: string, plan: InstallPlan | undefined): CliError;
}

export interface OperationFlags {
  wait: boolean;
  timeout: number;
  output?: OutputFormat;
}

/**
 * Runs the operation with a progress display (a bar on a terminal, lines otherwise; on stderr
 * when stdout carries -o json/yaml), waits unless --no-wait, and prints the result: a sentence,
 * or the plan's record with -o json/yaml (also when it failed). Failure exits non-zero.
 */
export async function runPlanOperation(client: CoreClient, op: PlanOperation, flags: OperationFlags): Promise<void> {
  const output = flags.output ?? 'table';
  const machine = isMachine(output);
  const display = createPlanProgress({ stream: machine ? process.stderr : process.stdout, steps: op.steps });
  const print = (plan: InstallPlan | undefined) => {
    if (machine && plan) printData(output as 'json' | 'yaml', planView(plan));
  };
  try {
    display.note(op.note);
    const { plan: changed, judge } = await op.apply();
    if (!flags.wait) {
      display.stop();
      print(changed);
      if (!machine) out(op.started);
      return;
    }
    display.baseline(op.before);
    const { plan, verdict } = await waitForPlan(client, { name: op.name, from: changed, judge, timeoutMs: flags.timeout, display, what: op.what });
    display.stop();
    print(plan);
    if (!verdict.ok) throw op.failed(verdict.message, plan);
    if (!machine) out(op.succeeded(plan));
  } finally {
    display.stop();
  }
}

/** The detail lines under a failed install or upgrade. */
export function nextSteps(name: string): string[] {
  return [
    `see the details with \`mortise extension status ${name}\``,
    `once the cause is fixed: \`mortise extension retry ${name}\`; or pick another version: \`mortise extension upgrade ${name} --version V\``,
    `or remove it: \`mortise extension uninstall ${name}\``,
  ];
}

/** `enable` and `disable`: merge-patch `spec.enabled`, and follow the installer. */
export async function setEnabled(client: CoreClient, name: string, enabled: boolean, flags: OperationFlags): Promise<void> {
  const before = await requirePlan(client, name);
  assertNotUninstalling(before);
  const was = before.spec.enabled !== false;
  const version = before.status?.installedVersion ?? before.spec.extension.version;
  await runPlanOperation(client, {
    name,
    before,
    steps: false,
    note: `${enabled ? 'Enabling' : 'Disabling'} ${name} ${version}`,
    what: `${enabled ? 'enabling' : 'disabling'} ${name}`,
    async apply() {
      const plan = await client.mergePatch<InstallPlan>(installPlansPath(name), { spec: { enabled } });
      return { plan, judge: settled(plan.metadata.generation ?? 1) };
    },
    started: `${name} ${enabled ? 'enable' : 'disable'} requested: the core ${enabled ? 'starts its backend and switches its routes on' : 'switches its routes off and stops its backend'} in the background.`,
    succeeded: (plan) => {
      const at = plan?.status?.installedVersion ?? version;
      if (was === enabled) return `${name} ${at} is already ${enabled ? 'enabled' : 'disabled'}.`;
      return enabled
        ? `${name} ${at} enabled: its backend runs and its routes and UI are back.`
        : `${name} ${at} disabled: its routes answer 503, its UI is hidden and its backend is stopped.`;
    },
    failed: (message) => new CliError(`${name}: ${message}`, nextSteps(name)),
  }, flags);
}
