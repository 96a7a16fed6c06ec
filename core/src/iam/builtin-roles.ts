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

export interface BuiltinRoleTemplate {
  /** Short name; the RoleTemplate is `core-<name>`. */
  name: string;
  scope: 'namespace' | 'workspace' | 'global';
  displayName: { en: string; zh: string };
  description: { en: string; zh: string };
  dependsOn?: string[];
  rules: PolicyRule[];
}

const write = ['create', 'update', 'patch', 'delete'];
const iamGroup = 'iam.mortise.io';

/**
 * The core's own RoleTemplates, for the role editor (beside those extensions bring): narrower
 * building blocks than the built-in roles, over the core's kinds.
 */
export const builtinRoleTemplates: BuiltinRoleTemplate[] = [
  { name: 'configmaps-view', scope: 'namespace', displayName: { en: 'View ConfigMaps', zh: '查看配置字典' }, description: { en: 'Read the ConfigMaps of the namespace', zh: '读取项目中的配置字典' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: read }] },
  { name: 'configmaps-manage', scope: 'namespace', dependsOn: ['configmaps-view'], displayName: { en: 'Manage ConfigMaps', zh: '管理配置字典' }, description: { en: 'Create, change and delete ConfigMaps', zh: '创建、修改和删除配置字典' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: write }] },
  { name: 'secrets-view', scope: 'namespace', displayName: { en: 'View Secrets', zh: '查看保密字典' }, description: { en: 'Read the Secrets of the namespace, values included', zh: '读取项目中的保密字典（含其值）' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: read }] },
  { name: 'secrets-manage', scope: 'namespace', dependsOn: ['secrets-view'], displayName: { en: 'Manage Secrets', zh: '管理保密字典' }, description: { en: 'Create, change and delete Secrets', zh: '创建、修改和删除保密字典' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: write }] },
  { name: 'members-view', scope: 'namespace', displayName: { en: 'View members and roles', zh: '查看成员与角色' }, description: { en: 'See the namespace\'s Roles and RoleBindings', zh: '查看项目的角色与角色绑定' }, rules: [{ apiGroups: [iamGroup], resources: ['roles', 'rolebindings'], verbs: read }] },
  { name: 'members-manage', scope: 'namespace', dependsOn: ['members-view'], displayName: { en: 'Manage members and roles', zh: '管理成员与角色' }, description: { en: 'Create and change Roles and bind them (never beyond one\'s own rules)', zh: '创建、修改并绑定角色（不超过自身权限）' }, rules: [{ apiGroups: [iamGroup], resources: ['roles', 'rolebindings'], verbs: write }] },
  { name: 'namespaces-manage', scope: 'workspace', displayName: { en: 'Manage namespaces', zh: '管理项目' }, description: { en: 'Create and delete the workspace\'s namespaces', zh: '创建和删除企业空间中的项目' }, rules: [{ apiGroups: ['', 'tenant.mortise.io'], resources: ['namespaces'], verbs: ['get', 'list', 'watch', 'create', 'delete'] }] },
  { name: 'workspace-members-view', scope: 'workspace', displayName: { en: 'View workspace members', zh: '查看企业空间成员' }, description: { en: 'See the workspace\'s roles and who holds them', zh: '查看企业空间的角色及其成员' }, rules: [{ apiGroups: [iamGroup], resources: ['workspaceroles', 'workspacerolebindings'], verbs: read }] },
  { name: 'workspace-members-manage', scope: 'workspace', dependsOn: ['workspace-members-view'], displayName: { en: 'Manage workspace members', zh: '管理企业空间成员' }, description: { en: 'Create workspace roles and bind them (never beyond one\'s own rules)', zh: '创建企业空间角色并绑定（不超过自身权限）' }, rules: [{ apiGroups: [iamGroup], resources: ['workspaceroles', 'workspacerolebindings'], verbs: write }] },
  { name: 'users-view', scope: 'global', displayName: { en: 'View users', zh: '查看用户' }, description: { en: 'See the platform\'s users', zh: '查看平台用户' }, rules: [{ apiGroups: [iamGroup], resources: ['users'], verbs: read }] },
  { name: 'users-manage', scope: 'global', dependsOn: ['users-view'], displayName: { en: 'Manage users', zh: '管理用户' }, description: { en: 'Create, change, disable and delete users', zh: '创建、修改、禁用和删除用户' }, rules: [{ apiGroups: [iamGroup], resources: ['users'], verbs: write }] },
  { name: 'extensions-manage', scope: 'global', displayName: { en: 'Manage extensions', zh: '管理扩展' }, description: { en: 'Install, configure, upgrade and remove extensions; manage repositories', zh: '安装、配置、升级和卸载扩展；管理仓库' }, rules: [{ apiGroups: ['extensions.mortise.io'], resources: ['installplans', 'repositories'], verbs: [...read, ...write] }] },
];
