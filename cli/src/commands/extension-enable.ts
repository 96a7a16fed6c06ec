import { Command } from 'commander';
import { action, loggedInClient } from '../command-kit.js';
import { installerTimeoutOption, noWaitOption } from '../options.js';
import { outputOption, type OutputFormat } from '../output.js';
import { setEnabled } from '../plan-operation.js';

export function extensionEnableCommand(): Command {
  return new Command('enable')
    .description('enable an installed extension: start its backend, then switch its routes and UI on')
    .argument('<name>', 'the extension')
    .addOption(noWaitOption('once the InstallPlan is changed'))
    .addOption(installerTimeoutOption())
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  mortise extension enable hello-world')
    .action(action(async (name: string, opts: { wait: boolean; timeout: number; output: OutputFormat }) => {
      await setEnabled(loggedInClient(), name, true, opts);
    }));
}
