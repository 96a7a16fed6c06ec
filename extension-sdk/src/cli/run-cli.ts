import { Command, CommanderError } from 'commander';
import { buildCommand } from './commands/build.js';
import { createCommand } from './commands/create.js';
import { devCommand } from './commands/dev.js';
import { keygenCommand } from './commands/keygen.js';
import { packCommand } from './commands/pack.js';
import { indexCommand } from './commands/index-repository.js';
import { publishCommand } from './commands/publish.js';
import { yankCommand } from './commands/yank.js';
import { validateCommand } from './commands/validate.js';
import { processIO, type CliIO } from './io.js';

/** Runs `mortise-ext` with `argv` (as process.argv: node, script, ...args) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  let exitCode = 0;
  const program = new Command('mortise-ext')
    .description('Build, check, package, sign and publish Mortise extensions')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  program
    .command('create')
    .description('create a new extension project NAME (backend, console frontend, tests, tsconfig, .mortiseignore, README) that builds, tests and packs on its own')
    .argument('<name>', 'the extension name (e.g. acme-notes)')
    .option('--dir <dir>', 'where to create it (default: ./NAME)')
    .option('--sdk <spec>', 'the SDK to depend on: the packed SDK .tgz (npm pack in extension-sdk/), a directory, or a version range (default: this SDK\'s directory)')
    .option('--core <spec>', 'the core its tests run, as a dev dependency: the packed core .tgz (npm pack -w @mortise/core in a checkout) or a directory (default: none; the tests then need MORTISE_CORE_ENTRY)')
    .action(async (name: string, options: { dir?: string; sdk?: string; core?: string }) => {
      exitCode = await createCommand(name, options, io);
    });

  program
    .command('dev')
    .description("run the extension's backend here against a running core, for your requests only; rebuild and restart on change")
    .argument('[dir]', 'extension directory', '.')
    .requiredOption('--core <url>', 'the running core (e.g. http://127.0.0.1:8080)')
    .option('--token <token>', 'your bearer token (default: $MORTISE_DEV_TOKEN)')
    .option('--username <name>', 'log in as this user, the password in $MORTISE_DEV_PASSWORD')
    .action(async (dir: string, options: { core: string; token?: string; username?: string }) => {
      exitCode = await devCommand(dir, options, io);
    });

  program
    .command('validate')
    .description('check DIR/extension.yaml and the files it names')
    .argument('<dir>', 'extension directory')
    .action(async (dir: string) => {
      exitCode = await validateCommand(dir, io);
    });

  program
    .command('build')
    .description("build DIR's console module (frontend/index.tsx) into the directory of frontend.remoteEntry")
    .argument('<dir>', 'extension directory')
    .option('--mode <mode>', 'production or development', 'production')
    .action(async (dir: string, options: { mode?: string }) => {
      exitCode = await buildCommand(dir, options, io);
    });

  program
    .command('pack')
    .description('pack DIR into <name>-<version>.tgz with its .sha256 (and .sig when signing)')
    .argument('<dir>', 'extension directory')
    .option('--out <dir>', 'output directory (default: the current directory)')
    .option('--sign <keyfile>', 'ed25519 private key (PEM) to sign the package with')
    .action(async (dir: string, options: { out?: string; sign?: string }) => {
      exitCode = await packCommand(dir, options, io);
    });

  program
    .command('keygen')
    .description('create an ed25519 signing key pair: PREFIX.key (mode 0600) and PREFIX.pub')
    .option('--out <prefix>', 'path prefix of the key files', 'mortise-signing')
    .option('--force', 'replace existing key files')
    .action(async (options: { out?: string; force?: boolean }) => {
      exitCode = await keygenCommand(options, io);
    });

  program
    .command('publish')
    .description('upload a package to a marketplace repository')
    .argument('<package>', 'the .tgz to publish')
    .requiredOption('--to <url>', 'the repository\'s URL, as `mortise repo add` takes it (http://host:8090/main)')
    .option('--token <token>', 'publish token (default: $MORTISE_PUBLISH_TOKEN)')
    .option('--repository <name>', 'the repository, when --to is the server\'s root (default: main)')
    .option('--signature <base64>', 'signature (default: the .sig file beside the package)')
    .action(async (pkg: string, options: { to: string; token?: string; repository?: string; signature?: string }) => {
      exitCode = await publishCommand(pkg, options, io);
    });

  program
    .command('yank')
    .description('mark a published version yanked: cores stop offering it (pinned installs keep working)')
    .argument('<name>', 'the extension')
    .argument('<version>', 'the version')
    .requiredOption('--from <repository>', 'a marketplace repository URL (http://host:8090/main), or a static repository directory / file:// URL')
    .option('--reason <text>', 'why (shown to admins)')
    .option('--token <token>', 'publish token for a marketplace (default: $MORTISE_PUBLISH_TOKEN)')
    .action(async (name: string, version: string, options: { from: string; reason?: string; token?: string }) => {
      exitCode = await yankCommand(name, version, options, io);
    });

  program
    .command('index')
    .description('write DIR/index.yaml for the packages in DIR/packages/: a static repository (any file server, or file://DIR)')
    .argument('<dir>', 'the repository directory')
    .action(async (dir: string) => {
      exitCode = await indexCommand(dir, io);
    });

  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return error.exitCode;
    }
    throw error;
  }
  return exitCode;
}
