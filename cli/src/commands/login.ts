import { Command, Option } from 'commander';
import { credentialsFrom, normalizeServer, OAuthError, requestToken } from '../client/core-client.js';
import { action, credentialStore } from '../command-kit.js';
import { defaultServer } from '../config.js';
import { CliError } from '../errors.js';
import { out } from '../output.js';
import { promptHidden, promptLine, readStdin } from '../prompt.js';

const howToGivePassword = [
  'pipe it in:  printf \'%s\' "$PASSWORD" | mortise login --username admin --password-stdin',
  'or set the environment variable MORTISE_PASSWORD',
];

export function loginCommand(): Command {
  return new Command('login')
    .description('log in to a Mortise core and store the tokens for later commands')
    .option('--server <url>', `the core's URL (default: the server of the last login, else ${defaultServer})`)
    .option('--username <name>', 'who to log in as (default: $MORTISE_USERNAME, else asked on a terminal)')
    .option('--password-stdin', 'read the password from standard input')
    .addOption(new Option('--password <password>').hideHelp())
    .addHelpText('after', [
      '',
      'The password is read from standard input (--password-stdin), from MORTISE_PASSWORD, or',
      'asked for on a terminal. It is never taken as a flag: flags end up in shell history and',
      'process listings.',
      '',
      'Example:',
      '  printf \'%s\' "$PASSWORD" | mortise login --server https://mortise.example.com --username admin --password-stdin',
    ].join('\n'))
    .action(action(async (opts: { server?: string; username?: string; passwordStdin?: boolean; password?: string }) => {
      if (opts.password !== undefined) {
        throw new CliError('--password is not accepted: a password given as a flag shows in shell history and process listings', howToGivePassword);
      }
      const store = credentialStore();
      let previous: string | undefined;
      try {
        previous = store.read()?.server;
      } catch {
        // An unreadable file is replaced by this login.
      }
      const server = normalizeServer(opts.server ?? previous ?? defaultServer);
      const username = opts.username || process.env.MORTISE_USERNAME || (await askUsername());
      const password = await passwordFrom(opts);

      let tokens;
      try {
        tokens = await requestToken(server, { grant_type: 'password', username, password });
      } catch (e) {
        if (e instanceof OAuthError) throw new CliError(`login to ${server} as "${username}" failed: ${e.message}`);
        throw e;
      }
      store.write(credentialsFrom(server, username, tokens));
      out(`Logged in to ${server} as ${username}.`);
    }));
}

async function askUsername(): Promise<string> {
  if (!process.stdin.isTTY) throw new CliError('no username: give --username (or set MORTISE_USERNAME)');
  const name = await promptLine('Username: ');
  if (!name) throw new CliError('no username given');
  return name;
}

async function passwordFrom(opts: { passwordStdin?: boolean }): Promise<string> {
  if (opts.passwordStdin) {
    // On a terminal "standard input" is the person: ask without echo rather than read to EOF.
    const password = process.stdin.isTTY ? await promptHidden('Password: ') : await readStdin();
    if (!password) throw new CliError('--password-stdin: standard input was empty', howToGivePassword);
    return password;
  }
  if (process.env.MORTISE_PASSWORD) return process.env.MORTISE_PASSWORD;
  if (!process.stdin.isTTY) {
    throw new CliError('no password: standard input is not a terminal, so mortise will not prompt for one', howToGivePassword);
  }
  const password = await promptHidden('Password: ');
  if (!password) throw new CliError('no password given');
  return password;
}
