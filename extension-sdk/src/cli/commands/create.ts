import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DNS1123_LABEL } from '../../manifest/patterns.js';
import { templateFiles } from '../create/template.js';
import { reportFailure, type CliIO } from '../io.js';

export interface CreateCommandOptions {
  /** Where to create it (default: `./<name>`). */
  dir?: string;
  /** The SDK dependency: a packed tarball path, a directory, or an npm version range. */
  sdk?: string;
  /** The core the project's tests run (a dev dependency): a packed core tarball or a directory. */
  core?: string;
}

/** The SDK's own package directory (where this code runs from). */
function sdkPackageDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
}

/** A path (tarball or directory) becomes an absolute `file:` spec, so the project works wherever it is; a range stays. */
function dependencySpec(given: string, what: string): string {
  if (given.startsWith('file:')) given = given.slice(5);
  if (given.endsWith('.tgz') || given.startsWith('.') || isAbsolute(given) || existsSync(given)) {
    const path = resolve(given);
    if (!existsSync(path)) throw new Error(`${what} ${path} does not exist`);
    return `file:${path}`;
  }
  return given;
}

/** `mortise-ext create NAME [--dir DIR] [--sdk SPEC]`: a new extension project that builds, tests and packs on its own. */
export async function createCommand(name: string, options: CreateCommandOptions, io: CliIO): Promise<number> {
  try {
    if (!new RegExp(DNS1123_LABEL).test(name) || name.length > 63) {
      throw new Error(`"${name}" is not a valid extension name: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters (e.g. acme-notes)`);
    }
    const dir = resolve(options.dir ?? name);
    if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`${dir} exists and is not empty: choose another name or --dir`);
    const sdkVersion = (JSON.parse(readFileSync(join(sdkPackageDir(), 'package.json'), 'utf8')) as { version: string }).version;
    const sdk = options.sdk ? dependencySpec(options.sdk, 'the SDK (--sdk: the packed SDK .tgz, from `npm pack` in extension-sdk/)') : `file:${sdkPackageDir()}`;
    const core = options.core ? dependencySpec(options.core, 'the core (--core: the packed core .tgz, from `npm pack -w @mortise/core` in a Mortise checkout)') : undefined;
    const files = templateFiles({ name, sdk, sdkVersion, ...(core ? { core } : {}) });
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    io.out(`created ${name} in ${dir}`);
    io.out('next:');
    io.out(`  cd ${options.dir ?? name}`);
    io.out('  npm install');
    io.out(core ? '  npm test' : '  npm test        # needs MORTISE_CORE_ENTRY (a core\'s dist/bundle/main.js), or create with --core <packed core .tgz>');
    io.out('  npm run pack');
    return 0;
  } catch (error) {
    return reportFailure(io, error);
  }
}
