import { publishPackage } from '../../repository/publish-client.js';
import { reportFailure, type CliIO } from '../io.js';

export interface PublishCommandOptions {
  /** Marketplace base URL. */
  to: string;
  token?: string;
  repository?: string;
  /** Base64 signature; by default `<package>.sig` is used when present. */
  signature?: string;
}

/** `mortise-ext publish PKG --to URL --token T`. The token may also come from MORTISE_PUBLISH_TOKEN. */
export async function publishCommand(packagePath: string, options: PublishCommandOptions, io: CliIO): Promise<number> {
  const token = options.token ?? process.env.MORTISE_PUBLISH_TOKEN;
  if (!token) return reportFailure(io, new Error('a publish token is required (--token or MORTISE_PUBLISH_TOKEN)'));
  try {
    const repository = options.repository ?? 'main';
    const { entry } = await publishPackage({
      marketplaceUrl: options.to,
      repository,
      token,
      package: packagePath,
      signature: options.signature,
    });
    io.out(`published ${entry.name} ${entry.version} to ${options.to} (repository ${repository})`);
    io.out(`sha256: ${entry.digest}`);
    io.out(`url: ${entry.urls[0] ?? ''}`);
    io.out(`signed: ${entry.signature ? 'yes' : 'no'}`);
    return 0;
  } catch (error) {
    return reportFailure(io, error);
  }
}
