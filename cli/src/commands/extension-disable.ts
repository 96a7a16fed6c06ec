import { Command } from 'commander';
import { action, loggedInClient } from '../command-kit.js';
import { durationOption } from '../options.js';
import { outputOption, type OutputFormat } from '../output.js';
import { setEnabled } from '../plan-operation.js';

export function extensionDisableCommand(): Command {
  return new Command('disable')
    .description('disable an installed extension: its routes (503) and UI go off at once, then its backend stops')
    .argument('<name>', 'the extension')
    .option('--no-wait', 'return once the InstallPlan is changed, without waiting for the installer')
    .addOption(durationOption('--timeout <duration>', 'how long to wait for the installer (it goes on after)', '5m'))
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  mortise extension disable hello-world')
    .action(action(async (name: string, opts: { wait: boolean; timeout: number; output: OutputFormat }) => {
      await setEnabled(loggedInClient(), name, false, opts);
    }));
}
