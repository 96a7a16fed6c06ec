import { isDeepStrictEqual } from 'node:util';
import { resourceAttributes } from '../api/request-info.js';
import { forbidden } from '../api/status.js';
import type { Authorizer } from '../auth/authorizer.js';
import type { AdmissionPlugin } from '../registry/resource-service.js';
import { tenantGroup } from '../schemas/tenant.js';

/**
 * A workspace's quota bounds its own admins, so it is set above them: changing `spec.quota` of
 * an existing Workspace takes `update workspaces` at the global scope, not a workspace role (as
 * Kubernetes' namespace `admin` reads a ResourceQuota but cannot write it). Creating a workspace
 * is global already. Controllers of the core (no user) are trusted.
 */
export function workspaceQuotaAdmission(authorizer: Authorizer): AdmissionPlugin {
  return async ({ def, object, old, ctx }) => {
    const user = ctx.user;
    if (!user || !old || def.group !== tenantGroup || def.plural !== 'workspaces') return;
    const quota = (o: typeof object) => (o.spec as { quota?: unknown } | undefined)?.quota;
    if (isDeepStrictEqual(quota(object), quota(old))) return;
    const name = object.metadata.name!;
    // No workspace in the attributes: only global roles answer.
    const r = resourceAttributes({ verb: 'update', apiGroup: tenantGroup, apiVersion: def.version, resource: 'workspaces' });
    if ((await authorizer.authorize({ ...user, via: 'token' }, r)).allowed) return;
    throw forbidden(`workspaces.${tenantGroup} "${name}" is forbidden: spec.quota bounds the workspace's own admins: changing it takes update on workspaces at the cluster scope, which User "${user.username}" does not hold`, { name, group: tenantGroup, kind: 'workspaces' });
  };
}
