import { Command } from 'commander';
import { repositoriesPath, syncRequestedAnnotation, type Repository } from '../api.js';
import { action, loggedInClient } from '../command-kit.js';
import { CliError } from '../errors.js';
import { durationOption } from '../options.js';
import { isMachine, out, outputOption, printData, type OutputFormat } from '../output.js';
import { createProgress } from '../progress.js';
import { repositoryView, syncOutcome, versionsOf, waitForSync } from '../repositories.js';

export function repoSyncCommand(): Command {
  return new Command('sync')
    .description('sync a repository now and report what changed')
    .argument('<name>', 'the repository')
    .addOption(durationOption('--timeout <duration>', 'how long to wait for the sync', '2m'))
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  mortise repo sync main')
    .action(action(async (name: string, opts: { timeout: number; output: OutputFormat }) => {
      const client = loggedInClient();
      const machine = isMachine(opts.output);
      const progress = createProgress({ total: 2, stream: machine ? process.stderr : process.stdout });
      try {
        progress.step(1, `Requesting a sync of "${name}"`);
        const { body: before, headers } = await client.request<Repository>('GET', repositoriesPath(name));
        const versionsBefore = await versionsOf(client, name);
        const requested = requestTime(before, headers);
        await client.mergePatch(repositoriesPath(name), { metadata: { annotations: { [syncRequestedAnnotation]: requested.toISOString() } } });

        progress.step(2, `Syncing ${before.spec.url}`);
        const repo = await waitForSync(client, name, {
          done: (r) => !!r.status?.lastSyncTime && Date.parse(r.status.lastSyncTime) >= requested.getTime(),
          timeoutMs: opts.timeout,
          progress,
        });
        const versionsAfter = await versionsOf(client, name);
        progress.stop();

        const added = [...versionsAfter].filter((v) => !versionsBefore.has(v)).sort();
        const removed = [...versionsBefore].filter((v) => !versionsAfter.has(v)).sort();
        const outcome = syncOutcome(repo);
        if (machine) {
          const pair = (v: string) => ({ extension: v.split(' ')[0], version: v.split(' ')[1] });
          printData(opts.output as 'json' | 'yaml', { ...repositoryView(repo), added: added.map(pair), removed: removed.map(pair) });
        }
        if (!outcome.ok) {
          throw new CliError(`sync of repository "${name}" failed: ${outcome.message}`);
        }
        if (machine) return;
        out(`Repository "${name}" synced: ${outcome.message}.`);
        for (const v of added) out(`  + ${v}`);
        for (const v of removed) out(`  - ${v}`);
        if (!added.length && !removed.length) out('  no versions added or removed');
      } finally {
        progress.stop();
      }
    }));
}

/**
 * The time to put in the annotation. The controller syncs when it is later than the last
 * sync, and stamps the sync with its own clock; so it is taken from the server's clock (the
 * Date header, whole seconds, hence never ahead of it) and kept past the last sync.
 * A CLI whose clock runs ahead of the server's would otherwise wait for a sync that never
 * comes, and one behind it would ask for nothing.
 */
function requestTime(repo: Repository, headers: Headers): Date {
  const serverNow = Date.parse(headers.get('date') ?? '');
  const base = Number.isNaN(serverNow) ? Date.now() : serverNow;
  const last = Date.parse(repo.status?.lastSyncTime ?? '');
  return new Date(Number.isNaN(last) ? base : Math.max(base, last + 1));
}
