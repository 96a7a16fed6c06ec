import type { RequestInfo } from '../api/request-info.js';
import type { AuthorizationScope, Authorizer, Decision } from '../auth/authorizer.js';
import type { UserInfo } from '../http/app-state.js';
import { iamGroup } from '../schemas/iam.js';
import { tenantGroup } from '../schemas/tenant.js';
import { ruleAllows, type PolicyRule } from './policy-rule.js';
import type { RbacIndex } from './rbac-index.js';

export type Scope = AuthorizationScope;

/** Lists whose handler shows each caller only what it belongs to: any logged-in user may ask. */
export function isSelfFilteredList(r: RequestInfo): boolean {
  if (!r.isResourceRequest || r.prefix !== 'kapis' || r.apiGroup !== tenantGroup || r.verb !== 'list') return false;
  return (r.resource === 'workspaces' && !r.workspace) || (r.resource === 'namespaces' && !!r.workspace && !r.namespace);
}

/**
 * What every user may do to their own User: read it (a get, or a list or watch naming it, which
 * serves it alone), change its password, see its logins.
 */
function isSelfAccess(user: UserInfo, r: RequestInfo): boolean {
  if (!r.isResourceRequest || r.apiGroup !== iamGroup || r.resource !== 'users' || r.name !== user.username || r.namespace) return false;
  if (r.subresource === '') return r.verb === 'get' || r.verb === 'list' || r.verb === 'watch';
  if (r.subresource === 'password') return r.verb === 'create' || r.verb === 'update';
  if (r.subresource === 'loginrecords') return r.verb === 'list' || r.verb === 'get';
  return false;
}

/**
 * RBAC in three scopes, evaluated like Kubernetes': global roles first, then the roles of the
 * workspace the request falls in, then those of its namespace; the first rule that allows wins,
 * nothing allows by default. Decisions are cached until any role, binding or template changes.
 */
export class RbacAuthorizer implements Authorizer {
  private cache = new Map<string, Decision>();
  private cacheGeneration = -1;

  constructor(private readonly index: RbacIndex) {}

  async authorize(user: UserInfo, r: RequestInfo): Promise<Decision> {
    return this.decide(user, r);
  }

  decide(user: UserInfo, r: RequestInfo): Decision {
    if (isSelfAccess(user, r)) return { allowed: true, reason: 'users may read and manage their own account' };
    if (isSelfFilteredList(r)) return { allowed: true, reason: 'the list is filtered to what the caller belongs to' };
    if (this.cacheGeneration !== this.index.generation) {
      this.cache.clear();
      this.cacheGeneration = this.index.generation;
    }
    const key = `${user.username}\u0000${user.groups.join(',')}\u0000${r.verb}\u0000${r.isResourceRequest ? `${r.apiGroup}/${r.resource}/${r.subresource}/${r.namespace}/${r.workspace ?? ''}/${r.name}` : r.path}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const decision = this.evaluate(user, r);
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(key, decision);
    return decision;
  }

  /** The workspace and namespace a request falls in. */
  scopeOf(r: RequestInfo): Scope {
    if (!r.isResourceRequest) return {};
    const namespace = r.namespace || undefined;
    let workspace = r.workspace;
    if (!workspace && namespace) workspace = this.index.workspaceOfNamespace(namespace);
    if (!workspace && r.apiGroup === tenantGroup && r.resource === 'workspaces' && r.name) workspace = r.name;
    if (!workspace && r.apiGroup === iamGroup && (r.resource === 'workspaceroles' || r.resource === 'workspacerolebindings') && r.name) {
      workspace = this.index.workspaceOfObject(r.resource, r.name);
    }
    return { workspace, namespace };
  }

  /** Every rule the user holds in a scope (global, plus the workspace's, plus the namespace's). */
  rulesFor(user: UserInfo, scope: Scope): PolicyRule[] {
    const groups = this.index.groupsOf(user.username, user.groups);
    const sets = [...this.index.globalRules(user.username, groups)];
    const ws = scope.workspace ?? (scope.namespace ? this.index.workspaceOfNamespace(scope.namespace) : undefined);
    if (ws) sets.push(...this.index.workspaceRules(ws, user.username, groups));
    if (scope.namespace) sets.push(...this.index.namespaceRules(scope.namespace, user.username, groups));
    return sets.flatMap((s) => s.rules);
  }

  private evaluate(user: UserInfo, r: RequestInfo): Decision {
    const groups = this.index.groupsOf(user.username, user.groups);
    for (const { role, rules } of this.index.globalRules(user.username, groups)) {
      if (rules.some((rule) => ruleAllows(rule, r))) return { allowed: true, reason: `allowed by GlobalRole "${role}"` };
    }
    const { workspace, namespace } = this.scopeOf(r);
    if (workspace) {
      for (const { role, rules } of this.index.workspaceRules(workspace, user.username, groups)) {
        if (rules.some((rule) => ruleAllows(rule, r))) return { allowed: true, reason: `allowed by WorkspaceRole "${role}"` };
      }
    }
    if (namespace) {
      for (const { role, rules } of this.index.namespaceRules(namespace, user.username, groups)) {
        if (rules.some((rule) => ruleAllows(rule, r))) return { allowed: true, reason: `allowed by Role "${role}" in namespace "${namespace}"` };
      }
    }
    const scopes = ['global roles', ...(workspace ? [`workspace "${workspace}"`] : []), ...(namespace ? [`namespace "${namespace}"`] : [])];
    return { allowed: false, reason: `no role grants it (checked ${scopes.join(', ')})` };
  }
}
