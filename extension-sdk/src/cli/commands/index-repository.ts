import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sha256File } from '../../package/digest.js';
import { readPackage } from '../../package/read-package.js';
import { addToIndex, emptyRepositoryIndex } from '../../repository/index-operations.js';
import { parseRepositoryIndex } from '../../repository/parse-index.js';
import { serializeRepositoryIndex } from '../../repository/serialize-index.js';
import type { RepositoryIndex } from '../../repository/types.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { reportFailure, type CliIO } from '../io.js';
import { fileNameProblem } from './package-name.js';

/**
 * `mortise-ext index DIR`: writes DIR/index.yaml for the packages in DIR/packages/, so DIR can be
 * served by any static file host or used as a `file://` repository. Each package is read and
 * checked (digest, manifest, file name); signatures come from `.sig` files beside them; what an
 * existing index says about a version (created, yanked) is kept.
 */
export async function indexCommand(dirArg: string, io: CliIO): Promise<number> {
  try {
    const dir = resolve(dirArg);
    const packagesDir = join(dir, 'packages');
    if (!existsSync(packagesDir)) throw new Error(`${packagesDir} does not exist: put the packed .tgz files (mortise-ext pack --out ${join(dirArg, 'packages')}) there`);
    const indexFile = join(dir, 'index.yaml');
    const previous: RepositoryIndex | undefined = existsSync(indexFile) ? parseRepositoryIndex(readFileSync(indexFile, 'utf8')) : undefined;
    let index = emptyRepositoryIndex();
    const files = readdirSync(packagesDir).filter((f) => f.endsWith('.tgz')).sort();
    for (const file of files) {
      const path = join(packagesDir, file);
      const digest = await sha256File(path);
      const { manifest } = await readPackage(path, { expectedSha256: digest });
      const problem = fileNameProblem(file, manifest);
      if (problem) throw new Error(problem);
      const signature = existsSync(`${path}.sig`) ? readFileSync(`${path}.sig`, 'utf8').trim() : undefined;
      const before = previous?.entries[manifest.name]?.find((e) => e.version === manifest.version && e.digest === digest);
      index = addToIndex(index, manifest, { digest, url: `packages/${file}`, signature, ...(before?.created ? { created: before.created } : {}) });
      if (before?.yanked) {
        const entry = index.entries[manifest.name]!.find((e) => e.version === manifest.version)!;
        entry.yanked = true;
        if (before.yankedReason) entry.yankedReason = before.yankedReason;
      }
    }
    await writeFileAtomic(indexFile, serializeRepositoryIndex(index));
    const count = Object.values(index.entries).reduce((n, e) => n + e.length, 0);
    io.out(`wrote ${indexFile}: ${Object.keys(index.entries).length} extension(s), ${count} version(s)`);
    io.out(`add it to a core with: mortise repo add NAME file://${dir}   (or serve ${dir} over HTTP)`);
    return 0;
  } catch (error) {
    return reportFailure(io, error);
  }
}
