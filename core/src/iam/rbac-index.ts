import type { KubeObject, ResourceRef, ResourceStore, Watcher } from '../store/resource-store.js';
import { iamGroup } from '../schemas/iam.js';
import { workspaceLabel } from '../schemas/tenant.js';
import type { PolicyRule } from './policy-rule.js';

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

interface Derived {
  globalBySubject: Map<string, Set<string>>;
  workspaceBySubject: Map<string, Map<string, Set<string>>>; // ws → subject → role names
  namespaceBySubject: Map<string, Map<string, Set<string>>>; // ns → subject → role names
  groupsOfUser: Map<string, string[]>;
  namespaceWorkspace: Map<string, string>;
  rules: Map<string, PolicyRule[]>; // role key → effective rules
}

const subjectKey = (kind: string, name: string) => `${kind}:${name}`;

/**
 * Everything authorization reads — roles, bindings, templates, group memberships, which
 * workspace a namespace belongs to — kept in memory and current by watching the store.
 * Derived indexes are rebuilt lazily after a change, so a revoked permission stops working
 * with the next request.
 */
export class RbacIndex {
  private readonly objects = new Map<WatchedKind, Map<string, KubeObject>>();
  private readonly watchers: Watcher[] = [];
  private derived?: Derived;
  /** Bumped on every change; caches key on it. */
  generation = 0;

  constructor(private readonly store: ResourceStore) {
    for (const k of Object.keys(watched) as WatchedKind[]) this.objects.set(k, new Map());
  }

  async start(): Promise<void> {
    for (const [kind, ref] of Object.entries(watched) as Array<[WatchedKind, ResourceRef]>) {
      const page = await this.store.list(ref);
      const map = this.objects.get(kind)!;
      for (const o of page.items) map.set(keyOf(o), o);
      this.watchers.push(this.store.watch(ref, { sinceResourceVersion: page.resourceVersion }, (e) => {
        if (e.type === 'DELETED') map.delete(keyOf(e.object));
        else map.set(keyOf(e.object), e.object);
        this.changed();
      }));
    }
    this.changed();
  }

  stop(): void {
    for (const w of this.watchers.splice(0)) w.stop();
  }

  private changed() {
    this.generation++;
    this.derived = undefined;
  }

  /** The user's groups: those on the token/User plus GroupBindings. */
  groupsOf(username: string, tokenGroups: string[]): string[] {
    return [...new Set([...tokenGroups, ...(this.view().groupsOfUser.get(username) ?? [])])];
  }

  workspaceOfNamespace(ns: string): string | undefined {
    return this.view().namespaceWorkspace.get(ns);
  }

  /** Workspace label of an existing object of a workspace-scoped kind. */
  workspaceOfObject(kind: 'workspaceroles' | 'workspacerolebindings', name: string): string | undefined {
    return this.objects.get(kind)!.get(name)?.metadata.labels?.[workspaceLabel];
  }

  globalRules(username: string, groups: string[]): Array<{ role: string; rules: PolicyRule[] }> {
    const v = this.view();
    return this.collect(subjects(username, groups).flatMap((s) => [...(v.globalBySubject.get(s) ?? [])]), (r) => `g/${r}`);
  }

  workspaceRules(ws: string, username: string, groups: string[]): Array<{ role: string; rules: PolicyRule[] }> {
    const byS = this.view().workspaceBySubject.get(ws);
    if (!byS) return [];
    return this.collect(subjects(username, groups).flatMap((s) => [...(byS.get(s) ?? [])]), (r) => `w/${r}`);
  }

  namespaceRules(ns: string, username: string, groups: string[]): Array<{ role: string; rules: PolicyRule[] }> {
    const byS = this.view().namespaceBySubject.get(ns);
    if (!byS) return [];
    return this.collect(subjects(username, groups).flatMap((s) => [...(byS.get(s) ?? [])]), (r) => `n/${ns}/${r}`);
  }

  /** Workspaces in which the user (or one of its groups) holds any role. */
  workspacesOf(username: string, groups: string[]): Set<string> {
    const out = new Set<string>();
    const subs = subjects(username, groups);
    for (const [ws, byS] of this.view().workspaceBySubject) if (subs.some((s) => byS.has(s))) out.add(ws);
    return out;
  }

  /** Namespaces in which the user (or one of its groups) holds any role. */
  namespacesOf(username: string, groups: string[]): Set<string> {
    const out = new Set<string>();
    const subs = subjects(username, groups);
    for (const [ns, byS] of this.view().namespaceBySubject) if (subs.some((s) => byS.has(s))) out.add(ns);
    return out;
  }

  /** Effective rules of a role (its own plus aggregated RoleTemplates). */
  roleRules(kind: 'GlobalRole' | 'WorkspaceRole' | 'Role', name: string, namespace = ''): PolicyRule[] | undefined {
    const key = kind === 'GlobalRole' ? `g/${name}` : kind === 'WorkspaceRole' ? `w/${name}` : `n/${namespace}/${name}`;
    return this.view().rules.get(key);
  }

  /** Rules a role object would have (for the escalation check of a role not yet stored). */
  effectiveRules(role: KubeObject): PolicyRule[] {
    return effective(role as unknown as Role, [...this.objects.get('roletemplates')!.values()]);
  }

  private collect(roleKeys: string[], toKey: (r: string) => string) {
    const rules = this.view().rules;
    return [...new Set(roleKeys)].map((r) => ({ role: r, rules: rules.get(toKey(r)) ?? [] }));
  }

  private view(): Derived {
    if (this.derived) return this.derived;
    const templates = [...this.objects.get('roletemplates')!.values()];
    const rules = new Map<string, PolicyRule[]>();
    for (const r of this.objects.get('globalroles')!.values()) rules.set(`g/${r.metadata.name}`, effective(r as unknown as Role, templates));
    for (const r of this.objects.get('workspaceroles')!.values()) rules.set(`w/${r.metadata.name}`, effective(r as unknown as Role, templates));
    for (const r of this.objects.get('roles')!.values()) rules.set(`n/${r.metadata.namespace}/${r.metadata.name}`, effective(r as unknown as Role, templates));

    const globalBySubject = new Map<string, Set<string>>();
    for (const b of this.objects.get('globalrolebindings')!.values()) addBinding(globalBySubject, b as unknown as Binding, 'GlobalRole');

    const workspaceBySubject = new Map<string, Map<string, Set<string>>>();
    for (const b of this.objects.get('workspacerolebindings')!.values()) {
      const ws = b.metadata.labels?.[workspaceLabel];
      if (!ws) continue;
      const role = (b as unknown as Binding).roleRef?.name;
      // A binding only counts when its role belongs to the same workspace.
      if (!role || this.objects.get('workspaceroles')!.get(role)?.metadata.labels?.[workspaceLabel] !== ws) continue;
      if (!workspaceBySubject.has(ws)) workspaceBySubject.set(ws, new Map());
      addBinding(workspaceBySubject.get(ws)!, b as unknown as Binding, 'WorkspaceRole');
    }

    const namespaceBySubject = new Map<string, Map<string, Set<string>>>();
    for (const b of this.objects.get('rolebindings')!.values()) {
      const ns = b.metadata.namespace!;
      if (!namespaceBySubject.has(ns)) namespaceBySubject.set(ns, new Map());
      addBinding(namespaceBySubject.get(ns)!, b as unknown as Binding, 'Role');
    }

    const groupsOfUser = new Map<string, string[]>();
    for (const gb of this.objects.get('groupbindings')!.values()) {
      const group = (gb as { groupRef?: { name?: string } }).groupRef?.name;
      if (!group) continue;
      for (const u of (gb as { users?: string[] }).users ?? []) groupsOfUser.set(u, [...(groupsOfUser.get(u) ?? []), group]);
    }

    const namespaceWorkspace = new Map<string, string>();
    for (const ns of this.objects.get('namespaces')!.values()) {
      const ws = ns.metadata.labels?.[workspaceLabel];
      if (ws) namespaceWorkspace.set(ns.metadata.name!, ws);
    }
    this.derived = { globalBySubject, workspaceBySubject, namespaceBySubject, groupsOfUser, namespaceWorkspace, rules };
    return this.derived;
  }
}

function subjects(username: string, groups: string[]): string[] {
  return [subjectKey('User', username), ...groups.map((g) => subjectKey('Group', g))];
}

function addBinding(index: Map<string, Set<string>>, b: Binding, roleKind: string) {
  if (!b.roleRef?.name || (b.roleRef.kind && b.roleRef.kind !== roleKind)) return;
  for (const s of b.subjects ?? []) {
    const key = subjectKey(s.kind, s.name);
    if (!index.has(key)) index.set(key, new Set());
    index.get(key)!.add(b.roleRef.name);
  }
}

function effective(role: Role, templates: KubeObject[]): PolicyRule[] {
  const out = [...(role.rules ?? [])];
  const agg = role.aggregationRoleTemplates;
  if (!agg) return out;
  for (const t of templates) {
    const byName = agg.templateNames?.includes(t.metadata.name!);
    const sel = agg.roleSelector?.matchLabels;
    const bySelector = sel && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => t.metadata.labels?.[k] === v);
    if (byName || bySelector) out.push(...(((t.spec as { rules?: PolicyRule[] } | undefined)?.rules) ?? []));
  }
  return out;
}

const keyOf = (o: KubeObject) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name!);
