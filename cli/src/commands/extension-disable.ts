import { Command } from 'commander';
import { action, loggedInClient } from '../command-kit.js';
import { installerTimeoutOption, noWaitOption } from '../options.js';
import { outputOption, type OutputFormat } from '../output.js';
import { setEnabled } from '../plan-operation.js';

export function extensionDisableCommand(): Command {
  return new Command('disable')
    .description('disable an installed extension: its routes (503) and UI go off at once, then its backend stops')
    .argument('<name>', 'the extension')
    .addOption(noWaitOption('once the InstallPlan is changed'))
    .addOption(installerTimeoutOption())
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  mortise extension disable hello-world')
    .action(action(async (name: string, opts: { wait: boolean; timeout: number; output: OutputFormat }) => {
      await setEnabled(loggedInClient(), name, false, opts);
    }));
}
