import { readFile } from 'node:fs/promises';
import { formatBytes } from '../../package/limits.js';
import { packExtension } from '../../package/pack.js';
import { publicKeyFingerprint } from '../../package/signing.js';
import { reportFailure, type CliIO } from '../io.js';

export interface PackCommandOptions {
  out?: string;
  /** Path of a PEM ed25519 private key. */
  sign?: string;
}

/** `mortise-ext pack DIR [--out DIR] [--sign KEYFILE]`. */
export async function packCommand(dir: string, options: PackCommandOptions, io: CliIO): Promise<number> {
  try {
    const signingKey = options.sign ? await readFile(options.sign, 'utf8') : undefined;
    const result = await packExtension(dir, { outDir: options.out ?? process.cwd(), signingKey });
    io.out(`packed ${result.manifest.name} ${result.manifest.version} (${result.entries.length} files, ${formatBytes(result.size)})`);
    io.out(`file: ${result.file}`);
    io.out(`sha256: ${result.sha256}`);
    if (result.signature && signingKey) {
      io.out(`signature: ${result.signature}`);
      io.out(`signed by key ${publicKeyFingerprint(signingKey)} (${result.signatureFile})`);
    } else {
      io.out('signature: none');
    }
    return 0;
  } catch (error) {
    return reportFailure(io, error);
  }
}
