import type { ExtensionManifest, RoleTemplateSpec } from '@mortise/extension-sdk/manifest';
import { scopeLabel } from '../iam/builtin-roles.js';
import { covers, type PolicyRule } from '../iam/policy-rule.js';
import { extensionLabel } from '../schemas/extensions.js';
import { iamGroup } from '../schemas/iam.js';
import type { KubeObject, OwnerReference } from '../store/resource-store.js';
import type { DesiredObject } from './extension-resources.js';
import { InstallError } from './install-error.js';

// The RoleTemplates an extension brings (manifest `roleTemplates`): named rule sets admins
// aggregate into their roles. A template may grant only what is the extension's own — the
// resources of its CRDs, anything in its APIServices' groups — or what its `permissions`
// already declare (which the administrator saw at install); anything else refuses the install.

/** Label of every RoleTemplate an extension brings: the template's short name. */
export const roleTemplateLabel = 'iam.mortise.io/role-template';

/** What an extension owns in the API. */
export interface OwnedApi {
  /** Groups served by the extension's APIServices: every resource in them is its own. */
  groups: Set<string>;
  /** `group/plural` of its CRDs. */
  resources: Set<string>;
}

export function ownedApi(manifest: ExtensionManifest, crds: KubeObject[]): OwnedApi {
  const resources = new Set<string>();
  for (const crd of crds) {
    const spec = crd.spec as { group?: string; names?: { plural?: string } } | undefined;
    if (spec?.group && spec.names?.plural) resources.add(`${spec.group}/${spec.names.plural}`);
  }
  return { groups: new Set((manifest.apiServices ?? []).map((a) => a.group)), resources };
}

/** The RoleTemplate objects, or an InstallError naming the first rule that grants what is not the extension's. */
export function roleTemplateObjects(manifest: ExtensionManifest, owner: OwnerReference, owned: OwnedApi): DesiredObject[] {
  return (manifest.roleTemplates ?? []).map((t, i) => {
    t.rules.forEach((rule, j) => {
      const foreign = foreignPieces(rule, owned);
      if (foreign.length && !covers(manifest.permissions ?? [], foreign).ok) {
        throw new InstallError(`roleTemplates[${i}] (${t.name}) rules[${j}] grants ${describe(foreign)}, which is neither the extension's own API (its CRDs' resources, its APIServices' groups) nor declared in its permissions`);
      }
    });
    return { group: iamGroup, plural: 'roletemplates', object: templateObject(manifest.name, t, owner) };
  });
}

function templateObject(extension: string, t: RoleTemplateSpec, owner: OwnerReference): KubeObject {
  return {
    apiVersion: `${iamGroup}/v1alpha1`, kind: 'RoleTemplate',
    metadata: {
      name: `${extension}-${t.name}`, ownerReferences: [owner],
      labels: { [extensionLabel]: extension, [scopeLabel]: t.scope ?? 'namespace', [roleTemplateLabel]: t.name },
    },
    spec: {
      displayName: t.displayName, ...(t.description ? { description: t.description } : {}),
      ...(t.dependsOn?.length ? { dependsOn: t.dependsOn.map((d) => `${extension}-${d}`) } : {}),
      rules: t.rules,
    },
  };
}

/** The parts of a rule outside the extension's own API, as rules of one group each. */
function foreignPieces(rule: PolicyRule, owned: OwnedApi): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const group of rule.apiGroups ?? []) {
    if (owned.groups.has(group)) continue;
    const resources = (rule.resources ?? []).filter((r) => !owned.resources.has(`${group}/${r.split('/')[0]}`) || r.startsWith('*'));
    if (resources.length) out.push({ ...rule, apiGroups: [group], resources });
  }
  return out;
}

function describe(rules: PolicyRule[]): string {
  return rules.map((r) => `${r.verbs.join(',')} on ${r.resources!.join(',')} in group "${r.apiGroups![0]}"`).join('; ');
}
