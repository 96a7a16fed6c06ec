import type { KindDefinition, PrinterColumn } from '../registry/kind.js';
import type { KubeObject } from '../store/resource-store.js';

// Server-side printing: kubectl asks for `as=Table` and prints what it gets.

export function wantsTable(accept: string | undefined): boolean {
  return !!accept && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

export function toTable(def: KindDefinition, items: KubeObject[], meta: { resourceVersion?: string; continue?: string }, includeObject: string | null) {
  const columns: PrinterColumn[] = def.printerColumns?.length
    ? def.printerColumns
    : [{ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }];
  const hasAge = columns.some((c) => c.name === 'Age' || c.name === 'Created At');
  const all: PrinterColumn[] = [{ name: 'Name', type: 'string', jsonPath: '.metadata.name', description: 'Name must be unique within a namespace.' }, ...columns];
  if (!hasAge && !def.printerColumns?.length) all.push({ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' });
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}), ...(meta.continue ? { continue: meta.continue } : {}) },
    columnDefinitions: all.map((c) => ({
      name: c.name, type: c.type, format: c.name === 'Name' ? 'name' : '',
      description: c.description ?? '', priority: c.priority ?? 0,
    })),
    rows: items.map((o) => ({
      cells: all.map((c) => cell(c, o)),
      object: includeObject === 'None'
        ? undefined
        : includeObject === 'Object'
          ? o
          : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}

function cell(c: PrinterColumn, o: KubeObject): unknown {
  const v = jsonPath(o, c.jsonPath);
  if (c.type === 'date') return typeof v === 'string' ? v : '<unknown>';
  if (v === undefined || v === null) return c.type === 'string' ? '' : null;
  if (typeof v === 'object') return JSON.stringify(v);
  return v;
}

/** The simple JSONPath subset printer columns use: `.a.b`, `.a[0].b`, `.a['x.y']`. */
export function jsonPath(obj: unknown, path: string): unknown {
  const tokens = path.replace(/^\{?\.?/, '').replace(/\}$/, '').match(/[^.[\]'"]+|\[\d+\]|\['[^']*'\]|\["[^"]*"\]/g) ?? [];
  let cur: unknown = obj;
  for (const raw of tokens) {
    if (cur === null || cur === undefined) return undefined;
    const t = raw.startsWith('[') ? raw.slice(1, -1).replace(/^['"]|['"]$/g, '') : raw;
    cur = (cur as Record<string, unknown>)[t];
  }
  return cur;
}
