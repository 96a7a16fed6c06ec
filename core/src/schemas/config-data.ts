import type { StatusCause } from '../api/status.js';
import type { KindDefinition } from '../registry/kind.js';
import type { KubeObject } from '../store/resource-store.js';
import { defineKind } from './define-kind.js';
import { bool, objectSchema, str, stringMap } from './fragments.js';

// core/v1 Secret and ConfigMap, as Kubernetes defines them: configuration and credentials any
// extension may read with the permissions its manifest declares.

const keyPattern = /^[-._a-zA-Z0-9]+$/;
const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Kubernetes' limit on a Secret's or ConfigMap's total data. */
const maxDataBytes = 1024 * 1024;

type Data = Record<string, unknown>;
const mapOf = (v: unknown): Data | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Data) : undefined);

/** Checks keys, base64 values (never echoing a value: it may be a credential) and the total size. */
function checkData(field: string, data: Data | undefined, base64: boolean): { causes: StatusCause[]; bytes: number } {
  const causes: StatusCause[] = [];
  let bytes = 0;
  for (const [k, v] of Object.entries(data ?? {})) {
    if (!keyPattern.test(k) || k === '.' || k === '..') {
      causes.push({ reason: 'FieldValueInvalid', field: `${field}[${k}]`, message: `a key must consist of alphanumeric characters, '-', '_' or '.'` });
    }
    if (typeof v !== 'string') continue; // the schema reports it
    if (base64 && !base64Pattern.test(v)) {
      causes.push({ reason: 'FieldValueInvalid', field: `${field}[${k}]`, message: 'must be base64 encoded (the value is not shown)' });
    }
    bytes += base64 ? Math.floor((v.length * 3) / 4) : Buffer.byteLength(v);
  }
  return { causes, bytes };
}

function sizeCause(bytes: number, field: string): StatusCause[] {
  return bytes > maxDataBytes ? [{ reason: 'FieldValueTooLong', field, message: `the data must be at most ${maxDataBytes} bytes, it is ${bytes}` }] : [];
}

function immutableCauses(obj: KubeObject, old: KubeObject, fields: string[]): StatusCause[] {
  const causes: StatusCause[] = [];
  if (old.immutable === true && obj.immutable !== true) causes.push({ reason: 'FieldValueForbidden', field: 'immutable', message: 'field is immutable when `immutable` is set' });
  if (old.immutable === true) {
    for (const f of fields) {
      if (JSON.stringify(obj[f] ?? {}) !== JSON.stringify(old[f] ?? {})) causes.push({ reason: 'FieldValueForbidden', field: f, message: 'field is immutable when `immutable` is set' });
    }
  }
  return causes;
}

/** `stringData` is write-only: folded into `data` (base64), as the Kubernetes API server does. */
function foldStringData(o: KubeObject) {
  const stringData = mapOf(o.stringData);
  if (stringData) {
    const data = mapOf(o.data) ?? {};
    for (const [k, v] of Object.entries(stringData)) if (typeof v === 'string') data[k] = Buffer.from(v, 'utf8').toString('base64');
    o.data = data;
  }
  delete o.stringData;
  if (o.type === undefined || o.type === '') o.type = 'Opaque';
}

export const secretKind = (): KindDefinition => ({
  ...defineKind({
    group: '', version: 'v1', kind: 'Secret', namespaced: true, categories: [],
    schema: objectSchema({
      type: str('Used to facilitate programmatic handling of secret data (default Opaque)'),
      data: stringMap('Secret values, base64 encoded; stored encrypted'),
      stringData: stringMap('Write-only convenience: plain values merged into data on write'),
      immutable: bool('When true, data and type cannot be changed'),
    }),
    printerColumns: [
      { name: 'Type', type: 'string', jsonPath: '.type' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
    strategy: {
      prepareForCreate: foldStringData,
      prepareForUpdate: foldStringData,
      validate(o) {
        const { causes, bytes } = checkData('data', mapOf(o.data), true);
        return [...causes, ...sizeCause(bytes, 'data')];
      },
      validateUpdate(o, old) {
        const causes = immutableCauses(o, old, ['data']);
        if (o.type !== old.type) causes.push({ reason: 'FieldValueInvalid', field: 'type', message: 'field is immutable' });
        return causes;
      },
    },
  }),
});

export const configMapKind = (): KindDefinition => ({
  ...defineKind({
    group: '', version: 'v1', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'], categories: [],
    schema: objectSchema({
      data: stringMap('Configuration data, UTF-8 text'),
      binaryData: stringMap('Binary configuration data, base64 encoded'),
      immutable: bool('When true, data and binaryData cannot be changed'),
    }),
    printerColumns: [{ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
    strategy: {
      validate(o) {
        const text = checkData('data', mapOf(o.data), false);
        const binary = checkData('binaryData', mapOf(o.binaryData), true);
        const causes = [...text.causes, ...binary.causes, ...sizeCause(text.bytes + binary.bytes, 'data')];
        for (const k of Object.keys(mapOf(o.binaryData) ?? {})) {
          if (k in (mapOf(o.data) ?? {})) causes.push({ reason: 'FieldValueInvalid', field: `binaryData[${k}]`, message: 'the key is also in data' });
        }
        return causes;
      },
      validateUpdate: (o, old) => immutableCauses(o, old, ['data', 'binaryData']),
    },
  }),
});
