import type { IndexEntry, RepositoryCredentials } from '@mortise/extension-sdk/repository';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import { extensionsGroup } from '../schemas/extensions.js';
import { versionObjectName } from './extension-versions.js';
import { InstallError, VersionNotOffered } from './install-error.js';
import { repositoryCredentials, type RepositoryCredentialsSpec } from './repository-credentials.js';

export interface VersionSource {
  entry: IndexEntry;
  repositoryUrl: string;
  /** The repository's own credentials: a private repository's packages need them as its index does. */
  credentials?: RepositoryCredentials;
  trustedKeys?: string[];
}

/** The synced ExtensionVersion of `name` `version` and the repository it comes from. */
export async function resolveVersionSource(service: ResourceService, kinds: KindRegistry, name: string, version: string): Promise<VersionSource> {
  const vdef = kinds.byGroupResource(extensionsGroup, 'extensionversions')!;
  const ev = await service.getStored(vdef, '', versionObjectName(name, version));
  if (!ev) throw new VersionNotOffered(`version ${version} of ${name} is not offered by any repository (is the repository synced?)`);
  const s = ev.spec as { repository: string; digest: string; url: string; signature?: string; engines?: Record<string, string>; dependencies?: Record<string, string> } & Record<string, unknown>;
  const rdef = kinds.byGroupResource(extensionsGroup, 'repositories')!;
  const repo = await service.getStored(rdef, '', s.repository);
  if (!repo) throw new InstallError(`the repository "${s.repository}" that offered ${name} ${version} no longer exists`);
  const rs = repo.spec as { url: string; trustedKeys?: string[]; credentials?: RepositoryCredentialsSpec };
  const credentials = repositoryCredentials(rs);
  return {
    repositoryUrl: rs.url, trustedKeys: rs.trustedKeys, ...(credentials ? { credentials } : {}),
    entry: { ...(s as unknown as IndexEntry), name, version, digest: s.digest, urls: [s.url], ...(s.signature ? { signature: s.signature } : {}) },
  };
}
