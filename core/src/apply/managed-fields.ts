import { isPlainObject } from '../api/own-properties.js';
import { FieldSet, type FieldsV1 } from './field-set.js';

// metadata.managedFields: who owns which fields, one entry per manager, operation
// (Apply or Update), apiVersion (Update only: an applier is one manager at any version)
// and subresource, as kube-apiserver keys them.

export type Operation = 'Apply' | 'Update';

export interface ManagedFieldsEntry {
  manager: string;
  operation: Operation;
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: FieldsV1;
  subresource?: string;
}

export interface Manager {
  manager: string;
  operation: Operation;
  apiVersion: string;
  subresource: string;
  time?: string;
  fields: FieldSet;
}

/** Managers by identity. */
export type Managers = Map<string, Manager>;

export function identityOf(m: Pick<Manager, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  return JSON.stringify([m.manager, m.operation, m.operation === 'Apply' ? '' : m.apiVersion, m.subresource]);
}

const entryKeys = new Set(['manager', 'operation', 'apiVersion', 'time', 'fieldsType', 'fieldsV1', 'subresource']);

/** Reads managedFields (possibly a client's). Throws an Error naming the first problem. */
export function decodeManagedFields(value: unknown): Managers {
  const out: Managers = new Map();
  if (value === undefined || value === null) return out;
  if (!Array.isArray(value)) throw new Error('managedFields must be a list');
  value.forEach((e: unknown, i) => {
    const where = `managedFields[${i}]`;
    if (!isPlainObject(e)) throw new Error(`${where} must be an object`);
    for (const k of Object.keys(e)) if (!entryKeys.has(k)) throw new Error(`${where}.${k} is not a field of a managedFields entry`);
    const { manager = '', operation, apiVersion = '', time, fieldsType, fieldsV1, subresource = '' } = e;
    if (typeof manager !== 'string' || typeof apiVersion !== 'string' || typeof subresource !== 'string') throw new Error(`${where}: manager, apiVersion and subresource must be strings`);
    if (operation !== 'Apply' && operation !== 'Update') throw new Error(`${where}.operation must be Apply or Update`);
    if (time !== undefined && (typeof time !== 'string' || Number.isNaN(Date.parse(time)))) throw new Error(`${where}.time must be an RFC 3339 time`);
    if (fieldsV1 !== undefined && fieldsType !== 'FieldsV1') throw new Error(`${where}.fieldsType must be FieldsV1`);
    const m: Manager = { manager, operation, apiVersion, subresource, fields: FieldSet.fromFieldsV1(fieldsV1 ?? {}, `${where}.fieldsV1`), ...(time ? { time: time as string } : {}) };
    const id = identityOf(m);
    const same = out.get(id);
    out.set(id, same ? { ...same, fields: same.fields.union(m.fields) } : m);
  });
  return out;
}

/** The managedFields list, sorted as kube-apiserver sorts it; empty managers are left out. */
export function encodeManagedFields(managers: Managers): ManagedFieldsEntry[] {
  const entries = [...managers.values()].filter((m) => !m.fields.empty).map((m): ManagedFieldsEntry => ({
    manager: m.manager,
    operation: m.operation,
    apiVersion: m.apiVersion,
    ...(m.time ? { time: m.time } : {}),
    fieldsType: 'FieldsV1',
    fieldsV1: m.fields.toFieldsV1(),
    ...(m.subresource ? { subresource: m.subresource } : {}),
  }));
  const seconds = (t?: string) => (t ? Math.floor(Date.parse(t) / 1000) : 0);
  return entries.sort((p, q) => cmp(p.operation, q.operation) || seconds(p.time) - seconds(q.time)
    || cmp(p.manager, q.manager) || cmp(p.apiVersion, q.apiVersion) || cmp(p.subresource ?? '', q.subresource ?? ''));
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
