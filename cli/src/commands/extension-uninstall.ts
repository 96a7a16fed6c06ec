import { Command } from 'commander';
import { forceUninstallAnnotation, installPlansPath, retryAnnotation, type InstallPlan } from '../api.js';
import { action, loggedInClient } from '../command-kit.js';
import { CliError } from '../errors.js';
import { gone, requirePlan } from '../installplans.js';
import { installerTimeoutOption, noWaitOption } from '../options.js';
import { runPlanOperation } from '../plan-operation.js';

interface UninstallOptions {
  purge?: boolean;
  force?: boolean;
  wait: boolean;
  timeout: number;
}

export function extensionUninstallCommand(): Command {
  return new Command('uninstall')
    .alias('remove')
    .description('uninstall an extension: delete its InstallPlan and wait until everything it brought is gone')
    .argument('<name>', 'the extension')
    .option('--purge', 'delete its data directory too (kept by default, for a later install)')
    .option('--force', `finish even if uninstall steps fail (sets the ${forceUninstallAnnotation} annotation)`)
    .addOption(noWaitOption('once the deletion is asked for'))
    .addOption(installerTimeoutOption())
    .addHelpText('after', '\nExamples:\n  mortise extension uninstall hello-world\n  mortise extension uninstall hello-world --purge --force')
    .action(action(async (name: string, opts: UninstallOptions) => {
      const client = loggedInClient();
      const before = await requirePlan(client, name);
      const purge = !!opts.purge || before.spec.purgeOnUninstall === true;
      await runPlanOperation(client, {
        name,
        before,
        steps: false,
        note: `Uninstalling ${name}${purge ? ' and deleting its data' : ''}`,
        what: `uninstalling ${name}`,
        async apply() {
          const annotations: Record<string, string> = {};
          if (opts.force) annotations[forceUninstallAnnotation] = 'true';
          // An uninstall that failed before is tried again now, not at the installer's next backoff.
          if (before.status?.state === 'UninstallFailed') annotations[retryAnnotation] = new Date().toISOString();
          const patch: { metadata?: object; spec?: object } = {};
          if (Object.keys(annotations).length) patch.metadata = { annotations };
          if (opts.purge && before.spec.purgeOnUninstall !== true) patch.spec = { purgeOnUninstall: true };
          let plan: InstallPlan | undefined = before;
          if (patch.metadata || patch.spec) plan = await client.mergePatch<InstallPlan>(installPlansPath(name), patch);
          // The installer holds the plan with a finalizer until everything the extension brought is gone.
          if (!before.metadata.deletionTimestamp) await client.delete(installPlansPath(name));
          return { plan, judge: gone(before) };
        },
        started: `uninstall of ${name} requested: the core removes it in the background (\`mortise extension list --installed\` shows when it is gone).`,
        succeeded: () => `${name} uninstalled: its backend, routes, UI and resources are gone; ${purge ? 'its data directory was deleted' : 'its data directory is kept (--purge deletes it)'}.`,
        failed: (message) => new CliError(`${name}: ${message}`, opts.force
          ? [`see the details with \`mortise extension status ${name}\``]
          : [`finish it anyway with \`mortise extension uninstall ${name} --force\``]),
      }, opts);
    }));
}
