import type { Logger } from 'pino';
import { Controller } from '../controller/controller.js';
import { ApiError } from '../api/status.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { KindDefinition } from '../registry/kind.js';
import type { ResourceService } from '../registry/resource-service.js';
import type { KubeObject } from '../store/resource-store.js';
import { namespaceRoleTemplates } from '../iam/builtin-roles.js';
import { builtinAnnotation } from '../iam/seed-builtin-roles.js';
import { iamGroup } from '../schemas/iam.js';

export const creatorAnnotation = 'tenant.mortise.io/creator';

/** Gives every namespace its built-in Roles (admin, operator, viewer) and its creator admin. */
export class NamespaceRolesController extends Controller {
  private readonly nsDef: KindDefinition;
  private readonly roleDef: KindDefinition;
  private readonly bindingDef: KindDefinition;

  constructor(private readonly service: ResourceService, kinds: KindRegistry, logger: Logger) {
    super({ name: 'namespace-roles', logger, resyncMs: 300_000 });
    this.nsDef = kinds.byGroupResource('', 'namespaces')!;
    this.roleDef = kinds.byGroupResource(iamGroup, 'roles')!;
    this.bindingDef = kinds.byGroupResource(iamGroup, 'rolebindings')!;
  }

  protected watch(enqueue: (key: string) => void): () => void {
    const w = this.service.store.watch(this.service.ref(this.nsDef), {}, (e) => {
      if (e.type === 'ADDED') enqueue(e.name);
    });
    return () => w.stop();
  }

  protected async listKeys(): Promise<string[]> {
    return (await this.service.store.list(this.service.ref(this.nsDef))).items.map((n) => n.metadata.name!);
  }

  protected async reconcile(name: string): Promise<void> {
    const ns = await this.service.getStored(this.nsDef, '', name);
    if (!ns || ns.metadata.deletionTimestamp) return;
    for (const t of namespaceRoleTemplates) {
      await this.ensure(this.roleDef, name, t.name, {
        apiVersion: `${iamGroup}/v1alpha1`, kind: 'Role',
        metadata: { name: t.name, namespace: name, annotations: { [builtinAnnotation]: 'true', 'iam.mortise.io/display-name': t.displayName } },
        rules: t.rules,
      });
    }
    const creator = ns.metadata.annotations?.[creatorAnnotation];
    if (creator) {
      await this.ensure(this.bindingDef, name, `${creator}-admin`, {
        apiVersion: `${iamGroup}/v1alpha1`, kind: 'RoleBinding',
        metadata: { name: `${creator}-admin`, namespace: name },
        roleRef: { apiGroup: iamGroup, kind: 'Role', name: 'admin' },
        subjects: [{ kind: 'User', apiGroup: iamGroup, name: creator }],
      });
    }
  }

  private async ensure(def: KindDefinition, ns: string, name: string, body: KubeObject): Promise<void> {
    if (await this.service.getStored(def, ns, name)) return;
    try {
      await this.service.create(def, ns, body, {});
    } catch (e) {
      // A namespace being deleted refuses new content: nothing to do then.
      if (!(e instanceof ApiError && (e.reason === 'AlreadyExists' || e.code === 403 || e.code === 404))) throw e;
    }
  }
}
