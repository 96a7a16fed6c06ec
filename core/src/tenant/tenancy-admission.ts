import { forbidden, invalid } from '../api/status.js';
import { orphanFinalizer, type AdmissionPlugin } from '../registry/resource-service.js';
import type { KubeObject, ResourceStore } from '../store/resource-store.js';
import { iamGroup } from '../schemas/iam.js';
import { tenantGroup, workspaceLabel } from '../schemas/tenant.js';

/**
 * A workspace role or binding is owned by the workspace it is labelled with (this one, by uid),
 * whoever writes it, so it goes when the workspace goes. They are found by the workspace's name:
 * one that outlived its workspace would be in force in the next workspace of that name.
 */
export function ownedByWorkspace(object: KubeObject, ws: KubeObject): void {
  const refs = object.metadata.ownerReferences ?? [];
  if (refs.some((r) => r.uid === ws.metadata.uid)) return;
  // A reference to an earlier workspace of the same name is stale: this one replaces it.
  const kept = refs.filter((r) => !(r.kind === 'Workspace' && r.name === ws.metadata.name));
  object.metadata.ownerReferences = [...kept, { apiVersion: `${tenantGroup}/v1alpha1`, kind: 'Workspace', name: ws.metadata.name!, uid: ws.metadata.uid!, blockOwnerDeletion: true }];
}

/** Whether this write takes `ws`'s reference off a dependent while `ws` is deleted with propagationPolicy=Orphan (the garbage collector orphaning it). */
function orphanedBy(object: KubeObject, old: KubeObject, ws: KubeObject): boolean {
  const refers = (o: KubeObject) => (o.metadata.ownerReferences ?? []).some((r) => r.uid === ws.metadata.uid);
  return Boolean(ws.metadata.deletionTimestamp) && (ws.metadata.finalizers ?? []).includes(orphanFinalizer) && refers(old) && !refers(object);
}

/**
 * Workspace membership rules: a workspace-scoped role or binding names an existing workspace (and
 * is owned by it),
 * a binding's role is of the same workspace, a namespace joins only an existing workspace, and
 * a workspace's quota bounds how many namespaces it has.
 */
export function tenancyAdmission(store: ResourceStore): AdmissionPlugin {
  const workspace = (name: string) => store.get({ group: tenantGroup, resource: 'workspaces', namespace: '', name });
  return async ({ def, object, old, ctx }) => {
    const name = object.metadata.name!;
    const ws = object.metadata.labels?.[workspaceLabel];
    if (def.group === iamGroup && (def.kind === 'WorkspaceRole' || def.kind === 'WorkspaceRoleBinding')) {
      if (!ws) throw invalid(def.group, def.kind, name, [{ field: 'metadata.labels', message: `Required value: label "${workspaceLabel}" naming the workspace` }]);
      const w = await workspace(ws);
      if (!w) throw invalid(def.group, def.kind, name, [{ field: `metadata.labels.${workspaceLabel}`, message: `Not found: workspace "${ws}" does not exist` }]);
      ownedByWorkspace(object, w);
      if (def.kind === 'WorkspaceRoleBinding') {
        const roleName = (object as { roleRef?: { name?: string } }).roleRef?.name ?? '';
        const role = await store.get({ group: iamGroup, resource: 'workspaceroles', namespace: '', name: roleName });
        if (role && role.metadata.labels?.[workspaceLabel] !== ws) {
          throw invalid(def.group, def.kind, name, [{ field: 'roleRef.name', message: `Invalid value: "${roleName}": the WorkspaceRole belongs to workspace "${role.metadata.labels?.[workspaceLabel]}", not "${ws}"` }]);
        }
      }
      return;
    }
    if (def.group === '' && def.plural === 'namespaces' && ws && ws === old?.metadata.labels?.[workspaceLabel]) {
      const w = await workspace(ws);
      if (!w) return;
      if (!ctx.user && orphanedBy(object, old, w)) {
        // Its workspace is deleted with propagationPolicy=Orphan: the namespace is kept, as asked,
        // but leaves the workspace (a namespace still labelled with it would join the next
        // workspace of that name, another tenant's perhaps). A platform admin may give it a new one.
        // Only the garbage collector's write (no user): a user leaving a workspace is authorized
        // as a move (tenant-move-admission), and this one's reference is put back below.
        delete object.metadata.labels![workspaceLabel];
        return;
      }
      // Still owned by its workspace, whatever the write says.
      ownedByWorkspace(object, w);
      return;
    }
    if (def.group === '' && def.plural === 'namespaces' && ws) {
      const w = await workspace(ws);
      if (!w) throw invalid('', 'Namespace', name, [{ field: `metadata.labels.${workspaceLabel}`, message: `Not found: workspace "${ws}" does not exist` }]);
      if (w.metadata.deletionTimestamp) throw forbidden(`unable to add namespace "${name}" to workspace "${ws}" because it is being deleted`);
      const hard = (w.spec as { quota?: { hard?: Record<string, string> } } | undefined)?.quota?.hard?.namespaces;
      if (hard !== undefined) {
        const { items } = await store.list({ group: '', resource: 'namespaces' });
        const used = items.filter((n) => n.metadata.labels?.[workspaceLabel] === ws && n.metadata.name !== name).length;
        if (used >= Number(hard)) {
          throw forbidden(`namespaces "${name}" is forbidden: exceeded quota of workspace "${ws}": requested namespaces=1, used namespaces=${used}, limited namespaces=${hard}`);
        }
      }
      ownedByWorkspace(object, w);
    }
  };
}
