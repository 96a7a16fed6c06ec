import { isDeepStrictEqual } from 'node:util';
import { resourceAttributes } from '../api/request-info.js';
import { forbidden, invalid, type ApiError } from '../api/status.js';
import type { AdmissionPlugin } from '../registry/resource-service.js';
import { iamGroup } from '../schemas/iam.js';
import type { KubeObject } from '../store/resource-store.js';
import { workspaceLabel } from '../schemas/tenant.js';
import { covers, type PolicyRule } from './policy-rule.js';
import type { AuthorizationScope as Scope, Authorizer } from '../auth/authorizer.js';

const roleKinds: Record<string, 'GlobalRole' | 'WorkspaceRole' | 'Role'> = {
  GlobalRoleBinding: 'GlobalRole', WorkspaceRoleBinding: 'WorkspaceRole', RoleBinding: 'Role',
};
export const rolePlural = { GlobalRole: 'globalroles', WorkspaceRole: 'workspaceroles', Role: 'roles' } as const;

/** A role as the store has it now (undefined: none). */
export type StoredRole = (kind: 'GlobalRole' | 'WorkspaceRole' | 'Role', name: string, namespace?: string) => Promise<KubeObject | undefined>;

/** The rules a role grants, as stored (RBAC's own kinds: the roles being granted). */
export interface RoleRules {
  roleRules(kind: 'GlobalRole' | 'WorkspaceRole' | 'Role', name: string, namespace?: string): PolicyRule[] | undefined;
  effectiveRules(role: KubeObject): PolicyRule[];
}

/**
 * The Kubernetes escalation rule: nobody creates or updates a role, template or binding that
 * grants more than they hold in that scope, unless they hold `escalate` (roles) or `bind`
 * (bindings) on it. `escalate` and `bind` are asked of the core's authorizer; what a user holds
 * comes from its `rulesFor` (without it, only `escalate` / `bind` let a grant through).
 */
export function escalationAdmission(authorizer: Authorizer, index: RoleRules, storedRole?: StoredRole): AdmissionPlugin {
  const held = (user: NonNullable<Parameters<AdmissionPlugin>[0]['ctx']['user']>, scope: Scope) => authorizer.rulesFor?.({ ...user, via: 'token' }, scope) ?? [];
  const holds = async (user: NonNullable<Parameters<AdmissionPlugin>[0]['ctx']['user']>, verb: string, resource: string, name: string, scope: Scope) => {
    const r = resourceAttributes({ verb, apiGroup: iamGroup, apiVersion: 'v1alpha1', namespace: scope.namespace ?? '', resource, name, workspace: scope.workspace });
    return (await authorizer.authorize({ ...user, via: 'token' }, r)).allowed;
  };

  return async ({ def, object, old, ctx }) => {
    const user = ctx.user;
    if (!user || def.group !== iamGroup) return;
    // As Kubernetes: an update that changes only what garbage collection reads (finalizers,
    // ownerReferences) grants nothing new, and must work when the role is gone (a binding held
    // by a finalizer in a namespace being emptied).
    if (old && onlyGcFieldsChange(object, old)) return;
    const name = object.metadata.name!;
    const deny = (what: string, missing: PolicyRule[]) => escalationDenied(user.username, what, missing, { name, group: def.group, kind: def.plural });

    if (def.kind === 'GlobalRole' || def.kind === 'WorkspaceRole' || def.kind === 'Role' || def.kind === 'RoleTemplate') {
      const scope: Scope = def.kind === 'WorkspaceRole' ? { workspace: object.metadata.labels?.[workspaceLabel] } : def.kind === 'Role' ? { namespace: object.metadata.namespace } : {};
      if (await holds(user, 'escalate', def.plural, name, scope)) return;
      const rules = def.kind === 'RoleTemplate' ? ((object.spec as { rules?: PolicyRule[] })?.rules ?? []) : index.effectiveRules(object);
      const result = covers(held(user, scope), rules);
      if (!result.ok) throw deny(`${def.kind} "${name}"`, result.missing);
      return;
    }

    const roleKind = roleKinds[def.kind];
    if (!roleKind) return;
    const roleRef = (object as { roleRef?: { kind?: string; name?: string } }).roleRef;
    if (roleRef?.kind && roleRef.kind !== roleKind) {
      throw invalid(def.group, def.kind, name, [{ field: 'roleRef.kind', message: `Unsupported value: "${roleRef.kind}": a ${def.kind} refers to a ${roleKind}` }]);
    }
    const roleName = roleRef?.name ?? '';
    const scope: Scope = def.kind === 'WorkspaceRoleBinding' ? { workspace: object.metadata.labels?.[workspaceLabel] } : def.kind === 'RoleBinding' ? { namespace: object.metadata.namespace } : {};
    // The index learns of writes through the store's watch. In kubernetes mode that is
    // kube-apiserver's watch, which may not yet have brought a Role created a moment ago (a role
    // and its binding in one `kubectl apply`): the store decides what exists.
    let rules = index.roleRules(roleKind, roleName, scope.namespace);
    if (!rules) {
      const stored = await storedRole?.(roleKind, roleName, scope.namespace);
      if (stored) rules = index.effectiveRules(stored);
    }
    if (!rules) throw invalid(def.group, def.kind, name, [{ field: 'roleRef.name', message: `Not found: ${roleKind} "${roleName}" does not exist${scope.namespace ? ` in namespace "${scope.namespace}"` : ''}` }]);
    if (await holds(user, 'bind', rolePlural[roleKind], roleName, scope)) return;
    const result = covers(held(user, scope), rules);
    if (!result.ok) throw deny(`binding ${roleKind} "${roleName}"`, result.missing);
  };
}

/** Fields the server sets, and those garbage collection reads: nothing an escalation check is about. */
const gcAndServerFields = ['finalizers', 'ownerReferences', 'managedFields', 'resourceVersion', 'generation', 'uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink'];

function onlyGcFieldsChange(next: KubeObject, old: KubeObject): boolean {
  const rest = (o: KubeObject) => {
    const metadata: Record<string, unknown> = { ...o.metadata };
    for (const f of gcAndServerFields) delete metadata[f];
    return { ...o, metadata };
  };
  return isDeepStrictEqual(rest(next), rest(old));
}

/** The 403 of a write granting what its writer does not hold (Kubernetes' wording), naming at most five rules. */
export function escalationDenied(username: string, what: string, missing: PolicyRule[], details: { name: string; group: string; kind: string }): ApiError {
  return forbidden(
    `user "${username}" is attempting to grant permissions not currently held (${what}): ${missing.slice(0, 5).map(describe).join('; ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`,
    details,
  );
}

function describe(r: PolicyRule): string {
  if (r.nonResourceURLs?.length) return `${r.verbs.join(',')} ${r.nonResourceURLs.join(',')}`;
  return `${r.verbs.join(',')} ${r.resources?.join(',')}${r.apiGroups?.[0] ? `.${r.apiGroups[0]}` : ''}${r.resourceNames?.length ? ` named ${r.resourceNames.join(',')}` : ''}`;
}
