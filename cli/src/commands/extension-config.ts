import { Command } from 'commander';
import { installPlansPath, type InstallPlan } from '../api.js';
import { action, loggedInClient } from '../command-kit.js';
import { ApiStatusError, CliError } from '../errors.js';
import { assertNotUninstalling, mergePatchBetween, readConfigFile, refusedConfig, requirePlan, settled } from '../installplans.js';
import { installerTimeoutOption, noWaitOption } from '../options.js';
import { outputOption, printData, type OutputFormat } from '../output.js';
import { nextSteps, runPlanOperation } from '../plan-operation.js';

interface ConfigOptions {
  config?: string;
  wait: boolean;
  timeout: number;
  output: OutputFormat;
}

export function extensionConfigCommand(): Command {
  return new Command('config')
    .description('set an installed extension\'s configuration from a file (the backend restarts with it), or print it')
    .argument('<name>', 'the extension')
    .option('--config <file>', 'the whole new configuration: a JSON or YAML file holding an object (keys it lacks are removed)')
    .addOption(noWaitOption('once the InstallPlan is changed'))
    .addOption(installerTimeoutOption())
    .addOption(outputOption())
    .addHelpText('after', [
      '',
      'Without --config, prints the configuration the plan holds (YAML; JSON with -o json).',
      '',
      'Examples:',
      '  mortise extension config hello-world --config hello.yaml',
      '  mortise extension config hello-world -o json',
    ].join('\n'))
    .action(action(async (name: string, opts: ConfigOptions) => {
      const client = loggedInClient();
      if (opts.config === undefined) {
        const plan = await requirePlan(client, name);
        return printData(opts.output === 'json' ? 'json' : 'yaml', plan.spec.config ?? {});
      }
      const config = readConfigFile(opts.config);
      const before = await requirePlan(client, name);
      assertNotUninstalling(before);
      let changed = false;
      await runPlanOperation(client, {
        name,
        before,
        steps: false,
        note: `Setting the configuration of ${name} from ${opts.config}`,
        what: `configuring ${name}`,
        async apply() {
          const plan = await patchConfig(client, name, before, config);
          changed = plan !== before;
          return { plan, judge: settled(plan.metadata.generation ?? 1) };
        },
        started: `configuration of ${name} saved: the core applies it in the background (follow it with \`mortise extension status ${name}\`).`,
        succeeded: (plan) => {
          if (!changed) return `the configuration of ${name} is unchanged.`;
          return plan?.status?.state === 'Disabled'
            ? `configuration of ${name} saved: it applies when ${name} is enabled.`
            : `configuration of ${name} applied: its backend runs with it.`;
        },
        failed: (message, plan) => {
          if (plan && refusedConfig(plan)) {
            return new CliError(`the core refused the configuration of ${name}: ${message}`, [
              `${name} keeps running with its previous configuration`,
              `fix ${opts.config} and run \`mortise extension config ${name} --config ${opts.config}\` again`,
            ]);
          }
          return new CliError(`${name}: ${message}`, nextSteps(name));
        },
      }, opts);
    }));
}

/**
 * Makes spec.config equal `config` with a merge patch pinned to the resourceVersion read, so
 * a change someone made meanwhile is never overwritten unseen (409: read again and redo).
 * Answers the plan as read when nothing changes.
 */
async function patchConfig(client: ReturnType<typeof loggedInClient>, name: string, first: InstallPlan, config: Record<string, unknown>): Promise<InstallPlan> {
  let current = first;
  for (let attempt = 0; ; attempt++) {
    const patch = mergePatchBetween(current.spec.config ?? {}, config);
    if (patch === undefined) return current;
    try {
      return await client.mergePatch<InstallPlan>(installPlansPath(name), { metadata: { resourceVersion: current.metadata.resourceVersion }, spec: { config: patch } });
    } catch (e) {
      if (!(e instanceof ApiStatusError && e.httpStatus === 409) || attempt >= 4) throw e;
      current = await requirePlan(client, name);
      assertNotUninstalling(current);
    }
  }
}
