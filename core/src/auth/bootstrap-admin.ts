import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import { iamGroup } from '../schemas/iam.js';

export const adminUsername = 'admin';

/**
 * Creates the `admin` user on first start. The password comes from the configuration or is
 * generated; a generated one is returned (and printed by the caller) exactly once.
 */
export async function bootstrapAdmin(service: ResourceService, kinds: KindRegistry, password: string | undefined, logger: Logger): Promise<string | undefined> {
  const def = kinds.byGroupResource(iamGroup, 'users')!;
  if (await service.getStored(def, '', adminUsername)) return undefined;
  const generated = password ? undefined : randomBytes(12).toString('base64url');
  await service.create(def, '', {
    apiVersion: `${iamGroup}/v1alpha1`, kind: 'User',
    metadata: { name: adminUsername, annotations: { 'iam.mortise.io/bootstrap': 'true' } },
    spec: { email: 'admin@mortise.local', displayName: 'Platform administrator', password: password ?? generated, groups: ['platform-admin'] },
  }, {});
  logger.info({ event: 'bootstrap.admin', username: adminUsername, passwordSource: password ? 'MORTISE_ADMIN_PASSWORD' : 'generated' }, 'created the admin user');
  return generated;
}
