import type { KindDefinition } from '../registry/kind.js';
import { scopedRoleStrategy } from '../iam/scoped-role-strategy.js';
import { defineKind } from './define-kind.js';
import {
  aggregationRoleTemplates, dateTime, list, localized, obj, objectSchema, policyRule, roleRef, str, strings, subject,
} from './fragments.js';

export const iamGroup = 'iam.mortise.io';
const v = 'v1alpha1';

const roleSchema = (what: string) => objectSchema({
  rules: list(policyRule, `What the ${what} allows`),
  aggregationRoleTemplates,
}, [], `A ${what}: a set of permissions`);

const bindingSchema = (what: string) => objectSchema({ roleRef, subjects: list(subject) }, ['roleRef'], `Grants a ${what} to users and groups`);

const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' } as const;

export const userKind = (strategy: KindDefinition['strategy']) => defineKind({
  group: iamGroup, version: v, kind: 'User', status: true, strategy,
  schema: objectSchema({
    spec: obj({
      email: { type: 'string', format: 'email' },
      displayName: str(),
      description: str(),
      lang: str('Preferred language tag, e.g. en or zh'),
      password: { type: 'string', description: 'Write-only: stored as a salted slow hash and never returned', minLength: 8, maxLength: 1024 },
      groups: strings('Groups the user belongs to (local groups)'),
    }),
    status: obj({
      state: { type: 'string', enum: ['Active', 'Disabled', 'AuthLimitExceeded'] },
      reason: str(),
      lastTransitionTime: dateTime(),
      lastLoginTime: dateTime(),
    }),
  }, [], 'A person who can log in'),
  printerColumns: [
    { name: 'Email', type: 'string', jsonPath: '.spec.email' },
    { name: 'State', type: 'string', jsonPath: '.status.state' },
    age,
  ],
});

export const iamKinds = (userStrategy?: KindDefinition['strategy']): KindDefinition[] => [
  userKind(userStrategy),
  defineKind({
    group: iamGroup, version: v, kind: 'Group',
    schema: objectSchema({ spec: obj({ displayName: localized(), description: str() }) }, [], 'A set of users'),
  }),
  defineKind({
    group: iamGroup, version: v, kind: 'GroupBinding',
    schema: objectSchema({ groupRef: obj({ apiGroup: str(), kind: str(), name: str() }, ['name']), users: strings() }, ['groupRef'], 'Puts users in a group'),
  }),
  defineKind({ group: iamGroup, version: v, kind: 'GlobalRole', schema: roleSchema('platform-wide role') }),
  defineKind({ group: iamGroup, version: v, kind: 'GlobalRoleBinding', schema: bindingSchema('GlobalRole'), printerColumns: [{ name: 'Role', type: 'string', jsonPath: '.roleRef.name' }, age] }),
  defineKind({ group: iamGroup, version: v, kind: 'WorkspaceRole', schema: roleSchema('workspace role'), strategy: scopedRoleStrategy('workspace') }),
  defineKind({ group: iamGroup, version: v, kind: 'WorkspaceRoleBinding', schema: bindingSchema('WorkspaceRole'), printerColumns: [{ name: 'Role', type: 'string', jsonPath: '.roleRef.name' }, age] }),
  defineKind({ group: iamGroup, version: v, kind: 'Role', namespaced: true, schema: roleSchema('namespace role'), strategy: scopedRoleStrategy('namespaced') }),
  defineKind({ group: iamGroup, version: v, kind: 'RoleBinding', namespaced: true, schema: bindingSchema('Role'), printerColumns: [{ name: 'Role', type: 'string', jsonPath: '.roleRef.name' }, age] }),
  defineKind({
    group: iamGroup, version: v, kind: 'ServiceAccount', namespaced: true,
    schema: objectSchema({ spec: obj({ displayName: str(), description: str() }) }, [],
      'A non-human subject of a namespace (system:serviceaccount:<namespace>:<name>); tokens for it are issued through its tokens subresource'),
    printerColumns: [age],
  }),
  defineKind({
    group: iamGroup, version: v, kind: 'RoleTemplate',
    schema: objectSchema({
      spec: obj({
        displayName: localized(), description: localized(),
        dependsOn: strings('RoleTemplates this one needs to be useful (e.g. "run" needs "view"): the role editor selects them with it'),
        rules: list(policyRule),
      }, ['rules']),
    }, ['spec'], 'A named set of rules that roles aggregate (extensions contribute these)'),
    // The role editor's view: which extension brought it, for which roles, what it is.
    printerColumns: [
      { name: 'Extension', type: 'string', jsonPath: ".metadata.labels['extensions.mortise.io/extension']" },
      { name: 'Scope', type: 'string', jsonPath: ".metadata.labels['iam.mortise.io/scope']" },
      { name: 'Display Name', type: 'string', jsonPath: '.spec.displayName' },
      age,
    ],
  }),
];
