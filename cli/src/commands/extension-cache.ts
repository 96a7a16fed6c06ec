import { Command } from 'commander';
import { packageCachePath, type PackageCache } from '../api.js';
import { action, loggedInClient } from '../command-kit.js';
import { ago, out, outputOption, printData, renderTable, type OutputFormat } from '../output.js';

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

export function extensionCacheCommand(): Command {
  return new Command('cache')
    .description('show what the core keeps on disk for extensions: cached archives, unpacked versions and why each is kept')
    .addOption(outputOption())
    .addHelpText('after', '\nThe core keeps each extension\'s running version and one previous version unpacked, and caps the\narchive cache (MORTISE_PACKAGE_CACHE_MAX_BYTES), evicting the least recently used archive no plan needs.\n\nExamples:\n  mortise extension cache\n  mortise extension cache -o json')
    .action(action(async (opts: { output: OutputFormat }) => {
      const cache = await loggedInClient().get<PackageCache>(packageCachePath);
      if (opts.output !== 'table') return printData(opts.output, cache);
      out(renderCache(cache));
    }));
}

export function renderCache(cache: PackageCache): string {
  const lines = [`Archives: ${formatSize(cache.archiveBytes)} of ${formatSize(cache.limitBytes)} (least recently used evicted beyond that, unless a plan needs it)`];
  if (cache.archives.length === 0) lines.push('  none');
  else {
    const table = renderTable(['FILE', 'SIZE', 'LAST USED', 'NEEDED BY'], cache.archives.map((a) => [a.file, formatSize(a.size), ago(a.lastUsed), a.neededBy ?? '-']));
    lines.push(...table.split('\n').map((l) => `  ${l}`));
  }
  lines.push('', 'Unpacked:');
  if (cache.unpacked.length === 0) lines.push('  none');
  else {
    const table = renderTable(['EXTENSION', 'VERSION', 'SIZE', 'KEPT AS'], cache.unpacked.map((u) => [u.name, u.version, formatSize(u.size), u.kept ?? (u.complete ? 'not needed (removed at the next tidy)' : 'incomplete')]));
    lines.push(...table.split('\n').map((l) => `  ${l}`));
  }
  if (cache.leftovers.length) {
    lines.push('', 'Left by interrupted steps (reclaimed at start and after each install):');
    lines.push(...cache.leftovers.map((l) => `  ${l.path} (${formatSize(l.size)})`));
  }
  return lines.join('\n');
}
