import type { KindDefinition } from '../registry/kind.js';
import { defineKind } from './define-kind.js';
import { conditions, int, localized, obj, objectSchema, str, stringMap } from './fragments.js';

export const tenantGroup = 'tenant.mortise.io';
export const workspaceLabel = 'tenant.mortise.io/workspace';

export const tenantKinds = (workspaceStrategy?: KindDefinition['strategy']): KindDefinition[] => [
  defineKind({
    group: tenantGroup, version: 'v1alpha1', kind: 'Workspace', status: true, shortNames: ['ws'], strategy: workspaceStrategy,
    schema: objectSchema({
      spec: obj({
        manager: str('The user who manages the workspace'),
        displayName: localized(),
        description: str(),
        quota: obj({ hard: stringMap('Upper bounds, e.g. {"namespaces": "10"}') }),
      }),
      status: obj({
        phase: str(),
        conditions,
        used: stringMap(),
        namespaces: int(),
      }),
    }, [], 'A tenant: a group of namespaces and members'),
    printerColumns: [
      { name: 'Manager', type: 'string', jsonPath: '.spec.manager' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  }),
];
