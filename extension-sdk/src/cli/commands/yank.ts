import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { yankInIndex } from '../../repository/index-operations.js';
import { parseRepositoryIndex } from '../../repository/parse-index.js';
import { marketplaceTarget } from '../../repository/repository-url.js';
import { serializeRepositoryIndex } from '../../repository/serialize-index.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { reportFailure, type CliIO } from '../io.js';

export interface YankCommandOptions {
  /** The repository: a marketplace repository URL (`http://host/main`), or a static repository's directory / file:// URL. */
  from: string;
  reason?: string;
  token?: string;
}

/**
 * `mortise-ext yank NAME VERSION --from REPO [--reason R]`: marks a version yanked, so cores stop
 * offering it (pinned installs keep working). A marketplace is asked through its API (with a
 * publish token); a static repository's index.yaml is rewritten in place.
 */
export async function yankCommand(name: string, version: string, options: YankCommandOptions, io: CliIO): Promise<number> {
  try {
    const local = options.from.startsWith('file:') ? fileURLToPath(options.from) : !/^https?:\/\//.test(options.from) ? resolve(options.from) : undefined;
    if (local) {
      const indexFile = join(local, 'index.yaml');
      if (!existsSync(indexFile)) throw new Error(`${indexFile} does not exist: --from names a repository directory (built with mortise-ext index) or a marketplace URL`);
      const next = yankInIndex(parseRepositoryIndex(readFileSync(indexFile, 'utf8')), name, version, options.reason);
      await writeFileAtomic(indexFile, serializeRepositoryIndex(next));
      io.out(`yanked ${name} ${version} in ${indexFile}${options.reason ? ` (${options.reason})` : ''}`);
      return 0;
    }
    const token = options.token ?? process.env.MORTISE_PUBLISH_TOKEN;
    if (!token) throw new Error('a publish token is required (--token or MORTISE_PUBLISH_TOKEN)');
    const { marketplaceUrl, repository } = marketplaceTarget(options.from);
    const url = new URL(`api/v1/repositories/${encodeURIComponent(repository)}/extensions/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}/yank`, marketplaceUrl);
    const res = await fetch(url, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(options.reason ? { reason: options.reason } : {}),
    }).catch((e: Error) => {
      throw new Error(`cannot reach ${url.origin}: ${(e.cause as Error | undefined)?.message ?? e.message}`);
    });
    const body = (await res.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
    if (!res.ok) throw new Error(`yank refused (${res.status}): ${body?.error?.message ?? res.statusText}`);
    io.out(`yanked ${name} ${version} in ${marketplaceUrl}${repository}${options.reason ? ` (${options.reason})` : ''}`);
    io.out(`cores offer it no longer after their next sync (mortise repo sync REPOSITORY syncs now)`);
    return 0;
  } catch (error) {
    return reportFailure(io, error);
  }
}
