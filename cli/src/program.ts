import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { extensionConfigCommand } from './commands/extension-config.js';
import { extensionDisableCommand } from './commands/extension-disable.js';
import { extensionEnableCommand } from './commands/extension-enable.js';
import { extensionInfoCommand } from './commands/extension-info.js';
import { extensionInstallCommand } from './commands/extension-install.js';
import { extensionListCommand } from './commands/extension-list.js';
import { extensionLogsCommand } from './commands/extension-logs.js';
import { extensionRetryCommand } from './commands/extension-retry.js';
import { extensionSearchCommand } from './commands/extension-search.js';
import { extensionStatusCommand } from './commands/extension-status.js';
import { extensionCacheCommand } from './commands/extension-cache.js';
import { extensionUninstallCommand } from './commands/extension-uninstall.js';
import { extensionUpgradeCommand } from './commands/extension-upgrade.js';
import { loginCommand } from './commands/login.js';
import { logoutCommand } from './commands/logout.js';
import { repoAddCommand } from './commands/repo-add.js';
import { repoListCommand } from './commands/repo-list.js';
import { repoRemoveCommand } from './commands/repo-remove.js';
import { repoSyncCommand } from './commands/repo-sync.js';

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** `parent.addCommand(child)`, with the parent's settings (help after errors, output) passed down. */
function add(parent: Command, child: Command): Command {
  child.copyInheritedSettings(parent);
  parent.addCommand(child);
  return parent;
}

/** The whole command tree. One file per command under commands/. */
export function buildProgram(): Command {
  const program = new Command('mortise')
    .description('Administer a Mortise core: log in, manage marketplace repositories, browse, install and manage extensions.')
    .version(version())
    // `mortise --version` is the CLI's; after a subcommand, --version is that command's
    // (`extension install NAME --version 1.2.0`).
    .enablePositionalOptions()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', [
      '',
      'Credentials are kept in $MORTISE_CONFIG, else ~/.config/mortise/config.json.',
      'Machine-readable output: -o json or -o yaml on the commands that print data.',
    ].join('\n'));

  add(program, loginCommand());
  add(program, logoutCommand());

  const repo = new Command('repo').alias('repository').description('manage the repositories (marketplaces) extensions come from');
  add(program, repo);
  for (const c of [repoAddCommand(), repoListCommand(), repoSyncCommand(), repoRemoveCommand()]) add(repo, c);

  const extension = new Command('extension').alias('ext').description('browse the extensions the repositories offer; install, enable, disable, configure, upgrade and uninstall them');
  add(program, extension);
  for (const c of [
    extensionSearchCommand(), extensionListCommand(), extensionInfoCommand(),
    extensionInstallCommand(), extensionStatusCommand(), extensionEnableCommand(), extensionDisableCommand(),
    extensionConfigCommand(), extensionLogsCommand(), extensionUpgradeCommand(), extensionRetryCommand(), extensionUninstallCommand(), extensionCacheCommand(),
  ]) add(extension, c);

  return program;
}
