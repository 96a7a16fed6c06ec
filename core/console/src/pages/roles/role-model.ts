import type { PolicyRule } from '@mortise/extension-sdk';
import type { KubeObject, ResourcePath } from '@mortise/extension-sdk/console';

// What the role editor edits, independent of React: which kind a scope's roles are and where
// they live in the API, which RoleTemplates a role of that scope may aggregate, how they group
// by the extension that brought them, their dependencies, and the rules a role resolves to.

export type Localized = string | Record<string, string>;

export type { PolicyRule };

export interface RoleTemplate extends KubeObject {
  spec: { displayName?: Localized; description?: Localized; dependsOn?: string[]; rules: PolicyRule[] };
}

export interface Role extends KubeObject {
  rules?: PolicyRule[];
  aggregationRoleTemplates?: { templateNames?: string[]; roleSelector?: { matchLabels?: Record<string, string> } };
}

export type RoleScope = { level: 'platform' } | { level: 'workspace'; workspace: string } | { level: 'namespace'; workspace: string; namespace: string };

const iam = { group: 'iam.mortise.io', version: 'v1alpha1' };
const tenant = '/kapis/tenant.mortise.io/v1alpha1';
export const workspaceLabel = 'tenant.mortise.io/workspace';
export const extensionLabel = 'extensions.mortise.io/extension';
export const scopeLabel = 'iam.mortise.io/scope';
export const builtinAnnotation = 'iam.mortise.io/builtin';
export const displayNameAnnotation = 'iam.mortise.io/display-name';

/** The role kind of a scope, where its roles and bindings are read and written. */
export function roleApi(scope: RoleScope): { kind: 'GlobalRole' | 'WorkspaceRole' | 'Role'; roles: ResourcePath; bindings: ResourcePath; listRoles: string; listBindings: string; createBinding: string } {
  if (scope.level === 'platform') {
    const roles = { ...iam, resource: 'globalroles' };
    const bindings = { ...iam, resource: 'globalrolebindings' };
    return { kind: 'GlobalRole', roles, bindings, listRoles: path(roles), listBindings: path(bindings), createBinding: path(bindings) };
  }
  if (scope.level === 'workspace') {
    // Workspace roles are cluster objects labelled with their workspace; the tenant API lists a workspace's.
    const ws = `${tenant}/workspaces/${encodeURIComponent(scope.workspace)}`;
    return {
      kind: 'WorkspaceRole', roles: { ...iam, resource: 'workspaceroles' }, bindings: { ...iam, resource: 'workspacerolebindings' },
      listRoles: `${ws}/workspaceroles`, listBindings: `${ws}/workspacerolebindings`, createBinding: `${ws}/workspacerolebindings`,
    };
  }
  const roles = { ...iam, resource: 'roles', namespace: scope.namespace };
  const bindings = { ...iam, resource: 'rolebindings', namespace: scope.namespace };
  return { kind: 'Role', roles, bindings, listRoles: path(roles), listBindings: path(bindings), createBinding: path(bindings) };
}

function path(r: ResourcePath): string {
  return `/apis/${r.group}/${r.version}${r.namespace ? `/namespaces/${encodeURIComponent(r.namespace)}` : ''}/${r.resource}`;
}

/** Template scopes a role may take: a template is meant for roles of its level or wider. */
const offered: Record<RoleScope['level'], string[]> = {
  platform: ['global', 'workspace', 'namespace'],
  workspace: ['workspace', 'namespace'],
  namespace: ['namespace'],
};

/** Templates an admin picks for a role of this scope: those labelled with a scope it takes (unlabelled ones are the core's machinery, aggregated by label). */
export function templatesFor(scope: RoleScope, templates: RoleTemplate[]): RoleTemplate[] {
  return templates.filter((t) => offered[scope.level].includes(t.metadata.labels?.[scopeLabel] ?? ''));
}

/** Grouped by the extension that brought them ('' = the core's own), groups and templates sorted by name. */
export function groupByModule(templates: RoleTemplate[]): Array<{ module: string; templates: RoleTemplate[] }> {
  const groups = new Map<string, RoleTemplate[]>();
  for (const t of templates) {
    const m = t.metadata.labels?.[extensionLabel] ?? '';
    groups.set(m, [...(groups.get(m) ?? []), t]);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)))
    .map(([module, ts]) => ({ module, templates: ts.sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!)) }));
}

/** `name` and everything it depends on, transitively. */
export function withDependencies(name: string, byName: Map<string, RoleTemplate>, into = new Set<string>()): Set<string> {
  if (into.has(name)) return into;
  into.add(name);
  for (const d of byName.get(name)?.spec.dependsOn ?? []) withDependencies(d, byName, into);
  return into;
}

/** Selected templates that need `name` (so it cannot be unselected while they are). */
export function neededBy(name: string, selected: Set<string>, byName: Map<string, RoleTemplate>): string[] {
  return [...selected].filter((s) => s !== name && withDependencies(s, byName).has(name));
}

/** The rules the role resolves to: its own plus its templates' (scoped roles hold no URL rules), duplicates merged. */
export function resolvedRules(scope: RoleScope, own: PolicyRule[], selected: Iterable<string>, byName: Map<string, RoleTemplate>): PolicyRule[] {
  const all = [...own];
  for (const n of selected) all.push(...(byName.get(n)?.spec.rules ?? []));
  const seen = new Set<string>();
  return all.filter((r) => {
    if (scope.level !== 'platform' && r.nonResourceURLs?.length) return false;
    const key = JSON.stringify([r.apiGroups, r.resources, r.verbs, r.resourceNames, r.nonResourceURLs]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The role object to write: the editor's choice of templates, the rest of the role kept. */
export function roleObject(scope: RoleScope, base: Role | undefined, name: string, displayName: string, templateNames: string[]): Role {
  const api = roleApi(scope);
  const labels = { ...(base?.metadata.labels ?? {}), ...(scope.level === 'workspace' ? { [workspaceLabel]: scope.workspace } : {}) };
  const annotations = { ...(base?.metadata.annotations ?? {}) };
  if (displayName) annotations[displayNameAnnotation] = displayName;
  else delete annotations[displayNameAnnotation];
  return {
    ...(base ?? {}),
    apiVersion: 'iam.mortise.io/v1alpha1', kind: api.kind,
    metadata: {
      ...(base?.metadata ?? {}), name, ...(scope.level === 'namespace' ? { namespace: scope.namespace } : {}),
      ...(Object.keys(labels).length ? { labels } : {}), ...(Object.keys(annotations).length ? { annotations } : {}),
    },
    rules: base?.rules ?? [],
    aggregationRoleTemplates: { ...(base?.aggregationRoleTemplates ?? {}), templateNames },
  };
}

/** A binding of the role to one user. */
export function bindingObject(scope: RoleScope, role: string, user: string): KubeObject & Record<string, unknown> {
  const api = roleApi(scope);
  return {
    apiVersion: 'iam.mortise.io/v1alpha1', kind: `${api.kind}Binding`,
    metadata: {
      name: `${role}-${user}`.toLowerCase().replace(/[^a-z0-9.-]/g, '-').slice(0, 253),
      ...(scope.level === 'namespace' ? { namespace: scope.namespace } : {}),
      ...(scope.level === 'workspace' ? { labels: { [workspaceLabel]: scope.workspace } } : {}),
    },
    roleRef: { apiGroup: 'iam.mortise.io', kind: api.kind, name: role },
    subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: user }],
  };
}

/** One line per rule, as `kubectl describe` shows them. */
export function describeRule(r: PolicyRule): string {
  if (r.nonResourceURLs?.length) return `${r.verbs.join(',')} ${r.nonResourceURLs.join(',')}`;
  const groups = (r.apiGroups ?? []).map((g) => (g === '' ? 'core' : g)).join(',');
  const names = r.resourceNames?.length ? ` [${r.resourceNames.join(',')}]` : '';
  return `${r.verbs.join(',')} ${(r.resources ?? []).join(',')}${names} (${groups})`;
}
