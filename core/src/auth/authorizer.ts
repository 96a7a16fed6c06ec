import type { RequestInfo } from '../api/request-info.js';
import type { UserInfo } from '../http/app-state.js';
import type { PolicyRule } from '../iam/policy-rule.js';

export interface Decision {
  allowed: boolean;
  reason: string;
}

/** Where a question about held rules is asked: globally, in a workspace, in a namespace. */
export interface AuthorizationScope {
  workspace?: string;
  namespace?: string;
}

/**
 * Decides whether a user may do what a request asks. Runs before every handler and proxy, and
 * answers access reviews, tenant views and escalation admission.
 */
export interface Authorizer {
  authorize(user: UserInfo, request: RequestInfo): Promise<Decision>;
  /**
   * The rules a user holds in a scope, when the authorizer can enumerate them (RBAC can). Without
   * it a SelfSubjectRulesReview answers `incomplete`, and only a holder of `escalate` / `bind`
   * may write a role or binding (nothing shows the grant is covered).
   */
  rulesFor?(user: UserInfo, scope: AuthorizationScope): PolicyRule[];
}

/**
 * Who belongs where: the groups a user is in and the workspaces and namespaces a user holds any
 * role in (RBAC's bindings say), for the views that show each caller its own tenants.
 */
export interface TenantMembership {
  groupsOf(username: string, tokenGroups: string[]): string[];
  workspacesOf(username: string, groups: string[]): Set<string>;
  namespacesOf(username: string, groups: string[]): Set<string>;
  workspaceOfNamespace(namespace: string): string | undefined;
}

/** The request as a person reads it, for denial messages: `list namespaces in namespace "x"`. */
export function describeRequest(r: RequestInfo): string {
  if (!r.isResourceRequest) return `${r.verb} path "${r.path}"`;
  const res = `${r.resource}${r.subresource ? `/${r.subresource}` : ''}`;
  const what = `resource "${res}" in API group "${r.apiGroup}"`;
  const scope = r.namespace ? ` in the namespace "${r.namespace}"` : r.workspace ? ` in the workspace "${r.workspace}"` : ' at the cluster scope';
  return `${r.verb} ${what}${scope}`;
}
