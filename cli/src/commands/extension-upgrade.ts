import { Command } from 'commander';
import { extensionsPath, installPlansPath, type Extension, type InstallPlan } from '../api.js';
import { action, loggedInClient } from '../command-kit.js';
import { CliError } from '../errors.js';
import { assertNotUninstalling, chooseVersion, failedStates, planView, requirePlan, restingStates, settled } from '../installplans.js';
import { installerTimeoutOption, noWaitOption } from '../options.js';
import { isMachine, out, outputOption, printData, type OutputFormat } from '../output.js';
import { nextSteps, runPlanOperation } from '../plan-operation.js';

interface UpgradeOptions {
  version?: string;
  force?: boolean;
  wait: boolean;
  timeout: number;
  output: OutputFormat;
}

export function extensionUpgradeCommand(): Command {
  return new Command('upgrade')
    .description('move an installed extension to another version; the old one serves until the new one is healthy')
    .argument('<name>', 'the extension')
    .option('--version <version>', 'the version to move to (default: the extension\'s recommended version)')
    .option('--force', 'accept a yanked version, or one made for another Mortise core')
    .addOption(noWaitOption('once the InstallPlan is changed'))
    .addOption(installerTimeoutOption())
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  mortise extension upgrade hello-world\n  mortise extension upgrade hello-world --version 0.2.0')
    .action(action(async (name: string, opts: UpgradeOptions) => {
      const client = loggedInClient();
      const before = await requirePlan(client, name);
      assertNotUninstalling(before);
      const ext = await client.find<Extension>(extensionsPath(name));
      if (!ext) {
        throw new CliError(`no repository offers extension "${name}" any more: there is no version to upgrade to`, [
          'its repository may have been removed (`mortise repo list`)',
        ]);
      }
      const version = await chooseVersion(client, ext, opts.version, !!opts.force);
      const s = before.status ?? {};
      const from = s.installedVersion;

      let generation = before.metadata.generation ?? 1;
      if (before.spec.extension.version === version) {
        if (from === version && s.state && restingStates.includes(s.state)) {
          if (isMachine(opts.output)) return printData(opts.output as 'json' | 'yaml', planView(before));
          out(`${name} is already at ${version}${opts.version ? '' : ', the recommended version'}.`);
          // Repositories sync on their interval: a version published a moment ago is not offered yet.
          if (!opts.version) out(`Just published a newer version? Sync its repository first: mortise repo sync ${ext.spec?.repository ?? 'REPOSITORY'}`);
          return;
        }
        if (s.state && failedStates.includes(s.state)) {
          throw new CliError(`${name}: ${s.message ?? s.state}`, [`this version was already tried: once the cause is fixed, \`mortise extension retry ${name}\``, ...nextSteps(name).slice(2)]);
        }
        // Already on its way to this version: follow it.
      }

      // After a failed upgrade the old version still runs: asking for it again abandons the upgrade.
      const back = from === version;
      const doing = !from ? 'Installing' : back ? 'Going back to' : verb(from, version);
      await runPlanOperation(client, {
        name,
        before,
        steps: true,
        note: from && !back ? `${doing} ${name} from ${from} to ${version}` : `${doing} ${name} ${version}`,
        what: `${doing.toLowerCase()} ${name} ${version}`,
        async apply() {
          if (before.spec.extension.version === version) return { plan: before, judge: settled(generation, version) };
          const plan = await client.mergePatch<InstallPlan>(installPlansPath(name), { spec: { extension: { name, version } } });
          generation = plan.metadata.generation ?? generation;
          return { plan, judge: settled(generation, version) };
        },
        started: `${name}: ${version} requested; the core ${from ? `moves it from ${from}` : 'installs it'} in the background (follow it with \`mortise extension status ${name}\`).`,
        succeeded: () => {
          if (!from) return `${name} ${version} installed.`;
          if (back) return `${name} is back at ${version}: the upgrade to ${before.spec.extension.version} is abandoned.`;
          return `${name} ${doing.toLowerCase().replace(/ing$/, 'ed')} from ${from} to ${version}.`;
        },
        failed: (message) => new CliError(`${name}: ${message}`, nextSteps(name)),
      }, opts);
    }));
}

/** "Upgrading" or "Downgrading", comparing the versions' numbers (x.y.z; a prerelease sorts first). */
function verb(from: string, to: string): string {
  const parts = (v: string) => {
    const [main, pre] = v.split('+')[0]!.split(/-(.*)/s);
    return { nums: main!.split('.').map(Number), pre };
  };
  const a = parts(from);
  const b = parts(to);
  for (let i = 0; i < 3; i++) {
    const d = (b.nums[i] ?? 0) - (a.nums[i] ?? 0);
    if (d !== 0) return d > 0 ? 'Upgrading' : 'Downgrading';
  }
  if (a.pre && !b.pre) return 'Upgrading';
  if (!a.pre && b.pre) return 'Downgrading';
  return (b.pre ?? '').localeCompare(a.pre ?? '', undefined, { numeric: true }) >= 0 ? 'Upgrading' : 'Downgrading';
}
