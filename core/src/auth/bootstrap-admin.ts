import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import { iamGroup } from '../schemas/iam.js';
import { takeEarlyAdminPassword } from './early-admin-password.js';

export const adminUsername = 'admin';

/**
 * Creates the `admin` user on first start. The password comes from the configuration or is
 * generated; a generated one is returned (and printed by the caller) exactly once. When the
 * core's entry already hashed it (early-admin-password.ts) the hash is stored as it is.
 */
export async function bootstrapAdmin(service: ResourceService, kinds: KindRegistry, password: string | undefined, logger: Logger): Promise<string | undefined> {
  const def = kinds.byGroupResource(iamGroup, 'users')!;
  if (await service.getStored(def, '', adminUsername)) return undefined;
  const early = takeEarlyAdminPassword(password);
  const generated = early ? (early.generated ? early.password : undefined) : password ? undefined : randomBytes(12).toString('base64url');
  const plain = early?.password ?? (password || generated!);
  // The User kind hashes a plaintext password; a hash made early is kept as it is.
  const secret = early ? await early.hash.catch(() => plain) : plain;
  await service.create(def, '', {
    apiVersion: `${iamGroup}/v1alpha1`, kind: 'User',
    metadata: { name: adminUsername, annotations: { 'iam.mortise.io/bootstrap': 'true' } },
    spec: { email: 'admin@mortise.local', displayName: 'Platform administrator', password: secret, groups: ['platform-admin'] },
  }, {});
  logger.info({ event: 'bootstrap.admin', username: adminUsername, passwordSource: password ? 'MORTISE_ADMIN_PASSWORD' : 'generated', passwordHashed: early && secret !== plain ? 'early' : 'at the seed' }, 'created the admin user');
  return generated;
}
