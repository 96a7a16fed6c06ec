// What the write and TLS benchmarks create: a CRD of Widgets (an integer, an enum and a string)
// in the namespace "bench" of a core started as its own process.

export const password = 'bench-admin-password';
const group = 'bench.mortise.io';
export const widgets = `/apis/${group}/v1/namespaces/bench/widgets`;

export const crd = {
  apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
  metadata: { name: `widgets.${group}` },
  spec: {
    group, scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [{
      name: 'v1', served: true, storage: true,
      schema: {
        openAPIV3Schema: {
          type: 'object',
          properties: {
            spec: { type: 'object', properties: { size: { type: 'integer', minimum: 0 }, color: { type: 'string', enum: ['red', 'green', 'blue'] }, owner: { type: 'string' } } },
          },
        },
      },
    }],
  },
};

export const widget = (name: string) => ({ apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name }, spec: { size: 3, color: 'green', owner: 'the benchmark' } });
