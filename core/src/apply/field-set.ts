import { isPlainObject } from '../api/own-properties.js';

// A set of field paths, the way structured-merge-diff keeps ownership: a trie whose edges are
// path elements in their FieldsV1 spelling. `f:<name>` is a field of a map, `k:<json>` an item
// of a list keyed by its key fields, `v:<json>` an item of a set, `i:<n>` an item by position.
// A path is in the set when its last element is a member at its level; an element can be a
// member and have children too (FieldsV1 writes that as `".": {}` beside the children).

export type PathElement = string;
export type FieldPath = readonly PathElement[];

/** FieldsV1: the JSON form of a FieldSet stored in `metadata.managedFields[].fieldsV1`. */
export type FieldsV1 = { [key: string]: FieldsV1 };

export class FieldSet {
  private readonly members = new Set<PathElement>();
  private readonly children = new Map<PathElement, FieldSet>();

  static of(paths: Iterable<FieldPath>): FieldSet {
    const s = new FieldSet();
    for (const p of paths) s.insert(p);
    return s;
  }

  insert(path: FieldPath): void {
    if (path.length === 0) return;
    let node: FieldSet = this;
    for (let i = 0; i < path.length - 1; i++) node = node.child(path[i]!);
    node.members.add(path[path.length - 1]!);
  }

  has(path: FieldPath): boolean {
    const node = this.at(path.slice(0, -1));
    return node !== undefined && path.length > 0 && node.members.has(path[path.length - 1]!);
  }

  /** Whether `path` itself or anything below it is in the set. */
  hasAtOrUnder(path: FieldPath): boolean {
    if (path.length === 0) return !this.empty;
    const parent = this.at(path.slice(0, -1));
    if (!parent) return false;
    const last = path[path.length - 1]!;
    const below = parent.children.get(last);
    return parent.members.has(last) || (below !== undefined && !below.empty);
  }

  get empty(): boolean {
    if (this.members.size) return false;
    for (const c of this.children.values()) if (!c.empty) return false;
    return true;
  }

  union(other: FieldSet): FieldSet {
    const out = this.copy();
    out.addAll(other);
    return out;
  }

  /** Members of this set that are not members of `other` (a member of `other` keeps our children below it). */
  difference(other: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) if (!other.members.has(m)) out.members.add(m);
    for (const [pe, c] of this.children) {
      const o = other.children.get(pe);
      const d = o ? c.difference(o) : c.copy();
      if (!d.empty) out.children.set(pe, d);
    }
    return out;
  }

  intersection(other: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) if (other.members.has(m)) out.members.add(m);
    for (const [pe, c] of this.children) {
      const o = other.children.get(pe);
      if (!o) continue;
      const i = c.intersection(o);
      if (!i.empty) out.children.set(pe, i);
    }
    return out;
  }

  /** This set without the members `members` (what is below them stays) and without `subtrees` entirely. */
  without(members: readonly FieldPath[], subtrees: readonly FieldPath[] = []): FieldSet {
    const out = this.copy();
    for (const path of [...members, ...subtrees]) {
      const parent = out.at(path.slice(0, -1));
      if (!parent || path.length === 0) continue;
      parent.members.delete(path[path.length - 1]!);
      if (subtrees.includes(path)) parent.children.delete(path[path.length - 1]!);
    }
    return out;
  }

  /** Only `path` and what is below it. */
  onlySubtree(path: FieldPath): FieldSet {
    const out = new FieldSet();
    for (const p of this.paths()) if (p.length >= path.length && path.every((pe, i) => p[i] === pe)) out.insert(p);
    return out;
  }

  equals(other: FieldSet): boolean {
    if (this.empty || other.empty) return this.empty && other.empty;
    if (this.members.size !== other.members.size) return false;
    for (const m of this.members) if (!other.members.has(m)) return false;
    const mine = [...this.children].filter(([, c]) => !c.empty);
    const theirs = [...other.children].filter(([, c]) => !c.empty);
    return mine.length === theirs.length && mine.every(([pe, c]) => other.children.get(pe)?.equals(c) === true);
  }

  /** Every member path, in FieldsV1 order. */
  *paths(prefix: PathElement[] = []): Generator<PathElement[]> {
    for (const pe of sortedElements(new Set([...this.members, ...this.children.keys()]))) {
      if (this.members.has(pe)) yield [...prefix, pe];
      const c = this.children.get(pe);
      if (c) yield* c.paths([...prefix, pe]);
    }
  }

  toFieldsV1(): FieldsV1 {
    const out: FieldsV1 = {};
    for (const pe of sortedElements(new Set([...this.members, ...this.children.keys()]))) {
      const c = this.children.get(pe);
      const inner = c && !c.empty ? c.toFieldsV1() : {};
      // Keys are never `__proto__`: every path element starts with its kind ("f:", "k:", ...).
      if (this.members.has(pe) && c && !c.empty) out[pe] = { '.': {}, ...inner };
      else if (this.members.has(pe) || (c && !c.empty)) out[pe] = inner;
    }
    return out;
  }

  /** Reads FieldsV1 (a client's data: every key is checked). Throws an Error saying what is wrong. */
  static fromFieldsV1(value: unknown, where = ''): FieldSet {
    const out = new FieldSet();
    if (!isPlainObject(value)) throw new Error(`${where || 'fieldsV1'} must be an object`);
    for (const [key, inner] of Object.entries(value)) {
      if (key === '.') continue;
      checkPathElement(key);
      if (!isPlainObject(inner)) throw new Error(`the value of ${JSON.stringify(key)} must be an object`);
      const keys = Object.keys(inner);
      if (keys.length === 0 || Object.hasOwn(inner, '.')) out.members.add(key);
      if (keys.some((k) => k !== '.')) out.children.set(key, FieldSet.fromFieldsV1(inner, key));
    }
    return out;
  }

  private child(pe: PathElement): FieldSet {
    let c = this.children.get(pe);
    if (!c) {
      c = new FieldSet();
      this.children.set(pe, c);
    }
    return c;
  }

  private at(path: FieldPath): FieldSet | undefined {
    let node: FieldSet | undefined = this;
    for (const pe of path) {
      node = node.children.get(pe);
      if (!node) return undefined;
    }
    return node;
  }

  private copy(): FieldSet {
    const out = new FieldSet();
    out.addAll(this);
    return out;
  }

  private addAll(other: FieldSet): void {
    for (const m of other.members) this.members.add(m);
    for (const [pe, c] of other.children) this.child(pe).addAll(c);
  }
}

const kindOrder: Record<string, number> = { f: 0, k: 1, v: 2, i: 3 };

/** Fields by name, then keyed items, set values and indexes (structured-merge-diff's order). */
function sortedElements(pes: Set<PathElement>): PathElement[] {
  return [...pes].sort((a, b) => {
    const ka = kindOrder[a[0]!] ?? 9;
    const kb = kindOrder[b[0]!] ?? 9;
    if (ka !== kb) return ka - kb;
    if (a[0] === 'i') return Number(a.slice(2)) - Number(b.slice(2));
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

function checkPathElement(pe: string): void {
  const kind = pe.slice(0, 2);
  if (kind === 'f:') return;
  if (kind === 'i:') {
    if (!/^i:(0|[1-9]\d*)$/.test(pe)) throw new Error(`${JSON.stringify(pe)} is not a list index`);
    return;
  }
  if (kind === 'k:' || kind === 'v:') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(pe.slice(2));
    } catch {
      throw new Error(`${JSON.stringify(pe)} does not hold JSON after "${kind}"`);
    }
    if (kind === 'k:' && !isPlainObject(parsed)) throw new Error(`${JSON.stringify(pe)} must hold a JSON object of key fields`);
    return;
  }
  throw new Error(`${JSON.stringify(pe)} is not a path element (f:, k:, v: or i:)`);
}

// Go's encoding/json escapes these; so does structured-merge-diff, so keys compare equal.
const goEscapes: Record<string, string> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };
export const goJson = (v: unknown): string => JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => goEscapes[c]!);

export const fieldElement = (name: string): PathElement => `f:${name}`;
export const indexElement = (i: number): PathElement => `i:${i}`;
export const valueElement = (v: unknown): PathElement => `v:${goJson(v)}`;

/** `k:{...}` with the key fields sorted by name, as structured-merge-diff writes them. */
export function keyElement(keys: Array<[string, unknown]>): PathElement {
  const sorted = [...keys].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `k:{${sorted.map(([k, v]) => `${goJson(k)}:${goJson(v)}`).join(',')}}`;
}

/** A path as kube-apiserver prints it in a conflict: `.spec.containers[name="web"].image`. */
export function pathText(path: FieldPath): string {
  return path.map((pe) => {
    const body = pe.slice(2);
    switch (pe[0]) {
      case 'f': return `.${body}`;
      case 'i': return `[${body}]`;
      case 'v': return `[=${scalarText(JSON.parse(body))}]`;
      default: {
        const keys = JSON.parse(body) as Record<string, unknown>;
        return `[${Object.entries(keys).map(([k, v]) => `${k}=${scalarText(v)}`).join(',')}]`;
      }
    }
  }).join('');
}

const scalarText = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : isPlainObject(v) || Array.isArray(v) ? JSON.stringify(v) : String(v));
