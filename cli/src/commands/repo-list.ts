import { Command } from 'commander';
import { listAll, repositoriesPath, type List, type Repository } from '../api.js';
import { action, loggedInClient } from '../command-kit.js';
import { out, outputOption, printData, type OutputFormat } from '../output.js';
import { repositoryTable, repositoryView } from '../repositories.js';

export function repoListCommand(): Command {
  return new Command('list')
    .alias('ls')
    .description('list the repositories and how their last sync went')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  mortise repo list\n  mortise repo list -o json')
    .action(action(async (opts: { output: OutputFormat }) => {
      const client = loggedInClient();
      const repos = await listAll((q) => client.get<List<Repository>>(repositoriesPath(), q));
      const views = repos.map(repositoryView).sort((a, b) => a.name.localeCompare(b.name));
      if (opts.output !== 'table') return printData(opts.output, views);
      if (views.length === 0) return out('No repositories. Add one with `mortise repo add NAME URL`.');
      out(repositoryTable(views));
      const failing = views.filter((v) => v.synced === 'False');
      for (const v of failing) process.stderr.write(`warning: repository "${v.name}": ${v.message ?? v.reason ?? 'the last sync failed'}\n`);
    }));
}
