import type { Logger } from 'pino';
import { Controller } from '../controller/controller.js';
import { ignoreNotFound } from '../controller/garbage-collector.js';
import { ApiError } from '../api/status.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { KindDefinition } from '../registry/kind.js';
import type { ResourceService } from '../registry/resource-service.js';
import type { KubeObject, OwnerReference } from '../store/resource-store.js';
import { workspaceRoleTemplates } from '../iam/builtin-roles.js';
import { builtinAnnotation } from '../iam/seed-builtin-roles.js';
import { iamGroup } from '../schemas/iam.js';
import { tenantGroup, workspaceLabel } from '../schemas/tenant.js';
import { managerBindingName } from './workspace-strategy.js';

/**
 * Keeps each workspace whole: its built-in roles (`<ws>-admin/-regular/-viewer`), its manager's
 * admin binding, ownerReferences from its namespaces (so deleting the workspace cascades through
 * the garbage collector) and its status (namespace count).
 */
export class WorkspaceController extends Controller {
  private readonly wsDef: KindDefinition;
  private readonly roleDef: KindDefinition;
  private readonly bindingDef: KindDefinition;
  private readonly nsDef: KindDefinition;

  constructor(private readonly service: ResourceService, kinds: KindRegistry, logger: Logger) {
    super({ name: 'workspace', logger, resyncMs: 60_000 });
    this.wsDef = kinds.byGroupResource(tenantGroup, 'workspaces')!;
    this.roleDef = kinds.byGroupResource(iamGroup, 'workspaceroles')!;
    this.bindingDef = kinds.byGroupResource(iamGroup, 'workspacerolebindings')!;
    this.nsDef = kinds.byGroupResource('', 'namespaces')!;
  }

  protected watch(enqueue: (key: string) => void): () => void {
    const w1 = this.service.store.watch(this.service.ref(this.wsDef), {}, (e) => enqueue(e.name));
    const w2 = this.service.store.watch(this.service.ref(this.nsDef), {}, (e) => {
      const now = e.object.metadata.labels?.[workspaceLabel];
      const before = e.previous?.metadata.labels?.[workspaceLabel];
      if (now) enqueue(now);
      if (before && before !== now) enqueue(before);
    });
    // A deleted built-in role or manager binding comes back while the workspace says so.
    const w3 = this.service.store.watch(this.service.ref(this.bindingDef), {}, (e) => {
      const ws = e.object.metadata.labels?.[workspaceLabel];
      if (e.type === 'DELETED' && ws) enqueue(ws);
    });
    const w4 = this.service.store.watch(this.service.ref(this.roleDef), {}, (e) => {
      const ws = e.object.metadata.labels?.[workspaceLabel];
      if (e.type === 'DELETED' && ws) enqueue(ws);
    });
    return () => {
      for (const w of [w1, w2, w3, w4]) w.stop();
    };
  }

  protected async listKeys(): Promise<string[]> {
    return (await this.service.store.list(this.service.ref(this.wsDef))).items.map((w) => w.metadata.name!);
  }

  protected async reconcile(name: string): Promise<void> {
    const ws = await this.service.getStored(this.wsDef, '', name);
    const { items: namespaces } = await this.service.store.list(this.service.ref(this.nsDef));
    if (!ws || ws.metadata.deletionTimestamp) {
      // Gone or going: namespaces still pointing at it are released by the garbage collector.
      return;
    }
    const owner: OwnerReference = { apiVersion: `${tenantGroup}/v1alpha1`, kind: 'Workspace', name, uid: ws.metadata.uid!, blockOwnerDeletion: true };
    for (const t of workspaceRoleTemplates) {
      await this.ensure(this.roleDef, `${name}-${t.suffix}`, {
        apiVersion: `${iamGroup}/v1alpha1`, kind: 'WorkspaceRole',
        metadata: { name: `${name}-${t.suffix}`, labels: { [workspaceLabel]: name }, annotations: { [builtinAnnotation]: 'true', 'iam.mortise.io/display-name': t.displayName }, ownerReferences: [owner] },
        rules: t.rules,
      });
    }
    const manager = (ws.spec as { manager?: string } | undefined)?.manager;
    if (manager) {
      const bindingName = managerBindingName(name, manager);
      await this.ensure(this.bindingDef, bindingName, {
        apiVersion: `${iamGroup}/v1alpha1`, kind: 'WorkspaceRoleBinding',
        metadata: { name: bindingName, labels: { [workspaceLabel]: name }, ownerReferences: [owner] },
        roleRef: { apiGroup: iamGroup, kind: 'WorkspaceRole', name: `${name}-admin` },
        subjects: [{ kind: 'User', apiGroup: iamGroup, name: manager }],
      });
    }
    let count = 0;
    for (const ns of namespaces) {
      const member = ns.metadata.labels?.[workspaceLabel] === name;
      const refs = ns.metadata.ownerReferences ?? [];
      const pointsHere = refs.some((r) => r.uid === ws.metadata.uid);
      if (member) count++;
      if (member && !pointsHere && !ns.metadata.deletionTimestamp) {
        await this.service.patch(this.nsDef, '', ns.metadata.name!, 'merge', { metadata: { ownerReferences: [...refs.filter((r) => r.kind !== 'Workspace'), owner] } }, {}).catch(ignoreNotFound);
      } else if (!member && pointsHere) {
        const rest = refs.filter((r) => r.uid !== ws.metadata.uid);
        await this.service.patch(this.nsDef, '', ns.metadata.name!, 'merge', { metadata: { ownerReferences: rest.length ? rest : null } }, {}).catch(ignoreNotFound);
      }
    }
    const status = (ws.status ?? {}) as { namespaces?: number; used?: Record<string, string>; phase?: string };
    if (status.namespaces !== count || status.phase !== 'Active') {
      await this.service.patch(this.wsDef, '', name, 'merge', { status: { phase: 'Active', namespaces: count, used: { namespaces: String(count) } } }, {}, { subresource: 'status' }).catch(ignoreNotFound);
    }
  }

  private async ensure(def: KindDefinition, name: string, body: KubeObject): Promise<void> {
    if (await this.service.getStored(def, '', name)) return;
    try {
      await this.service.create(def, '', body, {});
    } catch (e) {
      if (!(e instanceof ApiError && e.reason === 'AlreadyExists')) throw e;
    }
  }
}
