import { resolve } from 'node:path';
import { reportFailure, type CliIO } from '../io.js';

/** `mortise-ext build DIR`: builds the extension's console module with the federation preset. */
export async function buildCommand(dir: string, options: { mode?: string }, io: CliIO): Promise<number> {
  const mode = options.mode === 'development' ? 'development' : 'production';
  try {
    // webpack is loaded only here: every backend imports the SDK's index, which exports the CLI.
    const { buildFrontend } = await import('../../federation/frontend-build.js');
    const result = await buildFrontend(resolve(dir), { mode });
    io.out(`built ${result.files.length} file${result.files.length === 1 ? '' : 's'} into ${result.outDir} (remote entry ${result.remoteEntry})`);
    return 0;
  } catch (error) {
    return reportFailure(io, error);
  }
}
