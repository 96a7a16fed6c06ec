import { resourceAttributes } from '../api/request-info.js';
import { describeRequest, type Authorizer } from '../auth/authorizer.js';
import { forbidden } from '../api/status.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { KindDefinition, RequestContext } from '../registry/kind.js';
import type { AdmissionPlugin } from '../registry/resource-service.js';
import type { KubeObject, OwnerReference, ResourceStore } from '../store/resource-store.js';
import { tenantGroup, workspaceLabel } from '../schemas/tenant.js';

/** Audit annotations naming a move's source and destination ('' is "no workspace"). */
export const moveFromAnnotation = 'tenant.mortise.io/moved-from';
export const moveToAnnotation = 'tenant.mortise.io/moved-to';

/**
 * Which tenant an object belongs to is authorized like the object itself: a write that puts an
 * object into a workspace — through the `tenant.mortise.io/workspace` label of any kind, or an
 * ownerReference to a Workspace or to an object of a workspace — needs `create` of that kind in
 * the destination workspace (adding an object to a workspace is creating it there); taking it
 * out of a workspace needs `delete` of that kind in the source workspace, and leaving every
 * workspace needs `create` at the cluster scope. The request's own authorization only covered
 * the source. Controllers of the core (no user) are trusted.
 */
export function tenantMoveAdmission(authorizer: Authorizer, store: ResourceStore, kinds: KindRegistry): AdmissionPlugin {
  return async ({ def, object, old, ctx }) => {
    const user = ctx.user;
    if (!user) return;
    const before = old?.metadata.labels?.[workspaceLabel];
    const after = object.metadata.labels?.[workspaceLabel];
    const name = object.metadata.name ?? '';
    const need = async (verb: 'create' | 'delete', workspace: string | undefined, why: string) => {
      // Workspace-level authority only: a Role inside the object's namespace does not speak for a workspace.
      const groups = def.group === '' && def.plural === 'namespaces' ? ['', tenantGroup] : [def.group];
      for (const apiGroup of groups) {
        const r = resourceAttributes({ verb, apiGroup, apiVersion: def.version, resource: def.plural, name: verb === 'create' ? '' : name, workspace });
        if ((await authorizer.authorize({ ...user, via: 'token' }, r)).allowed) return;
      }
      const r = resourceAttributes({ verb, apiGroup: def.group, apiVersion: def.version, resource: def.plural, workspace });
      throw forbidden(`${def.plural} "${name}" is forbidden: ${why}: User "${user.username}" cannot ${describeRequest(r)}`, { name, group: def.group, kind: def.plural });
    };

    if (after !== before) {
      annotate(ctx, before, after);
      if (before) await need('delete', before, `moving it out of workspace "${before}"`);
      if (after) await need('create', after, `moving it into workspace "${after}"`);
      else await need('create', undefined, `taking it out of workspace "${before}"`);
    }

    // An owner in a workspace makes the object that workspace's too (its deletion cascades here).
    const had = new Set((old?.metadata.ownerReferences ?? []).map(refKey));
    const known = new Set([before, after].filter((w): w is string => !!w));
    for (const ref of object.metadata.ownerReferences ?? []) {
      if (had.has(refKey(ref))) continue;
      const ws = await workspaceOfOwner(store, kinds, def, object, ref);
      if (!ws || known.has(ws)) continue;
      annotate(ctx, before, ws);
      await need('create', ws, `an ownerReference to ${ref.kind} "${ref.name}" puts it in workspace "${ws}"`);
      known.add(ws);
    }
  };
}

const refKey = (r: OwnerReference) => `${r.apiVersion}/${r.kind}/${r.name}/${r.uid}`;

function annotate(ctx: RequestContext, from: string | undefined, to: string | undefined): void {
  ctx.annotate?.(moveFromAnnotation, from ?? '');
  ctx.annotate?.(moveToAnnotation, to ?? '');
}

/** The workspace an owner stands for: a Workspace itself, or the workspace label of the owner. */
async function workspaceOfOwner(store: ResourceStore, kinds: KindRegistry, def: KindDefinition, object: KubeObject, ref: OwnerReference): Promise<string | undefined> {
  const group = ref.apiVersion.includes('/') ? ref.apiVersion.slice(0, ref.apiVersion.indexOf('/')) : '';
  if (group === tenantGroup && ref.kind === 'Workspace') return ref.name;
  const ownerDef = kinds.byKind(group, ref.kind);
  if (!ownerDef) return undefined;
  const namespace = ownerDef.namespaced ? (def.namespaced ? object.metadata.namespace ?? '' : '') : '';
  if (ownerDef.namespaced && !namespace) return undefined;
  const owner = await store.get({ group: ownerDef.group, resource: ownerDef.plural, namespace, name: ref.name });
  return owner?.metadata.labels?.[workspaceLabel];
}
