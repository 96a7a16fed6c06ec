import type { KindDefinition } from '../registry/kind.js';
import { validateCrdUpdate } from '../registry/crd.js';
import { defineKind } from './define-kind.js';
import { bool, conditions, freeform, list, obj, objectSchema, str, strings } from './fragments.js';

/** core/v1 Namespace, as Kubernetes defines it. */
export const namespaceKind = (): KindDefinition => ({
  ...defineKind({
    group: '', version: 'v1', kind: 'Namespace', status: true, shortNames: ['ns'], categories: [],
    schema: objectSchema({
      spec: obj({ finalizers: strings() }),
      status: obj({ phase: { type: 'string', enum: ['Active', 'Terminating'] }, conditions }),
    }),
    printerColumns: [
      { name: 'Status', type: 'string', jsonPath: '.status.phase' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
    strategy: {
      prepareForCreate(o) {
        o.spec = { finalizers: ['kubernetes'] };
        o.status = { phase: 'Active' };
      },
      prepareForUpdate(o, old) {
        // spec.finalizers changes only through /finalize.
        o.spec = structuredClone(old.spec);
      },
    },
  }),
  nameFormat: 'label',
});

const printerColumnSchema = obj({
  name: str(), type: str(), format: str(), description: str(), priority: { type: 'integer' }, jsonPath: str(),
}, ['name', 'type', 'jsonPath']);

/** apiextensions.k8s.io/v1 CustomResourceDefinition: kinds added at runtime. */
export const crdKind = (strategy?: KindDefinition['strategy']): KindDefinition => defineKind({
  group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', status: true,
  shortNames: ['crd', 'crds'], categories: ['api-extensions'], strategy: { validateUpdate: validateCrdUpdate, ...strategy },
  schema: objectSchema({
    spec: obj({
      group: str(),
      names: obj({
        plural: str(), singular: str(), kind: str(), listKind: str(), shortNames: strings(), categories: strings(),
      }, ['plural', 'kind']),
      scope: { type: 'string', enum: ['Namespaced', 'Cluster'] },
      versions: list(obj({
        name: str(), served: bool(), storage: bool(), deprecated: bool(), deprecationWarning: str(),
        schema: obj({ openAPIV3Schema: freeform() }),
        subresources: obj({ status: freeform(), scale: freeform() }),
        additionalPrinterColumns: list(printerColumnSchema),
        selectableFields: list(freeform()),
      }, ['name', 'served', 'storage'])),
      conversion: freeform(),
      preserveUnknownFields: bool(),
    }, ['group', 'names', 'scope', 'versions']),
    status: obj({
      conditions,
      acceptedNames: freeform(),
      storedVersions: strings(),
    }),
  }, ['spec']),
  printerColumns: [{ name: 'Created At', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
});
