import type { KindDefinition, PrinterColumn } from '../registry/kind.js';
import type { KubeObject } from '../store/resource-store.js';
import { ownValue } from './own-properties.js';

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
  if (c.type === 'date') return typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? humanDuration(Date.now() - Date.parse(v)) : '<unknown>';
  if (v === undefined || v === null) return c.type === 'string' ? '' : null;
  if (typeof v === 'object') return JSON.stringify(v);
  return v;
}

/** The simple JSONPath subset printer columns use: `.a.b`, `.a[0].b`, `.a['x.y']`. */
export function jsonPath(obj: unknown, path: string): unknown {
  const tokens = path.replace(/^\{?\.?/, '').replace(/\}$/, '').match(/[^.[\]'"]+|\[\d+\]|\['[^']*'\]|\["[^"]*"\]/g) ?? [];
  let cur: unknown = obj;
  for (const raw of tokens) {
    const t = raw.startsWith('[') ? raw.slice(1, -1).replace(/^['"]|['"]$/g, '') : raw;
    cur = ownValue(cur, t);
  }
  return cur;
}

/** Ages as kubectl users know them: 45s, 3m20s, 5h, 12d, 2y30d. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${Math.floor(days / 365)}y` : `${Math.floor(days / 365)}y${days % 365}d`;
  return `${Math.floor(days / 365)}y`;
}
