import type { KubeObject, ResourceRef, ResourceStore, Watcher } from '../store/resource-store.js';
import { iamGroup } from '../schemas/iam.js';
import { workspaceLabel } from '../schemas/tenant.js';
import type { PolicyRule } from './policy-rule.js';
import { ownValue } from '../api/own-properties.js';

type Subject = { kind: string; name: string };
type Binding = { roleRef?: { kind?: string; name?: string }; subjects?: Subject[] };
type Role = { rules?: PolicyRule[]; aggregationRoleTemplates?: { templateNames?: string[]; roleSelector?: { matchLabels?: Record<string, string> } } };

const watched = {
  globalroles: { group: iamGroup, resource: 'globalroles' },
  globalrolebindings: { group: iamGroup, resource: 'globalrolebindings' },
  workspaceroles: { group: iamGroup, resource: 'workspaceroles' },
  workspacerolebindings: { group: iamGroup, resource: 'workspacerolebindings' },
  roles: { group: iamGroup, resource: 'roles' },
  rolebindings: { group: iamGroup, resource: 'rolebindings' },
  roletemplates: { group: iamGroup, resource: 'roletemplates' },
  groupbindings: { group: iamGroup, resource: 'groupbindings' },
  namespaces: { group: '', resource: 'namespaces' },
} satisfies Record<string, ResourceRef>;
type WatchedKind = keyof typeof watched;

const subjectKey = (kind: string, name: string) => `${kind}:${name}`;

/** A role bound to a subject in a scope, with its effective rules. */
export interface RoleGrant {
  scope: { workspace?: string; namespace?: string };
  kind: 'GlobalRole' | 'WorkspaceRole' | 'Role';
  role: string;
  rules: PolicyRule[];
}

/**
 * Everything authorization reads — roles, bindings, templates, group memberships, which
 * workspace a namespace belongs to — kept in memory and current by watching the store. Each
 * change updates the indexes incrementally (a binding's old subjects out, its new ones in), so a
 * revoked permission stops working with the next request and a write costs O(1), not a rebuild.
 */
export class RbacIndex {
  private readonly objects = new Map<WatchedKind, Map<string, KubeObject>>();
  private readonly watchers: Watcher[] = [];
  /** scope key ('' global, 'w/<ws>', 'n/<ns>') → subject → binding key → role name. */
  private readonly bySubject = new Map<string, Map<string, Map<string, string>>>();
  private readonly groupsOfUser = new Map<string, Map<string, string>>(); // user → groupbinding → group
  private readonly namespaceWorkspace = new Map<string, string>();
  /** Effective rules per role key, computed on first use. */
  private readonly rulesCache = new Map<string, PolicyRule[]>();
  /** Bumped on every change; caches key on it. */
  generation = 0;
  private readonly changeListeners = new Set<() => void>();

  constructor(private readonly store: ResourceStore) {
    for (const k of Object.keys(watched) as WatchedKind[]) this.objects.set(k, new Map());
  }

  async start(): Promise<void> {
    for (const [kind, ref] of Object.entries(watched) as Array<[WatchedKind, ResourceRef]>) {
      const page = await this.store.list(ref);
      for (const o of page.items) this.apply(kind, o, false);
      this.watchers.push(this.store.watch(ref, { sinceResourceVersion: page.resourceVersion, cache: true }, (e) => this.apply(kind, e.object, e.type === 'DELETED')));
    }
    this.generation++;
  }

  stop(): void {
    for (const w of this.watchers.splice(0)) w.stop();
  }

  /** Called after every change, as it is applied (open watches are authorized again). Returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** One object changed: take its old contribution out, put its new one in. */
  private apply(kind: WatchedKind, obj: KubeObject, deleted: boolean) {
    const key = keyOf(obj);
    const map = this.objects.get(kind)!;
    const old = map.get(key);
    if (old) this.unindex(kind, key, old);
    if (deleted) map.delete(key);
    else {
      map.set(key, obj);
      this.index(kind, key, obj);
    }
    this.generation++;
    for (const l of this.changeListeners) l();
  }

  private index(kind: WatchedKind, key: string, o: KubeObject) {
    switch (kind) {
      case 'globalrolebindings': return this.addBinding('', key, o as unknown as Binding, 'GlobalRole');
      case 'workspacerolebindings': {
        const ws = o.metadata.labels?.[workspaceLabel];
        return ws ? this.addBinding(`w/${ws}`, key, o as unknown as Binding, 'WorkspaceRole') : undefined;
      }
      case 'rolebindings': return this.addBinding(`n/${o.metadata.namespace}`, key, o as unknown as Binding, 'Role');
      case 'groupbindings': {
        const group = (o as { groupRef?: { name?: string } }).groupRef?.name;
        if (!group) return;
        for (const u of (o as { users?: string[] }).users ?? []) {
          if (!this.groupsOfUser.has(u)) this.groupsOfUser.set(u, new Map());
          this.groupsOfUser.get(u)!.set(key, group);
        }
        return;
      }
      case 'namespaces': {
        const ws = o.metadata.labels?.[workspaceLabel];
        if (ws) this.namespaceWorkspace.set(o.metadata.name!, ws);
        return;
      }
      case 'roletemplates': return this.rulesCache.clear();
      default: return this.rulesCache.delete(roleKey(kind, o));
    }
  }

  private unindex(kind: WatchedKind, key: string, o: KubeObject) {
    switch (kind) {
      case 'globalrolebindings': return this.removeBinding('', key, o as unknown as Binding);
      case 'workspacerolebindings': {
        const ws = o.metadata.labels?.[workspaceLabel];
        return ws ? this.removeBinding(`w/${ws}`, key, o as unknown as Binding) : undefined;
      }
      case 'rolebindings': return this.removeBinding(`n/${o.metadata.namespace}`, key, o as unknown as Binding);
      case 'groupbindings':
        for (const u of (o as { users?: string[] }).users ?? []) this.groupsOfUser.get(u)?.delete(key);
        return;
      case 'namespaces':
        this.namespaceWorkspace.delete(o.metadata.name!);
        return;
      case 'roletemplates': return this.rulesCache.clear();
      default: return this.rulesCache.delete(roleKey(kind, o));
    }
  }

  private addBinding(scope: string, key: string, b: Binding, roleKind: string) {
    if (!b.roleRef?.name || (b.roleRef.kind && b.roleRef.kind !== roleKind)) return;
    if (!this.bySubject.has(scope)) this.bySubject.set(scope, new Map());
    const byS = this.bySubject.get(scope)!;
    for (const s of b.subjects ?? []) {
      const sk = subjectKey(s.kind, s.name);
      if (!byS.has(sk)) byS.set(sk, new Map());
      byS.get(sk)!.set(key, b.roleRef.name);
    }
  }

  private removeBinding(scope: string, key: string, b: Binding) {
    const byS = this.bySubject.get(scope);
    if (!byS) return;
    for (const s of b.subjects ?? []) {
      const sk = subjectKey(s.kind, s.name);
      byS.get(sk)?.delete(key);
      if (byS.get(sk)?.size === 0) byS.delete(sk);
    }
    if (byS.size === 0) this.bySubject.delete(scope);
  }

  /** The user's groups: those on the token/User plus GroupBindings. */
  groupsOf(username: string, tokenGroups: string[]): string[] {
    const bound = this.groupsOfUser.get(username);
    return bound?.size ? [...new Set([...tokenGroups, ...bound.values()])] : tokenGroups;
  }

  workspaceOfNamespace(ns: string): string | undefined {
    return this.namespaceWorkspace.get(ns);
  }

  /** Workspace label of an existing object of a workspace-scoped kind. */
  workspaceOfObject(kind: 'workspaceroles' | 'workspacerolebindings', name: string): string | undefined {
    return this.objects.get(kind)!.get(name)?.metadata.labels?.[workspaceLabel];
  }

  globalRules(username: string, groups: string[]): Array<{ role: string; rules: PolicyRule[] }> {
    return this.rolesIn('', username, groups).map((role) => ({ role, rules: this.rules('globalroles', role) }));
  }

  workspaceRules(ws: string, username: string, groups: string[]): Array<{ role: string; rules: PolicyRule[] }> {
    // A binding only counts when its role belongs to the same workspace.
    return this.rolesIn(`w/${ws}`, username, groups)
      .filter((role) => this.objects.get('workspaceroles')!.get(role)?.metadata.labels?.[workspaceLabel] === ws)
      .map((role) => ({ role, rules: this.rules('workspaceroles', role) }));
  }

  namespaceRules(ns: string, username: string, groups: string[]): Array<{ role: string; rules: PolicyRule[] }> {
    return this.rolesIn(`n/${ns}`, username, groups).map((role) => ({ role, rules: this.rules('roles', `${ns}/${role}`) }));
  }

  /** Workspaces in which the user (or one of its groups) holds any role. */
  workspacesOf(username: string, groups: string[]): Set<string> {
    return this.scopesOf('w/', username, groups);
  }

  /** Namespaces in which the user (or one of its groups) holds any role. */
  namespacesOf(username: string, groups: string[]): Set<string> {
    return this.scopesOf('n/', username, groups);
  }

  /**
   * Every role bound to these users and groups, in every scope, with its rules: what a user (or
   * a group's members) will hold, for the escalation check of writing a User or a GroupBinding.
   */
  grantsOf(users: string[], groups: string[]): RoleGrant[] {
    const subs = [...users.map((u) => subjectKey('User', u)), ...groups.map((g) => subjectKey('Group', g))];
    const out: RoleGrant[] = [];
    for (const [scope, byS] of this.bySubject) {
      const roles = new Set<string>();
      for (const s of subs) for (const role of byS.get(s)?.values() ?? []) roles.add(role);
      for (const role of roles) {
        if (scope === '') out.push({ scope: {}, kind: 'GlobalRole', role, rules: this.rules('globalroles', role) });
        else if (scope.startsWith('w/')) {
          const workspace = scope.slice(2);
          // As workspaceRules: a binding counts only with a role of the same workspace.
          if (this.objects.get('workspaceroles')!.get(role)?.metadata.labels?.[workspaceLabel] === workspace) {
            out.push({ scope: { workspace }, kind: 'WorkspaceRole', role, rules: this.rules('workspaceroles', role) });
          }
        } else {
          const namespace = scope.slice(2);
          out.push({ scope: { namespace }, kind: 'Role', role, rules: this.rules('roles', `${namespace}/${role}`) });
        }
      }
    }
    return out;
  }

  /** Effective rules of a role (its own plus aggregated RoleTemplates); undefined if there is no such role. */
  roleRules(kind: 'GlobalRole' | 'WorkspaceRole' | 'Role', name: string, namespace = ''): PolicyRule[] | undefined {
    const plural = kind === 'GlobalRole' ? 'globalroles' : kind === 'WorkspaceRole' ? 'workspaceroles' : 'roles';
    const key = kind === 'Role' ? `${namespace}/${name}` : name;
    return this.objects.get(plural)!.has(key) ? this.rules(plural, key) : undefined;
  }

  /** Rules a role object would have (for the escalation check of a role not yet stored). */
  effectiveRules(role: KubeObject): PolicyRule[] {
    const rules = effective(role as unknown as Role, [...this.objects.get('roletemplates')!.values()]);
    return role.kind === 'GlobalRole' ? rules : rules.filter((r) => !r.nonResourceURLs?.length);
  }

  private rolesIn(scope: string, username: string, groups: string[]): string[] {
    const byS = this.bySubject.get(scope);
    if (!byS) return [];
    const out = new Set<string>();
    for (const s of subjects(username, groups)) for (const role of byS.get(s)?.values() ?? []) out.add(role);
    return [...out];
  }

  private scopesOf(prefix: string, username: string, groups: string[]): Set<string> {
    const out = new Set<string>();
    const subs = subjects(username, groups);
    for (const [scope, byS] of this.bySubject) {
      if (scope.startsWith(prefix) && subs.some((s) => byS.has(s))) out.add(scope.slice(prefix.length));
    }
    return out;
  }

  private rules(plural: 'globalroles' | 'workspaceroles' | 'roles', key: string): PolicyRule[] {
    const cacheKey = `${plural}/${key}`;
    let rules = this.rulesCache.get(cacheKey);
    if (!rules) {
      const role = this.objects.get(plural)!.get(key);
      rules = role ? effective(role as unknown as Role, [...this.objects.get('roletemplates')!.values()]) : [];
      // Non-resource URLs are granted at the global scope only; a scoped role aggregating a
      // template that has some takes its resource rules (as a RoleBinding to a ClusterRole does).
      if (plural !== 'globalroles') rules = rules.filter((r) => !r.nonResourceURLs?.length);
      this.rulesCache.set(cacheKey, rules);
    }
    return rules;
  }
}

const roleKey = (kind: WatchedKind, o: KubeObject) => `${kind}/${keyOf(o)}`;

function subjects(username: string, groups: string[]): string[] {
  return [subjectKey('User', username), ...groups.map((g) => subjectKey('Group', g))];
}


function effective(role: Role, templates: KubeObject[]): PolicyRule[] {
  const out = [...(role.rules ?? [])];
  const agg = role.aggregationRoleTemplates;
  if (!agg) return out;
  for (const t of templates) {
    const byName = agg.templateNames?.includes(t.metadata.name!);
    const sel = agg.roleSelector?.matchLabels;
    const bySelector = sel && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => ownValue(t.metadata.labels, k) === v);
    if (byName || bySelector) out.push(...(((t.spec as { rules?: PolicyRule[] } | undefined)?.rules) ?? []));
  }
  return out;
}

const keyOf = (o: KubeObject) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name!);
