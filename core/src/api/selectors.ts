import type { KubeObject } from '../store/resource-store.js';
import { validateLabelValue, validateQualifiedName } from '../registry/names.js';
import { ownValue } from './own-properties.js';
import { badRequest } from './status.js';

// Label selectors as kubectl and client-go write them:
//   a=b, a==b, a!=b, a in (x,y), a notin (x), a, !a — comma-separated, all must hold.
type Requirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!exists' };

export type LabelSelector = Requirement[];

export function parseLabelSelector(text: string | null | undefined): LabelSelector {
  if (!text || !text.trim()) return [];
  const reqs: Requirement[] = [];
  for (const term of splitTerms(text)) {
    const t = term.trim();
    if (!t) continue;
    let m: RegExpExecArray | null;
    if ((m = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(t))) {
      reqs.push({ key: m[1]!, op: m[2] as 'in' | 'notin', values: m[3]!.split(',').map((v) => v.trim()).filter((v) => v !== '') });
    } else if ((m = /^([^\s!=]+)\s*(==|=|!=)\s*([^\s,]*)$/.exec(t))) {
      reqs.push({ key: m[1]!, op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]!] });
    } else if ((m = /^!\s*([^\s!=]+)$/.exec(t))) {
      reqs.push({ key: m[1]!, op: '!exists' });
    } else if ((m = /^([^\s!=(),]+)$/.exec(t))) {
      reqs.push({ key: m[1]!, op: 'exists' });
    } else {
      throw badRequest(`unable to parse requirement: "${t}": expected key, !key, key=value, key!=value, key in (v1,v2) or key notin (v1,v2)`);
    }
    // As apimachinery's parser: keys and values must be ones a label could have.
    const r = reqs[reqs.length - 1]!;
    const keyErrs = validateQualifiedName(r.key);
    if (keyErrs.length) throw badRequest(`unable to parse requirement: "${t}": invalid label key "${r.key}": ${keyErrs.join('; ')}`);
    if ('values' in r) {
      if (r.values.length === 0) throw badRequest(`unable to parse requirement: "${t}": for 'in', 'notin' operators, values set can't be empty`);
      for (const v of r.values) {
        const errs = validateLabelValue(v);
        if (errs.length) throw badRequest(`unable to parse requirement: "${t}": invalid label value "${v}": ${errs.join('; ')}`);
      }
    }
  }
  return reqs;
}

/** Splits on commas that are not inside parentheses. */
function splitTerms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export function matchesLabels(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  for (const r of selector) {
    const has = labels !== undefined && Object.hasOwn(labels, r.key);
    const v = has ? labels![r.key] : undefined;
    switch (r.op) {
      case 'exists': if (!has) return false; break;
      case '!exists': if (has) return false; break;
      case 'in': if (!has || !r.values.includes(v!)) return false; break;
      case 'notin': if (has && r.values.includes(v!)) return false; break;
    }
  }
  return true;
}

type FieldRequirement = { field: string; value: string; equal: boolean };
export type FieldSelector = FieldRequirement[];

// A Map: the field name is the client's, and must not find `constructor` on an object.
const fieldGetters = new Map<string, (o: KubeObject) => string>([
  ['metadata.name', (o) => o.metadata.name ?? ''],
  ['metadata.namespace', (o) => o.metadata.namespace ?? ''],
]);

export function parseFieldSelector(text: string | null | undefined, extraFields: string[] = []): FieldSelector {
  if (!text || !text.trim()) return [];
  const reqs: FieldRequirement[] = [];
  for (const term of text.split(',')) {
    const t = term.trim();
    if (!t) continue;
    const m = /^([^\s!=]+)\s*(==|=|!=)\s*(.*)$/.exec(t);
    if (!m) throw badRequest(`invalid field selector "${t}": expected field=value or field!=value`);
    const field = m[1]!;
    if (!fieldGetters.has(field) && !extraFields.includes(field)) {
      throw badRequest(`field label not supported: ${field} (supported: ${[...fieldGetters.keys(), ...extraFields].join(', ')})`);
    }
    reqs.push({ field, value: m[3]!.trim(), equal: m[2] !== '!=' });
  }
  return reqs;
}

export function matchesFields(selector: FieldSelector, obj: KubeObject): boolean {
  for (const r of selector) {
    const getter = fieldGetters.get(r.field);
    const actual = getter ? getter(obj) : String(getPath(obj, r.field) ?? '');
    if ((actual === r.value) !== r.equal) return false;
  }
  return true;
}

function getPath(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const p of path.split('.')) {
    cur = ownValue(cur, p);
  }
  return cur;
}

/**
 * A parsed field selector as the Kubernetes API's text, values escaped as apimachinery's
 * `fields.EscapeValue` does, so a cluster selects exactly what the core understood.
 */
export function formatFieldSelector(selector: FieldSelector): string {
  return selector.map((r) => `${r.field}${r.equal ? '=' : '!='}${r.value.replace(/[\\,=]/g, (c) => `\\${c}`)}`).join(',');
}
