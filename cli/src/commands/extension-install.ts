import { Command } from 'commander';
import { installPlansPath, type InstallPlan } from '../api.js';
import { action, loggedInClient } from '../command-kit.js';
import { ApiStatusError, CliError } from '../errors.js';
import { chooseVersion, readConfigFile, requireExtension, settled } from '../installplans.js';
import { installerTimeoutOption, noWaitOption } from '../options.js';
import { outputOption, type OutputFormat } from '../output.js';
import { nextSteps, runPlanOperation } from '../plan-operation.js';

interface InstallOptions {
  version?: string;
  config?: string;
  disabled?: boolean;
  force?: boolean;
  wait: boolean;
  timeout: number;
  output: OutputFormat;
}

export function extensionInstallCommand(): Command {
  return new Command('install')
    .description('install an extension: create its InstallPlan and follow the installer until it is installed')
    .argument('<name>', 'the extension')
    .option('--version <version>', 'the version to install (default: the extension\'s recommended version)')
    .option('--config <file>', 'its configuration: a JSON or YAML file holding an object')
    .option('--disabled', 'install it disabled: no backend, routes or UI until `mortise extension enable`')
    .option('--force', 'install a yanked version, or one made for another Mortise core')
    .addOption(noWaitOption('once the InstallPlan is created'))
    .addOption(installerTimeoutOption())
    .addOption(outputOption())
    .addHelpText('after', [
      '',
      'Examples:',
      '  mortise extension install hello-world',
      '  mortise extension install hello-world --version 0.1.0 --config hello.yaml --disabled',
    ].join('\n'))
    .action(action(async (name: string, opts: InstallOptions) => {
      const config = opts.config === undefined ? undefined : readConfigFile(opts.config);
      const client = loggedInClient();
      const existing = await client.find<InstallPlan>(installPlansPath(name));
      if (existing) throw alreadyInstalled(existing);
      const ext = await requireExtension(client, name);
      const version = await chooseVersion(client, ext, opts.version, !!opts.force);
      const enabled = !opts.disabled;

      await runPlanOperation(client, {
        name,
        before: undefined,
        steps: true,
        note: `Creating InstallPlan "${name}" (${name} ${version}, ${enabled ? 'enabled' : 'disabled'})`,
        what: `installing ${name} ${version}`,
        async apply() {
          let created: InstallPlan;
          try {
            created = await client.create<InstallPlan>(installPlansPath(), {
              apiVersion: 'extensions.mortise.io/v1alpha1',
              kind: 'InstallPlan',
              metadata: { name },
              spec: { extension: { name, version }, enabled, ...(config ? { config } : {}), purgeOnUninstall: false },
            });
          } catch (e) {
            // Someone installed it since the check above.
            if (e instanceof ApiStatusError && e.reason === 'AlreadyExists') {
              const plan = await client.find<InstallPlan>(installPlansPath(name));
              if (plan) throw alreadyInstalled(plan);
            }
            throw e;
          }
          return { plan: created, judge: settled(created.metadata.generation ?? 1, version) };
        },
        started: `InstallPlan "${name}" created: the core installs ${name} ${version} in the background (follow it with \`mortise extension status ${name}\`).`,
        succeeded: () => (enabled ? `${name} ${version} installed and enabled.` : `${name} ${version} installed, disabled (\`mortise extension enable ${name}\` turns it on).`),
        failed: (message) => new CliError(`${name}: ${message}`, nextSteps(name)),
      }, opts);
    }));
}

function alreadyInstalled(plan: InstallPlan): CliError {
  const name = plan.metadata.name;
  if (plan.metadata.deletionTimestamp) {
    return new CliError(`extension "${name}" is being uninstalled`, [`wait for \`mortise extension uninstall ${name}\` to finish, then install it again`]);
  }
  const s = plan.status ?? {};
  const version = s.installedVersion ?? plan.spec.extension.version;
  return new CliError(`extension "${name}" is already installed: ${s.state ?? 'Pending'}, version ${version}`, [
    `change it with \`mortise extension upgrade|enable|disable|config ${name}\`; see it with \`mortise extension status ${name}\``,
  ]);
}
