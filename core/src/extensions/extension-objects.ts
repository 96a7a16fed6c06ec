import { ignoreNotFound } from '../controller/garbage-collector.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import { extensionLabel, extensionsGroup } from '../schemas/extensions.js';
import { iamGroup } from '../schemas/iam.js';
import { routeObjects, routePlurals, type DesiredObject, type ResourceContext } from './extension-resources.js';
import { InstallError } from './install-error.js';

/**
 * Writes what an installed extension is made of (extension-resources.ts) as the core itself:
 * creates or updates the desired objects, and removes the ones of the extension no longer desired.
 */
export class ExtensionObjects {
  constructor(private readonly d: { service: ResourceService; kinds: KindRegistry }) {}

  /** RoleTemplates of the extension that the installed version no longer brings (after an upgrade) go away. */
  async pruneRoleTemplates(name: string, desired: DesiredObject[]) {
    const keep = new Set(desired.filter((o) => o.plural === 'roletemplates').map((o) => o.object.metadata.name));
    const def = this.d.kinds.byGroupResource(iamGroup, 'roletemplates')!;
    const { items } = await this.d.service.list(def, '', { labelSelector: `${extensionLabel}=${name}` });
    for (const o of items) if (!keep.has(o.metadata.name)) await this.d.service.delete(def, '', o.metadata.name!).catch(ignoreNotFound);
  }

  async switchRoutes(ctx: ResourceContext) {
    const desired = routeObjects(ctx);
    await this.apply(desired);
    // Routes the manifest no longer declares (after an upgrade) go away.
    const keep = new Set(desired.map((o) => `${o.plural}/${o.object.metadata.name}`));
    for (const plural of routePlurals) {
      const def = this.d.kinds.byGroupResource(extensionsGroup, plural)!;
      const { items } = await this.d.service.list(def, '', { labelSelector: `${extensionLabel}=${ctx.manifest.name}` });
      for (const o of items) if (!keep.has(`${plural}/${o.metadata.name}`)) await this.d.service.delete(def, '', o.metadata.name!).catch(ignoreNotFound);
    }
  }

  async removeRoutes(name: string) {
    for (const plural of routePlurals) await this.deleteLabelled(extensionsGroup, plural, name);
  }

  async deleteLabelled(group: string, plural: string, extension: string) {
    const def = this.d.kinds.byGroupResource(group, plural);
    if (!def) return;
    const { items } = await this.d.service.list(def, '', { labelSelector: `${extensionLabel}=${extension}` });
    for (const o of items) await this.d.service.delete(def, o.metadata.namespace ?? '', o.metadata.name!).catch(ignoreNotFound);
  }

  /** Creates or updates each object (as the core itself: no escalation checks). */
  async apply(objects: DesiredObject[]) {
    for (const { group, plural, object } of objects) {
      const def = this.d.kinds.byGroupResource(group, plural);
      if (!def) throw new InstallError(`the core does not serve ${plural}.${group}`);
      const ns = object.metadata.namespace ?? '';
      const existing = await this.d.service.getStored(def, ns, object.metadata.name!);
      if (!existing) {
        await this.d.service.create(def, ns, object, {});
        continue;
      }
      const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...wanted } = object;
      const { metadata: _m2, status: _s2, apiVersion: _a2, kind: _k2, ...have } = this.d.service.external(def, existing);
      const labelsSame = JSON.stringify(existing.metadata.labels ?? {}) === JSON.stringify({ ...(existing.metadata.labels ?? {}), ...(object.metadata.labels ?? {}) });
      if (JSON.stringify(wanted) === JSON.stringify(have) && labelsSame) continue;
      await this.d.service.update(def, ns, object.metadata.name!, {
        ...existing, ...wanted, metadata: { ...existing.metadata, labels: { ...(existing.metadata.labels ?? {}), ...(object.metadata.labels ?? {}) }, ownerReferences: object.metadata.ownerReferences },
      }, {});
    }
  }
}
