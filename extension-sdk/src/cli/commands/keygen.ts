import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { generateSigningKeyPair, publicKeyFingerprint } from '../../package/signing.js';
import { reportFailure, type CliIO } from '../io.js';

export interface KeygenCommandOptions {
  /** Files are PREFIX.key and PREFIX.pub; default "mortise-signing". */
  out?: string;
  /** Replace existing key files. */
  force?: boolean;
}

/** `mortise-ext keygen [--out PREFIX]`: an ed25519 pair; the private key readable by its owner only. */
export async function keygenCommand(options: KeygenCommandOptions, io: CliIO): Promise<number> {
  const prefix = resolve(options.out ?? 'mortise-signing');
  const flag = options.force ? 'w' : 'wx';
  try {
    const pair = generateSigningKeyPair();
    await writeFile(`${prefix}.key`, pair.privateKeyPem, { mode: 0o600, flag });
    await writeFile(`${prefix}.pub`, pair.publicKeyPem, { mode: 0o644, flag });
    io.out(`private key: ${prefix}.key (keep it secret)`);
    io.out(`public key: ${prefix}.pub`);
    io.out(`fingerprint: ${publicKeyFingerprint(pair.publicKeyPem)}`);
    return 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      return reportFailure(io, new Error(`${prefix}.key or ${prefix}.pub already exists (use --force to replace it)`));
    }
    return reportFailure(io, error);
  }
}
