import { resolve } from 'node:path';
import { loadManifestFromDir } from '../../manifest/load-from-dir.js';
import { frontendExposureWarnings } from '../../manifest/public-assets.js';
import type { CliIO } from '../io.js';

/**
 * `mortise-ext validate DIR`: every problem as "path: message"; 1 when there are any. Warnings
 * (what the package would make public) go to stderr and do not fail.
 */
export async function validateCommand(dir: string, io: CliIO): Promise<number> {
  const result = await loadManifestFromDir(resolve(dir));
  if (!result.valid) {
    for (const problem of result.errors) io.out(`${problem.path}: ${problem.message}`);
    io.err(`${result.errors.length} problem${result.errors.length === 1 ? '' : 's'} in ${resolve(dir)}`);
    return 1;
  }
  for (const warning of frontendExposureWarnings(result.manifest)) io.err(`warning: ${warning.path}: ${warning.message}`);
  io.out(`OK: ${result.manifest.name} ${result.manifest.version} is a valid extension`);
  return 0;
}
