/**
 * The stored JSON of objects and whole collections read lately, so that a GET or a LIST repeated
 * between writes is answered without SQLite. Only a store that makes every write to its file
 * itself (the single writer) may keep one: it forgets an object and its collections in the same
 * tick as it commits a write to them, before anything else can read. Bounded by the characters it
 * holds; the oldest entries go first.
 */
export class StoredJsonCache {
  private readonly entries = new Map<string, { value: string | string[]; size: number }>();
  private size = 0;

  constructor(private readonly maxChars: number) {}

  getObject(resource: string, namespace: string, name: string): string | undefined {
    return this.entries.get(objectKey(resource, namespace, name))?.value as string | undefined;
  }

  setObject(resource: string, namespace: string, name: string, json: string): void {
    this.put(objectKey(resource, namespace, name), json, json.length);
  }

  /** The rows of a whole collection (`namespace` undefined: every namespace). Read-only. */
  getList(resource: string, namespace: string | undefined): string[] | undefined {
    const value = this.entries.get(listKey(resource, namespace))?.value;
    return value === tooBig ? undefined : (value as string[] | undefined);
  }

  /**
   * Whether a collection was last read too big to keep (until a write to it): a caller that only
   * wants it from memory need not read it again to find out.
   */
  isTooBig(resource: string, namespace: string | undefined): boolean {
    return this.entries.get(listKey(resource, namespace))?.value === tooBig;
  }

  /** Keeps a collection's rows; when they are too big to keep, that is remembered until a write to it. */
  setList(resource: string, namespace: string | undefined, rows: string[]): void {
    let size = 0;
    for (const r of rows) size += r.length;
    const key = listKey(resource, namespace);
    if (!this.put(key, rows, size + rows.length)) this.put(key, tooBig, 0);
  }

  /** A write to one object: it, its namespace's collection and the all-namespaces one are stale. */
  forget(resource: string, namespace: string, name: string): void {
    this.drop(objectKey(resource, namespace, name));
    this.drop(listKey(resource, namespace));
    this.drop(listKey(resource, undefined));
  }

  private put(key: string, value: string | string[], size: number): boolean {
    this.drop(key);
    if (size > this.maxChars / 4) return false;
    this.entries.set(key, { value, size });
    this.size += size;
    for (const [k, e] of this.entries) {
      if (this.size <= this.maxChars) break;
      this.entries.delete(k);
      this.size -= e.size;
    }
    return true;
  }

  private drop(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.size -= e.size;
  }
}

/** What a collection too big to keep is remembered as (it costs nothing against the bound). */
const tooBig: string[] = [];

// A stored object's namespace and name never hold a NUL (names are validated), so keys of
// what is cached cannot collide.
const objectKey = (resource: string, namespace: string, name: string) => `o\0${resource}\0${namespace}\0${name}`;
const listKey = (resource: string, namespace: string | undefined) => (namespace === undefined ? `a\0${resource}` : `l\0${resource}\0${namespace}`);
