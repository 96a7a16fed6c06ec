import { Command } from 'commander';
import { repositoriesPath, type Repository } from '../api.js';
import { action, loggedInClient } from '../command-kit.js';
import { out } from '../output.js';

export function repoRemoveCommand(): Command {
  return new Command('remove')
    .alias('rm')
    .description('remove a repository; the Extensions and ExtensionVersions it brought are deleted with it')
    .argument('<name>', 'the repository')
    .addHelpText('after', '\nExample:\n  mortise repo remove offline')
    .action(action(async (name: string) => {
      const client = loggedInClient();
      const repo = await client.get<Repository>(repositoriesPath(name));
      await client.delete(repositoriesPath(name));
      const count = repo.status?.extensions;
      out(`Repository "${name}" removed${count ? `; its ${count} extension${count === 1 ? '' : 's'} no longer show in the marketplace` : ''}.`);
    }));
}
