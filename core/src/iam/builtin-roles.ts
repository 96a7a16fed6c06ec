import type { PolicyRule } from './policy-rule.js';

// The roles every Mortise has. Seeded at first start (and re-created if deleted); admins can
// bind them, and extensions add to them through RoleTemplates.

export const aggregateLabel = 'iam.mortise.io/aggregate-to';
export const scopeLabel = 'iam.mortise.io/scope';
/** RoleTemplates with this label set to "true" add to what every logged-in user may do (extensions' proxy paths). */
export const aggregateToAuthenticatedLabel = 'iam.mortise.io/aggregate-to-authenticated';

const read = ['get', 'list', 'watch'];
const discovery: PolicyRule = { verbs: ['get'], nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/version', '/openapi/*', '/healthz', '/readyz', '/livez'] };
const reviews: PolicyRule = { apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], verbs: ['create'] };
const consoleComposition: PolicyRule = { apiGroups: ['extensions.mortise.io'], resources: ['jsbundles', 'extensionentries'], verbs: read };
/** The role editor's catalogue: which RoleTemplates exist (a template grants nothing until a role someone may write aggregates it). */
const roleTemplateCatalogue: PolicyRule = { apiGroups: ['iam.mortise.io'], resources: ['roletemplates'], verbs: read };
/** The Extension Center: what repositories offer, with each version's README and details (configuration schema, icon, screenshots). */
const extensionCenter: PolicyRule = { apiGroups: ['extensions.mortise.io'], resources: ['extensions', 'extensionversions', 'categories', 'extensions/readme', 'extensionversions/readme', 'extensionversions/details', 'extensionversions/media'], verbs: read };

export interface BuiltinRole {
  name: string;
  displayName: string;
  rules: PolicyRule[];
  /** RoleTemplates whose rules the role adds to its own (as `RbacIndex` evaluates them). */
  aggregationRoleTemplates?: { roleSelector: { matchLabels: Record<string, string> } };
}

export const globalRoles: BuiltinRole[] = [
  { name: 'platform-admin', displayName: 'Platform administrator: everything', rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, { nonResourceURLs: ['*'], verbs: ['*'] }] },
  {
    name: 'platform-regular', displayName: 'Platform regular user: browse extensions, work in assigned workspaces',
    rules: [discovery, reviews, consoleComposition, extensionCenter],
  },
  {
    name: 'platform-self-provisioner', displayName: 'Platform self-provisioner: may also create workspaces (and manages those it creates)',
    rules: [discovery, reviews, consoleComposition, extensionCenter, { apiGroups: ['tenant.mortise.io'], resources: ['workspaces'], verbs: ['create'] }],
  },
  { name: 'authenticated', displayName: 'Every logged-in user: discovery, "may I?" reviews, the console\'s extension list, the RoleTemplates', rules: [discovery, reviews, consoleComposition, roleTemplateCatalogue],
    aggregationRoleTemplates: { roleSelector: { matchLabels: { [aggregateToAuthenticatedLabel]: 'true' } } } },
];

/** Global bindings seeded at first start. */
export const globalBindings = [
  { name: 'admin-platform-admin', role: 'platform-admin', subject: { kind: 'User', name: 'admin' } },
  { name: 'group-platform-admin', role: 'platform-admin', subject: { kind: 'Group', name: 'platform-admin' } },
  { name: 'system-authenticated', role: 'authenticated', subject: { kind: 'Group', name: 'system:authenticated' } },
];

/** Per workspace: `<ws>-admin`, `<ws>-regular`, `<ws>-viewer`. */
export const workspaceRoleTemplates: Array<{ suffix: string; displayName: string; rules: PolicyRule[] }> = [
  { suffix: 'admin', displayName: 'Workspace administrator', rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] },
  {
    suffix: 'regular', displayName: 'Workspace regular member: sees the workspace, creates namespaces',
    rules: [{ apiGroups: ['*'], resources: ['*'], verbs: read }, { apiGroups: ['', 'tenant.mortise.io'], resources: ['namespaces'], verbs: ['create'] }],
  },
  { suffix: 'viewer', displayName: 'Workspace viewer: read only', rules: [{ apiGroups: ['*'], resources: ['*'], verbs: read }] },
];

/** Per namespace: Roles `admin`, `operator`, `viewer`. */
export const namespaceRoleTemplates: Array<{ name: string; displayName: string; rules: PolicyRule[] }> = [
  { name: 'admin', displayName: 'Namespace administrator', rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] },
  {
    name: 'operator', displayName: 'Namespace operator: reads and writes resources, cannot grant roles beyond its own',
    rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'] }],
  },
  { name: 'viewer', displayName: 'Namespace viewer: read only', rules: [{ apiGroups: ['*'], resources: ['*'], verbs: read }] },
];
