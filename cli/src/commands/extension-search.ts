import { Command } from 'commander';
import { categoriesPath, listAll, type Category, type List } from '../api.js';
import { action, loggedInClient } from '../command-kit.js';
import { extensionTable, extensionView, listExtensions, searchRank } from '../extensions.js';
import { out, outputOption, printData, type OutputFormat } from '../output.js';

export function extensionSearchCommand(): Command {
  return new Command('search')
    .description('search the marketplace: every word must occur in the name, display name, description or keywords (case-insensitive)')
    .argument('[query]', 'words to look for; none lists everything')
    .option('--category <category>', 'only extensions of this category')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  mortise extension search logging\n  mortise extension search --category observability -o json')
    .action(action(async (query: string | undefined, opts: { category?: string; output: OutputFormat }) => {
      const client = loggedInClient();
      const category = opts.category?.toLowerCase();
      const ranked = (await listExtensions(client))
        .filter((e) => !category || (e.spec?.category ?? '').toLowerCase() === category)
        .map((e) => ({ e, rank: searchRank(e, query ?? '') }))
        .filter((x): x is { e: typeof x.e; rank: number } => x.rank !== undefined)
        .sort((a, b) => a.rank - b.rank || a.e.metadata.name.localeCompare(b.e.metadata.name));
      const views = ranked.map((x) => extensionView(x.e));
      if (opts.output !== 'table') return printData(opts.output, views);
      if (views.length > 0) return out(extensionTable(views, { installed: false }));
      const what = [query ? `match "${query}"` : '', opts.category ? `are in category "${opts.category}"` : ''].filter(Boolean).join(' and ');
      out(`No extensions ${what || 'in the marketplace'}.`);
      if (opts.category) {
        const categories = (await listAll((q) => client.get<List<Category>>(categoriesPath(), q))).map((c) => c.metadata.name).sort();
        if (categories.length) out(`Categories: ${categories.join(', ')}`);
      }
    }));
}
