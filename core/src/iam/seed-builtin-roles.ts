import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import { iamGroup } from '../schemas/iam.js';
import { globalBindings, globalRoles } from './builtin-roles.js';

export const builtinAnnotation = 'iam.mortise.io/builtin';

/** Creates the built-in global roles and bindings that are missing; keeps built-in rules current. */
export async function seedBuiltinRoles(service: ResourceService, kinds: KindRegistry): Promise<void> {
  const roleDef = kinds.byGroupResource(iamGroup, 'globalroles')!;
  const bindingDef = kinds.byGroupResource(iamGroup, 'globalrolebindings')!;
  for (const role of globalRoles) {
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
  }
  for (const b of globalBindings) {
    if (await service.getStored(bindingDef, '', b.name)) continue;
    await service.create(bindingDef, '', {
      apiVersion: `${iamGroup}/v1alpha1`, kind: 'GlobalRoleBinding',
      metadata: { name: b.name, annotations: { [builtinAnnotation]: 'true' } },
      roleRef: { apiGroup: iamGroup, kind: 'GlobalRole', name: b.role },
      subjects: [{ kind: b.subject.kind, apiGroup: iamGroup, name: b.subject.name }],
    }, {});
  }
}
