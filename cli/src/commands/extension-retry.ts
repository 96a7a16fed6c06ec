import { Command } from 'commander';
import { installPlansPath, retryAnnotation, type InstallPlan } from '../api.js';
import { action, loggedInClient } from '../command-kit.js';
import { CliError } from '../errors.js';
import { failedStates, gone, requirePlan, retried, type Judge } from '../installplans.js';
import { installerTimeoutOption, noWaitOption } from '../options.js';
import { outputOption, type OutputFormat } from '../output.js';
import { nextSteps, runPlanOperation } from '../plan-operation.js';

export function extensionRetryCommand(): Command {
  return new Command('retry')
    .description('try a failed install, upgrade or uninstall again, and follow it')
    .argument('<name>', 'the extension')
    .addOption(noWaitOption('once the retry is asked for'))
    .addOption(installerTimeoutOption())
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  mortise extension retry hello-world')
    .action(action(async (name: string, opts: { wait: boolean; timeout: number; output: OutputFormat }) => {
      const client = loggedInClient();
      const before = await requirePlan(client, name);
      const s = before.status ?? {};
      const uninstalling = s.state === 'UninstallFailed';
      if (!uninstalling && !(s.state && failedStates.includes(s.state))) {
        throw new CliError(`${name} has not failed (it is ${s.state ?? 'Pending'}${s.message ? `: ${s.message}` : ''}): there is nothing to retry`, [
          `see it with \`mortise extension status ${name}\``,
        ]);
      }
      const version = before.spec.extension.version;
      const what = uninstalling ? `uninstalling ${name}` : `${s.state === 'UpgradeFailed' ? 'upgrading' : 'installing'} ${name} ${version}`;
      await runPlanOperation(client, {
        name,
        before,
        steps: !uninstalling,
        note: `Retrying: ${what}`,
        what,
        async apply() {
          // The installer acts on a value it has not acted on yet: never the one already there.
          let stamp = new Date().toISOString();
          if (stamp === before.metadata.annotations?.[retryAnnotation]) stamp = new Date(Date.parse(stamp) + 1).toISOString();
          const plan = await client.mergePatch<InstallPlan>(installPlansPath(name), { metadata: { annotations: { [retryAnnotation]: stamp } } });
          const judge: Judge = uninstalling ? gone(before) : retried(stamp);
          return { plan, judge };
        },
        started: `retry of ${name} requested: the core is ${what} in the background (follow it with \`mortise extension status ${name}\`).`,
        succeeded: (plan) => {
          if (uninstalling) return `${name} uninstalled.`;
          const at = plan?.status?.installedVersion ?? version;
          return plan?.status?.state === 'Disabled' ? `${name} ${at} installed, disabled.` : `${name} ${at} installed and enabled.`;
        },
        failed: (message) => new CliError(`${name}: ${message}`, uninstalling
          ? [`finish it anyway with \`mortise extension uninstall ${name} --force\``]
          : nextSteps(name)),
      }, opts);
    }));
}
