import { readPackage } from '../../package/read-package.js';
import { publishPackage, PublishError } from '../../repository/publish-client.js';
import { marketplaceTarget } from '../../repository/repository-url.js';
import { reportFailure, type CliIO } from '../io.js';
import { fileNameProblem } from './package-name.js';

export interface PublishCommandOptions {
  /** The repository's URL as users add it (`http://host:8090/main`), or the server's root with `repository`. */
  to: string;
  token?: string;
  /** The repository on the marketplace, when `to` is the server's root (default `main`). */
  repository?: string;
  /** Base64 signature; by default `<package>.sig` is used when present. */
  signature?: string;
}

/** `mortise-ext publish PKG --to URL --token T`. The token may also come from MORTISE_PUBLISH_TOKEN. */
export async function publishCommand(packagePath: string, options: PublishCommandOptions, io: CliIO): Promise<number> {
  const token = options.token ?? process.env.MORTISE_PUBLISH_TOKEN;
  if (!token) return reportFailure(io, new Error('a publish token is required (--token or MORTISE_PUBLISH_TOKEN)'));
  try {
    const { marketplaceUrl, repository } = marketplaceTarget(options.to, options.repository);
    // A renamed file would be refused later as a version that exists already: say what is wrong.
    const { manifest } = await readPackage(packagePath);
    const problem = fileNameProblem(packagePath, manifest);
    if (problem) throw new Error(problem);
    let entry;
    try {
      ({ entry } = await publishPackage({ marketplaceUrl, repository, token, package: packagePath, signature: options.signature }));
    } catch (e) {
      if (e instanceof PublishError && e.status === 409) {
        throw new Error(`${manifest.name} ${manifest.version} is already published in ${marketplaceUrl}${repository}, and a published version never changes: change \`version\` in extension.yaml, pack again and publish that`);
      }
      throw e;
    }
    io.out(`published ${entry.name} ${entry.version} to ${marketplaceUrl}${repository}`);
    io.out(`sha256: ${entry.digest}`);
    io.out(`url: ${entry.urls[0] ?? ''}`);
    io.out(`signed: ${entry.signature ? 'yes' : 'no'}`);
    io.out(`cores see it after their next sync of ${marketplaceUrl}${repository} (mortise repo sync REPOSITORY syncs now)`);
    return 0;
  } catch (error) {
    return reportFailure(io, error);
  }
}
