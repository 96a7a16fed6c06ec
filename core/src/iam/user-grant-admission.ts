import { isDeepStrictEqual } from 'node:util';
import { resourceAttributes } from '../api/request-info.js';
import type { Authorizer } from '../auth/authorizer.js';
import type { AdmissionPlugin } from '../registry/resource-service.js';
import { iamGroup } from '../schemas/iam.js';
import { escalationDenied } from './escalation-admission.js';
import { covers, type PolicyRule } from './policy-rule.js';
import type { RoleGrant } from './rbac-index.js';
import { serviceAccountUsername } from '../auth/service-account-tokens.js';

export interface SubjectGrants {
  grantsOf(users: string[], groups: string[]): RoleGrant[];
}

/**
 * Writing a User or a GroupBinding (or creating a ServiceAccount) is granting: a user's groups are subjects of bindings, and its
 * spec (password, email, groups) is the key to everything bound to it. So, as the escalation rule
 * for roles and bindings: nobody puts a user in a group that holds what they do not hold, nor
 * creates or changes the spec of a user who holds (or would hold) more than they do, in any scope,
 * unless they hold `escalate` on users (or groupbindings). Status (disabling) is not a grant.
 * Controllers of the core (no user) are trusted.
 */
export function userGrantAdmission(authorizer: Authorizer, index: SubjectGrants): AdmissionPlugin {
  return async ({ def, object, old, ctx }) => {
    const writer = ctx.user;
    if (!writer || def.group !== iamGroup || !['users', 'groupbindings', 'serviceaccounts'].includes(def.plural)) return;
    const name = object.metadata.name!;
    let checks: Array<{ what: string; grants: RoleGrant[] }>;
    if (def.plural === 'serviceaccounts') {
      // Bindings name an account by namespace and name: a namespace name used again (another
      // tenant's now) must not bring back what the old account was granted elsewhere.
      if (old) return;
      const ns = object.metadata.namespace!;
      const username = serviceAccountUsername(ns, name);
      checks = [{ what: `ServiceAccount "${username}" would hold them`, grants: index.grantsOf([username], ['system:authenticated', 'system:serviceaccounts', `system:serviceaccounts:${ns}`]) }];
    } else if (def.plural === 'users') {
      const spec = (object.spec ?? {}) as { groups?: string[] };
      if (old && isDeepStrictEqual(old.spec, object.spec)) return;
      const groups = spec.groups ?? [];
      const before = new Set(((old?.spec ?? {}) as { groups?: string[] }).groups ?? []);
      // The groups added first (the refusal names them), then all the user will hold.
      checks = [
        ...groups.filter((g) => !before.has(g)).map((g) => ({ what: `group "${g}" of User "${name}"`, grants: index.grantsOf([], [g]) })),
        { what: `User "${name}" holds them`, grants: index.grantsOf([name], ['system:authenticated', ...groups]) },
      ];
    } else {
      const group = (object as { groupRef?: { name?: string } }).groupRef?.name ?? '';
      const users = (object as { users?: string[] }).users ?? [];
      const was = old as { groupRef?: { name?: string }; users?: string[] } | undefined;
      if (!users.length || (was && was.groupRef?.name === group && users.every((u) => was.users?.includes(u)))) return;
      checks = [{ what: `group "${group}" of GroupBinding "${name}"`, grants: index.grantsOf([], [group]) }];
    }
    const escalate = resourceAttributes({ verb: 'escalate', apiGroup: iamGroup, apiVersion: def.version, resource: def.plural, name });
    if ((await authorizer.authorize({ ...writer, via: 'token' }, escalate)).allowed) return;
    for (const { what, grants } of checks) {
      const missing: PolicyRule[] = [];
      for (const g of grants) missing.push(...covers(authorizer.rulesFor?.({ ...writer, via: 'token' }, g.scope) ?? [], g.rules).missing);
      if (missing.length) throw escalationDenied(writer.username, what, missing, { name, group: def.group, kind: def.plural });
    }
  };
}
