import { Command } from 'commander';
import { action, loggedInClient } from '../command-kit.js';
import { extensionTable, extensionView, installPlansByExtension, listExtensions } from '../extensions.js';
import { out, outputOption, printData, type OutputFormat } from '../output.js';

export function extensionListCommand(): Command {
  return new Command('list')
    .alias('ls')
    .description('list every extension the repositories offer, and which are installed')
    .option('--installed', 'only extensions that have an InstallPlan')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  mortise extension list\n  mortise extension list --installed -o yaml')
    .action(action(async (opts: { installed?: boolean; output: OutputFormat }) => {
      const client = loggedInClient();
      const [extensions, plans] = await Promise.all([listExtensions(client), installPlansByExtension(client)]);
      let views = extensions.map((e) => extensionView(e, plans.get(e.metadata.name)));
      // Installed from a repository that has since gone: still installed, so still listed.
      const offered = new Set(extensions.map((e) => e.metadata.name));
      for (const [name, plan] of plans) {
        if (!offered.has(name)) views.push(extensionView({ metadata: { name } }, plan));
      }
      views.sort((a, b) => a.name.localeCompare(b.name));
      if (opts.installed) views = views.filter((v) => v.installed);
      if (opts.output !== 'table') return printData(opts.output, views);
      if (views.length === 0) {
        return out(opts.installed ? 'No extensions are installed.' : 'No extensions. Add a repository with `mortise repo add NAME URL`.');
      }
      out(extensionTable(views, { installed: true }));
    }));
}
