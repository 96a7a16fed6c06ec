import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { repositoriesPath, type Repository } from '../api.js';
import { action, loggedInClient } from '../command-kit.js';
import { CliError } from '../errors.js';
import { isMachine, out, outputOption, parseDuration, printData, type OutputFormat } from '../output.js';
import { createProgress } from '../progress.js';
import { repositoryView, syncOutcome, waitForSync } from '../repositories.js';
import { durationOption } from '../options.js';

interface RepoAddOptions {
  interval?: string;
  trustedKey?: string[];
  description?: string;
  wait: boolean;
  timeout: number;
  output: OutputFormat;
}

export function repoAddCommand(): Command {
  return new Command('add')
    .description('add a repository (marketplace) and wait for its first sync')
    .argument('<name>', 'name of the Repository resource')
    .argument('<url>', 'http(s):// base URL of the repository, or file:///dir on the core\'s machine')
    .option('--interval <duration>', 'how often the core syncs it, e.g. 10m, 1h (default 10m)')
    .option('--trusted-key <file>', 'PEM ed25519 public key; with any, every package must be signed by one (repeatable)', collect)
    .option('--description <text>', 'a note for other admins')
    .option('--no-wait', 'return once the repository is created, without waiting for the sync')
    .addOption(durationOption('--timeout <duration>', 'how long to wait for the sync', '2m'))
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  mortise repo add main https://marketplace.mortise.io/\n  mortise repo add offline file:///srv/mortise-repo --interval 1h --trusted-key acme.pub')
    .action(action(async (name: string, url: string, opts: RepoAddOptions) => {
      checkUrl(url);
      if (opts.interval !== undefined && parseDuration(opts.interval) === undefined) {
        throw new CliError(`--interval "${opts.interval}" is not a duration: use e.g. 30s, 10m, 1h30m`);
      }
      const trustedKeys = (opts.trustedKey ?? []).map(readTrustedKey);
      const client = loggedInClient();
      const machine = isMachine(opts.output);
      const progress = createProgress({ total: opts.wait ? 2 : 1, stream: machine ? process.stderr : process.stdout });
      try {
        progress.step(1, `Creating repository "${name}" (${url})`);
        let repo = await client.create<Repository>(repositoriesPath(), {
          apiVersion: 'extensions.mortise.io/v1alpha1',
          kind: 'Repository',
          metadata: { name },
          spec: {
            url,
            ...(opts.interval ? { interval: opts.interval } : {}),
            ...(trustedKeys.length ? { trustedKeys } : {}),
            ...(opts.description ? { description: opts.description } : {}),
          },
        });
        if (opts.wait) {
          progress.step(2, `Syncing ${url}`);
          repo = await waitForSync(client, name, { done: (r) => !!r.status?.lastSyncTime, timeoutMs: opts.timeout, progress });
        }
        progress.stop();
        if (machine) printData(opts.output as 'json' | 'yaml', repositoryView(repo));
        if (!opts.wait) {
          if (!machine) out(`Repository "${name}" created; the core syncs it in the background (see \`mortise repo list\`).`);
          return;
        }
        const outcome = syncOutcome(repo);
        if (!outcome.ok) {
          throw new CliError(`repository "${name}" was created, but its first sync failed: ${outcome.message}`, [
            `fix the source and run \`mortise repo sync ${name}\`, or remove it with \`mortise repo remove ${name}\``,
          ]);
        }
        if (!machine) out(`Repository "${name}" added and synced: ${outcome.message}.`);
      } finally {
        progress.stop();
      }
    }));
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`"${url}" is not a URL: give an http(s):// URL, or file:///path for a directory on the core's machine`);
  }
  if (!['http:', 'https:', 'file:'].includes(parsed.protocol)) {
    throw new CliError(`unsupported URL scheme "${parsed.protocol}" in "${url}": use http://, https:// or file://`);
  }
}

function readTrustedKey(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read the trusted key ${file}: ${(e as Error).message}`);
  }
  if (/PRIVATE KEY/.test(pem)) throw new CliError(`${file} holds a private key: give the public key (mortise-ext keygen writes both); the private one must not leave the publisher`);
  let key;
  try {
    key = createPublicKey(pem);
  } catch (e) {
    throw new CliError(`${file} is not a PEM public key: ${(e as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new CliError(`${file} is a ${key.asymmetricKeyType} key; repositories are signed with ed25519 keys (mortise-ext keygen makes them)`);
  return key.export({ type: 'spki', format: 'pem' }).toString();
}
