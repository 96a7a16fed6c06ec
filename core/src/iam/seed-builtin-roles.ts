import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import { iamGroup } from '../schemas/iam.js';
import { builtinRoleTemplates, globalBindings, globalRoles, scopeLabel } from './builtin-roles.js';

export const builtinAnnotation = 'iam.mortise.io/builtin';

/**
 * Creates the built-in global roles and bindings that are missing; keeps built-in rules current.
 * The roles and the RoleTemplates together, then the bindings (which name the roles) together: the
 * store commits concurrent writes in one transaction, where one after the other each was its own.
 */
export async function seedBuiltinRoles(service: ResourceService, kinds: KindRegistry): Promise<void> {
  const roleDef = kinds.byGroupResource(iamGroup, 'globalroles')!;
  const bindingDef = kinds.byGroupResource(iamGroup, 'globalrolebindings')!;
  const roles = Promise.all(globalRoles.map(async (role) => {
    const existing = await service.getStored(roleDef, '', role.name);
    const body = {
      apiVersion: `${iamGroup}/v1alpha1`, kind: 'GlobalRole',
      metadata: { name: role.name, annotations: { [builtinAnnotation]: 'true', 'iam.mortise.io/display-name': role.displayName } },
      rules: role.rules,
      ...(role.aggregationRoleTemplates ? { aggregationRoleTemplates: role.aggregationRoleTemplates } : {}),
    };
    const aggregationChanged = JSON.stringify(existing?.aggregationRoleTemplates) !== JSON.stringify(role.aggregationRoleTemplates);
    if (!existing) await service.create(roleDef, '', body, {});
    else if (existing.metadata.annotations?.[builtinAnnotation] === 'true' && (JSON.stringify(existing.rules) !== JSON.stringify(role.rules) || aggregationChanged)) {
      const { aggregationRoleTemplates: _previous, ...rest } = existing;
      await service.update(roleDef, '', role.name, { ...rest, rules: role.rules, ...(role.aggregationRoleTemplates ? { aggregationRoleTemplates: role.aggregationRoleTemplates } : {}) }, {});
    }
  }));
  await Promise.all([roles, seedBuiltinRoleTemplates(service, kinds)]);
  await Promise.all(globalBindings.map(async (b) => {
    if (await service.getStored(bindingDef, '', b.name)) return;
    await service.create(bindingDef, '', {
      apiVersion: `${iamGroup}/v1alpha1`, kind: 'GlobalRoleBinding',
      metadata: { name: b.name, annotations: { [builtinAnnotation]: 'true' } },
      roleRef: { apiGroup: iamGroup, kind: 'GlobalRole', name: b.role },
      subjects: [{ kind: b.subject.kind, apiGroup: iamGroup, name: b.subject.name }],
    }, {});
  }));
}

/** The core's RoleTemplates (`core-<name>`, no extension label: the role editor's "Platform" group), kept current like the built-in roles. */
async function seedBuiltinRoleTemplates(service: ResourceService, kinds: KindRegistry): Promise<void> {
  const def = kinds.byGroupResource(iamGroup, 'roletemplates')!;
  await Promise.all(builtinRoleTemplates.map(async (t) => {
    const name = `core-${t.name}`;
    const spec = { displayName: t.displayName, description: t.description, ...(t.dependsOn ? { dependsOn: t.dependsOn.map((d) => `core-${d}`) } : {}), rules: t.rules };
    const existing = await service.getStored(def, '', name);
    const metadata = { name, labels: { [scopeLabel]: t.scope, 'iam.mortise.io/role-template': t.name }, annotations: { [builtinAnnotation]: 'true' } };
    if (!existing) await service.create(def, '', { apiVersion: `${iamGroup}/v1alpha1`, kind: 'RoleTemplate', metadata, spec }, {});
    else if (existing.metadata.annotations?.[builtinAnnotation] === 'true' && JSON.stringify(existing.spec) !== JSON.stringify(spec)) {
      await service.update(def, '', name, { ...existing, spec }, {});
    }
  }));
}
